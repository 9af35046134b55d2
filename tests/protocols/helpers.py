"""Shared helpers: fixture frames by file and line number."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def frames(name: str) -> list[bytes]:
    """All lines of ``tests/fixtures/<name>.jsonl`` as bytes (line N is index N - 1)."""
    return (FIXTURES / f"{name}.jsonl").read_bytes().splitlines()
