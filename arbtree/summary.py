"""The end-of-run summary, and how a run is scored against the sim's ground truth.

A window counts as *captured* when the detector emitted an opportunity on one of the
window's instruments while the window was open (by venue time, with a small slack for the
frame that closes it). Capture is judged on detection; what trading made of it is in the
order and PnL figures beside it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from protocols.fixed import parse_units
from protocols.tree import ShutdownReport

if TYPE_CHECKING:
    from arbtree.runner import Assembly

CAPTURE_SLACK_MS = 100


class WindowScore(msgspec.Struct, frozen=True, kw_only=True):
    injected: int
    captured: int
    missed: int
    capture_ratio: float | None  # None when nothing was injected
    captured_ids: tuple[str, ...]
    missed_ids: tuple[str, ...]
    theoretical_edge_usd: str  # sum of the windows' net edge at their start
    realized_pnl_usd: str


class RunSummary(msgspec.Struct, frozen=True, kw_only=True):
    seed: int
    duration_s: float
    mode: str
    messages_per_feed: dict[str, int]
    decode_errors_per_feed: dict[str, int]
    reconnects_per_feed: dict[str, int]
    opportunities_by_strategy: dict[str, int]
    opportunities_approved: int
    opportunities_rejected: dict[str, int]  # reason -> count
    orders_by_outcome: dict[str, int]
    fills: int
    realized_pnl_usd: str
    fees_usd: str
    trading_state: str
    restarts_per_actor: dict[str, int]
    shutdown: ShutdownReport | None
    windows: WindowScore | None = None
    storage: dict[str, int] = {}
    # Run-long, across every actor incarnation (the records the database stores).
    orders: int = 0
    orders_by_state: dict[str, int] = {}
    naked_legs: int = 0  # filled legs still owed an unwind at the end
    naked_shares: str = "0"
    executions_resumed: int = 0  # taken over by a later executor incarnation


class WindowSpan(msgspec.Struct, frozen=True):
    """What scoring needs of a ground-truth window."""

    id: str
    instruments: frozenset[str]
    start_ms: int
    end_ms: int
    edge_net: int  # 1e-6 USD


class Detection(msgspec.Struct, frozen=True):
    """What scoring needs of an emitted opportunity."""

    instruments: frozenset[str]
    venue_ts_ms: int


def usd(micro: int) -> str:
    """1e-6 USD as an exact decimal string."""
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), 1_000_000)
    return f"{sign}{whole}.{frac:06d}"


def score_windows(
    windows: Iterable[WindowSpan],
    detections: Iterable[Detection],
    *,
    realized_pnl: int,
    slack_ms: int = CAPTURE_SLACK_MS,
) -> WindowScore:
    by_instrument: dict[str, list[int]] = {}
    for det in detections:
        for instrument in det.instruments:
            by_instrument.setdefault(instrument, []).append(det.venue_ts_ms)
    captured: list[str] = []
    missed: list[str] = []
    edge = 0
    for window in windows:
        edge += window.edge_net
        lo, hi = window.start_ms - slack_ms, window.end_ms + slack_ms
        hit = any(
            lo <= ts <= hi
            for instrument in window.instruments
            for ts in by_instrument.get(instrument, ())
        )
        (captured if hit else missed).append(window.id)
    injected = len(captured) + len(missed)
    return WindowScore(
        injected=injected,
        captured=len(captured),
        missed=len(missed),
        capture_ratio=None if injected == 0 else len(captured) / injected,
        captured_ids=tuple(captured),
        missed_ids=tuple(missed),
        theoretical_edge_usd=usd(edge),
        realized_pnl_usd=usd(realized_pnl),
    )


def restarts_per_actor(restarts: Mapping[str, int]) -> dict[str, int]:
    return {path: count for path, count in sorted(restarts.items()) if count}


def windows_from_sim(records: Iterable[Any]) -> list[WindowSpan]:
    """Ground-truth windows (``actors.sim.WindowRecord``) in the form scoring needs."""
    return [
        WindowSpan(
            id=w.id,
            instruments=frozenset(leg.instrument for leg in w.legs),
            start_ms=w.start_ms,
            end_ms=w.end_ms,
            edge_net=w.edge_net,
        )
        for w in records
    ]


def build_summary(asm: Assembly, duration_s: float) -> RunSummary:
    """Collect the end-of-run figures from the statistics every actor keeps."""
    config = asm.config
    trading: dict[str, Any] = asm.trading.statistics()
    fund: dict[str, Any] = trading.get("fund_manager", {})
    executor: dict[str, Any] = trading.get("executor", {})
    # Counted across incarnations: a restarted actor's own counters start from zero.
    tally: dict[str, Any] = trading.get("tally", {})
    store: dict[str, Any] = trading.get("store", {})
    realized = parse_units(str(fund.get("realized_pnl", "0")))
    restarts: dict[str, int] = {}
    if asm.tree is not None:
        restarts = {node.path: node.restarts_total for node in asm.tree.snapshot().nodes}
    windows = None
    sim = asm.sim_handle  # in-process, or a child process that has stopped and reported
    if sim is not None:
        windows = score_windows(
            windows_from_sim(sim.windows), asm.detections, realized_pnl=realized
        )
    storage = asm.sink.statistics()
    return RunSummary(
        seed=config.run.seed,
        duration_s=round(duration_s, 3),
        mode=config.trading.executor.mode,
        messages_per_feed={n: s.updates for n, s in asm.market.feed_stats.items()},
        decode_errors_per_feed={n: s.decode_errors for n, s in asm.market.feed_stats.items()},
        reconnects_per_feed={
            n: sum(s.reconnects.values()) for n, s in asm.market.feed_stats.items()
        },
        opportunities_by_strategy=dict(asm.opportunities_by_strategy),
        opportunities_approved=int(tally.get("opportunities_accepted", fund.get("accepted", 0))),
        opportunities_rejected=dict(tally.get("opportunities_rejected", fund.get("rejects", {}))),
        orders_by_outcome=dict(executor.get("orders", {})),
        fills=int(tally.get("fills", fund.get("fills", 0))),
        realized_pnl_usd=usd(realized),
        fees_usd=usd(parse_units(str(fund.get("fees_paid", "0")))),
        trading_state=str(trading.get("trading_state", "unknown")),
        restarts_per_actor=restarts_per_actor(restarts),
        shutdown=asm.tree.report if asm.tree is not None else None,
        windows=windows,
        orders=int(tally.get("orders", 0)),
        orders_by_state=dict(tally.get("orders_by_state", {})),
        naked_legs=int(store.get("naked_legs", 0)),
        naked_shares=usd(int(store.get("naked_shares", 0))),
        executions_resumed=int(store.get("resumed", 0)),
        storage={
            "records_durable": storage.records_durable,
            "backlog": storage.backlog,
            "spilled_records": storage.spilled_records,
            "dead_letters": storage.dead_letters,
        },
    )
