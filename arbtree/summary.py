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

from arbtree.capture import (
    CaptureScore,
    ExposureLimits,
    WindowIndex,
    WindowTruth,
    results_for,
    score_capture,
    usd,
)
from arbtree.detection import Detection
from arbtree.edge import EdgeFigures, edge_figures
from protocols.fixed import parse_units
from protocols.tree import ShutdownReport

if TYPE_CHECKING:
    from arbtree.assembly import Assembly

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
    # Scored on what was traded: the edge the limits left available vs the edge locked
    # in on the windows, and the lowest-ratio windows with why (arbtree.capture).
    capture: CaptureScore | None = None


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
    # What the trades locked in: hedged pairs x $1 - their cost and fees (held to
    # resolution, so realized PnL says nothing about it), the unhedged rest, the unwinds.
    edge: EdgeFigures | None = None
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
    truth: WindowTruth | None = None  # what it offered (capture scoring)


def score_windows(
    windows: Iterable[WindowSpan],
    detections: Iterable[Detection],
    *,
    realized_pnl: int,
    slack_ms: int = CAPTURE_SLACK_MS,
) -> WindowScore:
    windows = list(windows)
    index = WindowIndex([(w.id, w.instruments, w.start_ms, w.end_ms) for w in windows], slack_ms)
    hit = {index.find(det.instruments, det.venue_ts_ms) for det in detections}
    captured: list[str] = []
    missed: list[str] = []
    edge = 0
    for window in windows:
        edge += window.edge_net
        (captured if window.id in hit else missed).append(window.id)
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
            # the window's legs and those of the pairs it implied (in its offers)
            instruments=frozenset(leg.instrument for leg in w.legs)
            | {key.split(":")[1] for o in w.offers for key in (o[1], o[3])},
            start_ms=w.start_ms,
            end_ms=w.end_ms,
            edge_net=w.edge_net,
            truth=WindowTruth(id=w.id, offers=(*w.offers, *w.reoffers)),
        )
        for w in records
    ]


def capture_of(
    spans: list[WindowSpan],
    detections: list[Detection],
    traded: dict[str, dict[str, int]],
    limits: ExposureLimits,
    slack_ms: int = CAPTURE_SLACK_MS,
) -> CaptureScore:
    """Capture scored on what was traded (see :mod:`arbtree.capture`)."""
    truths = [w.truth for w in spans if w.truth is not None]
    results = results_for(
        [(w.id, w.instruments, w.start_ms, w.end_ms) for w in spans],
        [
            (d.opportunity_id, d.instruments, d.venue_ts_ms, d.reject_reason, d.size)
            for d in detections
            if d.opportunity_id
        ],
        traded,
        slack_ms,
    )
    return score_capture(truths, results, limits)


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
        spans = windows_from_sim(sim.windows)
        windows = score_windows(spans, asm.detections, realized_pnl=realized)
        limits = config.trading.fund.limits
        capture = capture_of(
            spans,
            asm.detections,
            dict(fund.get("by_opportunity", {})),
            ExposureLimits(
                per_instrument=limits.units("max_exposure_per_instrument"),
                per_pair=limits.units("max_exposure_per_pair"),
                per_venue=limits.units("max_exposure_per_venue"),
                total=limits.units("max_exposure_total"),
            ),
        )
        windows = msgspec.structs.replace(windows, capture=capture)
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
        edge=edge_figures(fund, asm.market.reader),
    )
