"""docs/running.md's table of every key's limits is the one the schema generates."""

from __future__ import annotations

from pathlib import Path

from arbtree.config_reference import BEGIN, END, limits_table

RUNNING_MD = Path(__file__).resolve().parents[2] / "docs" / "running.md"


def test_the_limits_table_in_the_docs_is_generated_from_the_schema() -> None:
    text = RUNNING_MD.read_text()
    start = text.index(BEGIN) + len(BEGIN)
    end = text.index(END)
    assert text[start:end].strip() == limits_table(), (
        "docs/running.md is out of date: run `python -m arbtree.config_reference` and paste"
    )


def test_the_table_has_a_row_for_every_bounded_key() -> None:
    table = limits_table()
    for key in ("run.shutdown_deadline_s", "sim.markets", "observability.control.max_streams"):
        assert f"| `{key}` |" in table
    assert "market.feeds[].reconnect.max_s" in table
