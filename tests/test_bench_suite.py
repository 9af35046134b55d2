"""CI smoke test of ``arbtree bench --quick``: the whole suite runs to completion against
real Postgres and the sim in its own process (over TLS, the default), and produces every
row, each e2e row beside the same-run single-task bot, and the peer comparison. No figure
is asserted (speed is measured, never asserted in a test): only that each row has a finite
figure and, where it names a floor, a floor measured."""

from __future__ import annotations

import math

import msgspec
import pytest

from bench.suite import QUICK, SuiteReport, render, run_suite

pytestmark = pytest.mark.slow

EXPECTED_ROWS = [
    "mailbox hop (BLOCK, cap 64)",
    "mailbox batch drain",
    "restart, crash -> started (p50)",
    "shutdown, 50 idle actors",
    "polymarket decode + book apply",
    "kalshi decode + book apply",
    "detector per update, 100 markets",
    "detector per update, 1,000 markets",
    "detector per update, 10,000 markets",
    "tick rows through the DbWriter",
    *(
        f"{label} p{q} @ {rate}k/s"
        for rate in (1, 5, 10)
        for label in ("tick->opportunity", "tick->order", "bot + 4 hops: tick->order")
        for q in ("50", "90", "99", "99.9")
    ),
    "highest rate, tick->order p99 < 1 ms (of 1000,5000,10000)",
]


def test_quick_suite_produces_every_row(db_dsn: str) -> None:
    report = run_suite(QUICK, db_dsn)

    assert [r.name for r in report.rows] == EXPECTED_ROWS
    for r in report.rows:
        assert math.isfinite(r.figure), r
        if r.floor_name:
            assert r.floor is not None, r
            assert r.floor > 0, r
    assert [p.rate for p in report.peer] == [1000]
    for figures in (report.peer[0].tree, report.peer[0].peer):
        assert figures.updates_per_s > 0  # both bots were fed the sim's workload
        assert figures.cpu_per_1k_updates_ms > 0
    table = render(report)
    for name in EXPECTED_ROWS:
        assert f"| {name} |" in table
    assert "tree vs asyncio peer" in table
    again = msgspec.json.decode(msgspec.json.encode(report), type=SuiteReport)
    assert again == report  # --json writes what the table shows
