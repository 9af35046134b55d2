"""The run's status rendering and its scoring against the sim's ground truth."""

from __future__ import annotations

from typing import Any

import trio
from rich.console import Console

from arbtree.capture import usd
from arbtree.detection import Detection
from arbtree.edge import EdgeFigures, edge_figures, instrument_from_key
from arbtree.panel import render_panel
from arbtree.status import FeedLine, Status, StatusSource, status_line
from arbtree.summary import WindowSpan, score_windows
from protocols.messages import InstrumentId, Outcome, Venue


def _window(wid: str, instruments: set[str], start: int, end: int, edge: int) -> WindowSpan:
    return WindowSpan(wid, frozenset(instruments), start, end, edge)


def test_a_window_is_captured_by_a_detection_on_its_instruments_while_open() -> None:
    windows = [
        _window("w1", {"yes1", "no1"}, 1_000, 2_000, 5_000_000),
        _window("w2", {"yes2", "KX2"}, 3_000, 4_000, 2_500_000),
        _window("w3", {"yes3", "no3"}, 5_000, 6_000, 1_000_000),
    ]
    detections = [
        Detection(frozenset({"yes1", "no1"}), 1_500),  # inside w1
        Detection(frozenset({"KX2", "noX"}), 4_050),  # one shared leg, within the slack
        Detection(frozenset({"yes3", "no3"}), 6_500),  # too late for w3
        Detection(frozenset({"other"}), 5_500),  # wrong instruments
    ]
    score = score_windows(windows, detections, realized_pnl=-1_250_000, slack_ms=100)
    assert (score.injected, score.captured, score.missed) == (3, 2, 1)
    assert score.captured_ids == ("w1", "w2")
    assert score.missed_ids == ("w3",)
    assert score.capture_ratio == 2 / 3
    assert score.theoretical_edge_usd == "8.500000"
    assert score.realized_pnl_usd == "-1.250000"


def test_a_detection_in_the_next_window_does_not_capture_the_one_before() -> None:
    """Two windows of one market back to back: what was detected in the second, within
    the first's slack, captures the second only."""
    windows = [
        _window("w1", {"yes1", "no1"}, 1_000, 2_000, 5_000_000),
        _window("w2", {"yes1", "no1"}, 2_050, 4_000, 5_000_000),
    ]
    detections = [Detection(frozenset({"yes1", "no1"}), 2_060)]
    score = score_windows(windows, detections, realized_pnl=0, slack_ms=100)
    assert score.captured_ids == ("w2",)
    assert score.missed_ids == ("w1",)


def test_no_windows_means_no_ratio() -> None:
    score = score_windows([], [], realized_pnl=0)
    assert score.capture_ratio is None
    assert usd(0) == "0.000000"


def _status(**overrides: Any) -> Status:
    base: dict[str, Any] = {
        "elapsed_s": 12.0,
        "feeds": (
            FeedLine("polymarket", True, 1_234, 250.0, 1, 0),
            FeedLine("kalshi", False, 9, 0.0, 3, 2),
        ),
        "books_total": 12,
        "books_stale": 2,
        "opportunities": 7,
        "accepted": 3,
        "rejected": 4,
        "orders": {"filled": 5, "rejected": 1},
        "fills": 5,
        "realized_pnl": "1.25",
        "fees": "0.31",
        "trading_state": "halted",
        "trading_reason": "kill switch",
        "restarts": 2,
        "storage_mode": "spilling",
        "storage_backlog": 40,
        "shutdown_phase": "stop-feeds",
    }
    base.update(overrides)
    return Status(**base)


def test_status_line_names_every_figure() -> None:
    line = status_line(_status())
    for part in (
        "state=halted",
        "polymarket=up:250/s",
        "kalshi=DOWN:0/s",
        "books=10/12 fresh",
        "opps=7 (accepted 3, rejected 4)",
        "orders[filled=5,rejected=1]",
        "fills=5",
        "pnl=1.25",
        "restarts=2",
        "storage=spilling backlog=40",
    ):
        assert part in line, part


def test_panel_renders_state_feeds_and_shutdown_phase() -> None:
    console = Console(record=True, width=140)
    console.print(render_panel(_status()))
    text = console.export_text()
    assert "HALTED" in text
    assert "kill switch" in text
    assert "shutdown: stop-feeds" in text
    assert "polymarket" in text
    assert "connected" in text
    assert "kalshi" in text
    assert "down" in text
    assert "1,234" in text
    assert "books 10/12 fresh" in text
    header, polymarket, kalshi = text.splitlines()[2:5]
    assert header.split() == [
        "feed",
        "state",
        "messages",
        "msg/s",
        "reconnects",
        "decode",
        "errors",
    ]
    assert polymarket.split() == ["polymarket", "connected", "1,234", "250", "1", "0"]
    assert kalshi.split() == ["kalshi", "down", "9", "0", "3", "2"]
    # fixed columns: every row ends where the header does (right-aligned figures)
    assert len(polymarket.rstrip()) == len(kalshi.rstrip()) == len(header.rstrip())


class _Stats:
    def __init__(self) -> None:
        self.updates = 0
        self.connected = True
        self.reconnects: dict[str, int] = {}
        self.decode_errors = 0


async def test_feed_rate_is_averaged_over_the_window(autojump_clock: trio.abc.Clock) -> None:
    # only the rate bookkeeping is exercised, so no assembly is needed
    source = StatusSource(asm=None, rate_window_s=5.0)  # type: ignore[arg-type]
    rates = []
    for second in range(1, 11):
        await trio.sleep(1)
        count = second * 100 if second <= 5 else 500 + (second - 5) * 300
        rates.append(source._rate("feed", trio.current_time(), count))
    assert rates[4] == 100.0  # steady 100/s
    # after the jump to 300/s the 5 s average converges instead of jumping
    assert 100.0 < rates[6] < 300.0
    assert rates[9] == 300.0


def _edge(mark: str = "2.4") -> EdgeFigures:
    return EdgeFigures(
        locked_edge_usd="12.5",
        hedged_pairs="441",
        hedged_cost_usd="421.3",
        unhedged_shares="6.03",
        unhedged_cost_usd="3.3",
        unhedged_mark_usd=mark,
        unwinds=1,
        unwind_realized_usd="-6.5",
        fees_usd="7.2",
        opportunities_filled=3,
    )


def test_status_line_and_panel_show_the_locked_in_edge() -> None:
    line = status_line(_status(edge=_edge()))
    for part in (
        "locked=12.5",
        "hedged=441",
        "unhedged=6.03(cost=3.3 mark=2.4)",
        "unwinds=1(-6.5)",
    ):
        assert part in line, part
    assert "mark=" not in status_line(_status(edge=_edge(mark="")))
    assert "locked=" not in status_line(_status())
    console = Console(record=True, width=160)
    console.print(render_panel(_status(edge=_edge())))
    text = console.export_text()
    assert "locked-in edge $12.5 on 441 hedged pairs" in text
    assert "unhedged 6.03 shares (cost $3.3, at bids $2.4)" in text
    assert "unwinds 1 ($-6.5)" in text


def test_edge_figures_mark_the_unhedged_shares_at_the_best_bid() -> None:
    kalshi_no = InstrumentId(venue=Venue.KALSHI, symbol="KX-1", outcome=Outcome.NO)
    assert instrument_from_key(kalshi_no.key()) == kalshi_no
    poly = InstrumentId(venue=Venue.POLYMARKET, symbol="123", outcome=Outcome.YES)
    assert instrument_from_key(poly.key()) == poly

    class Book:
        def best_bid(self) -> tuple[int, int] | None:
            return (450_000, 10)

    class Reader:
        def book(self, instrument: InstrumentId) -> Book | None:
            return Book() if instrument == kalshi_no else None

    fund: dict[str, Any] = {
        "outcome": {
            "locked_edge": "1",
            "hedged": "2",
            "hedged_cost": "1",
            "unhedged_size": "2",
            "unhedged_cost": "1.1",
            "realized_unwinds": "0",
            "unwinds": 0,
            "fees": "0.1",
            "opportunities": 1,
            "unhedged": {kalshi_no.key(): "2"},
        }
    }
    reader: Any = Reader()
    figures = edge_figures(fund, reader)
    assert figures is not None
    assert figures.unhedged_mark_usd == "0.900000"
    # dollars written as the summary's other dollar figures (fees_usd "0.100000")
    assert (figures.locked_edge_usd, figures.fees_usd, figures.unwind_realized_usd) == (
        "1.000000",
        "0.100000",
        "0.000000",
    )
    assert (figures.hedged_cost_usd, figures.unhedged_cost_usd) == ("1.000000", "1.100000")
    fund["outcome"]["unhedged"][poly.key()] = "1"  # no book: no mark rather than a wrong one
    figures = edge_figures(fund, reader)
    assert figures is not None
    assert figures.unhedged_mark_usd == ""
    assert edge_figures({}, reader) is None
