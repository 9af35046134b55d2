"""``arbtree decode`` end to end, through ``arbtree.cli.main``."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from arbtree.cli import main
from arbtree.commands.decode import decode_stream

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, Any]]]:
    code = main(["decode", *argv])
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines()]


def test_polymarket_book_mode(capsys: pytest.CaptureFixture[str]) -> None:
    code, records = run(capsys, "polymarket", str(FIXTURES / "polymarket_market.jsonl"), "--book")
    assert code == 1  # one deliberately truncated frame
    errors = [r for r in records if r.get("error")]
    assert [(e["line"], e["venue"]) for e in errors] == [(11, "polymarket")]
    tops = {(r["line"], r["book"][-4:]): r for r in records if "book" in r}
    assert tops[(6, "8151")]["hash_ok"] is True
    assert (tops[(8, "8151")]["bid"], tops[(8, "8151")]["bid_size"]) == ("0.34", "200")
    assert tops[(8, "6455")]["ask"] == "0.66"
    assert tops[(8, "6455")]["hash_ok"] is True
    assert tops[(1, "8151")]["hash_ok"] is None  # legacy book: not judged
    assert tops[(12, "6455")]["hash_ok"] is False
    assert tops[(12, "6455")]["stale"] == "hash mismatch"
    types = [r["type"] for r in records if r["line"] == 9 and "type" in r]
    assert types == ["BookDelta", "VenueQuote"]  # unknown market_resolved skipped


def test_kalshi_gap_marks_book_stale(capsys: pytest.CaptureFixture[str]) -> None:
    code, records = run(capsys, "kalshi", str(FIXTURES / "kalshi_ws.jsonl"), "--book")
    assert code == 1
    tops = [r for r in records if r.get("book") == "kalshi:KXRAIN-27MAR01-T2:yes"]
    assert tops[0]["line"] == 2
    assert (tops[0]["bid"], tops[0]["ask"]) == ("0.33", "0.35")
    gap = next(r for r in tops if r["line"] == 8)
    assert gap["stale"] == "sid 1: seq gap 3 -> 5"
    assert any(r.get("kind") == "error" and r["code"] == 6 for r in records)


def test_polymarket_user_without_book(capsys: pytest.CaptureFixture[str]) -> None:
    code, records = run(capsys, "polymarket-user", str(FIXTURES / "polymarket_user.jsonl"))
    assert code == 0
    assert [r["type"] for r in records] == ["OrderUpdate", "OrderUpdate", "Fill", "Fill", "Fill"]
    assert records[0]["state"] == "open"
    assert records[1]["state"] == "cancelled"


def test_binance_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = (FIXTURES / "binance_spot.jsonl").read_bytes()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, records = run(capsys, "binance", "-", "--book")
    assert code == 1
    quotes = [r for r in records if r.get("quote")]
    assert [(q["bid"], q["ask"]) for q in quotes] == [
        ("3521.16", "3521.17"),
        ("3521.15", "3521.18"),
    ]
    assert records[-1]["error"] == "DecodeError"


def test_missing_file_exit_code(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["decode", "kalshi", str(tmp_path / "nope.jsonl")]) == 2
    assert "nope.jsonl" in capsys.readouterr().err


def test_decode_stream_function_counts_errors_and_skips_blank_lines() -> None:
    out = io.StringIO()
    lines = [b"PONG\n", b"\n", b"garbage\n", b'{"event_type":"new_market"}\r\n']
    assert decode_stream("polymarket", lines, out) == 1
    (record,) = [json.loads(x) for x in out.getvalue().splitlines()]
    assert record["line"] == 3
    assert record["sample"] == "garbage"
