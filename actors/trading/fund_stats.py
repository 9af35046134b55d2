"""The fund manager's figures for ``statistics()``, the control endpoint and metrics:
counters, the books' totals and what retention keeps (read-only over a FundCore)."""

from __future__ import annotations

from collections import Counter, deque
from typing import Any, Protocol

from actors.trading.fees import FeeBook
from actors.trading.ledger import Ledger, OrderPhase
from actors.trading.outcome import UNWIND_PREFIX, OutcomeBook
from actors.trading.retention import Retained
from protocols.fixed import format_units


class FundFigures(Retained, Protocol):
    """What the statistics read of the fund (``fund_core.FundCore``, which imports this
    module): its books and what retention keeps, and its decision and fill counters."""

    accepted: int
    rejects: Counter[str]
    clipped: Counter[str]
    clipped_size_original: int
    clipped_size_approved: int
    last_clips: deque[dict[str, str]]
    outcomes: Counter[str]
    fee_book: FeeBook
    fills_duplicate: int
    fills_failed: int
    fills_reversed: int
    fills_failed_unbooked: int
    late_after_retire: Counter[str]


def fund_statistics(core: FundFigures) -> dict[str, Any]:
    led = core.ledger
    return {
        "accepted": core.accepted,
        "rejects": dict(core.rejects),
        "clipped": dict(core.clipped),
        "clipped_total": sum(core.clipped.values()),
        "clipped_size_original": format_units(core.clipped_size_original),
        "clipped_size_approved": format_units(core.clipped_size_approved),
        "last_clips": list(core.last_clips),
        "outcomes": dict(core.outcomes),
        "cash": {str(v): format_units(c) for v, c in led.cash.items()},
        "reserved": {str(v): format_units(c) for v, c in led.reserved.items()},
        "open_positions": len(led.open_position_instruments()),
        "open_orders": len(led.open_orders()),
        "ambiguous_orders": sum(1 for o in led.live.values() if o.phase is OrderPhase.AMBIGUOUS),
        "exposure_total": format_units(led.total_exposure()),
        "realized_pnl": format_units(led.realized_pnl),
        "fees_paid": format_units(led.fees_paid),
        "daily_loss": format_units(led.daily_loss()),
        "fills": led.fills_applied,
        "fills_fee_estimated": core.fee_book.estimated,
        "positions": {i.key(): format_units(p.size) for i, p in led.positions.items() if p.size},
        "fills_duplicate": core.fills_duplicate,
        "fills_failed": core.fills_failed,
        "fills_reversed": core.fills_reversed,
        "fills_failed_unbooked": core.fills_failed_unbooked,
        "fills_unknown_order": led.unknown_order_fills,
        "retention": {
            "orders": len(led.orders),
            "done": len(core.done_queue),
            "booked_fills": len(led.booked),
            "seen_fills": len(core.seen_fills),
            "failed_fills": len(core.failed_fills),
            "orderless_fills": len(core.orderless_fills),
            "opportunities": len(core.seen_opportunities),
            "retired_orders": core.retired_orders,
            "retired_fills": core.retired_fills,
            "retired_early": core.retired_early,
            "remembered_retired": len(core.retired),
            "forgotten_retired": core.retired.forgotten,
            "late_after_retire": dict(core.late_after_retire),
        },
        "conserved": led.conserved(),
        "outcome": outcome_statistics(led.outcome),
        "by_opportunity": opportunity_outcomes(led),
    }


def opportunity_outcomes(led: Ledger) -> dict[str, dict[str, int]]:
    """Per traded opportunity: what it locked in (1e-6 USD) and why it may have locked
    less than it could (capture scoring reads these). Failed legs are known while its
    orders are retained; what it locked and its size outlive them."""
    out: dict[str, dict[str, int]] = {}
    for opp in led.outcome.legs:
        size = led.outcome.sent_size.get(opp, 0)
        out[opp] = {"locked": 0, "hedged": 0, "unwinds": 0, "failed_legs": 0, "size": size}
    for order in led.orders.values():
        if order.client_order_id.startswith(UNWIND_PREFIX):
            continue
        row = out.setdefault(
            order.opportunity_id,
            {"locked": 0, "hedged": 0, "unwinds": 0, "failed_legs": 0, "size": order.size},
        )
        if order.phase is OrderPhase.DONE and order.filled < order.size:
            row["failed_legs"] += 1
    for opp, row in out.items():
        got = led.outcome.opportunity(opp)
        if got is not None:
            row["locked"], row["hedged"], row["unwinds"] = got.locked_edge, got.hedged, got.unwinds
    return out


def outcome_statistics(book: OutcomeBook) -> dict[str, Any]:
    """What the fills locked in (``actors.trading.outcome``), unmarked: the fund manager
    holds no quotes, so the reader marks ``unhedged`` (instrument key -> shares)."""
    t = book.totals()
    unhedged: dict[str, int] = {}
    for o in book.outcomes():
        for u in o.unhedged:
            unhedged[u.instrument.key()] = unhedged.get(u.instrument.key(), 0) + u.size
    return {
        "opportunities": t.opportunities,
        "hedged": format_units(t.hedged),
        "hedged_cost": format_units(t.hedged_cost),
        "locked_edge": format_units(t.locked_edge),
        "unhedged_size": format_units(t.unhedged_size),
        "unhedged_cost": format_units(t.unhedged_cost),
        "realized_unwinds": format_units(t.realized),
        "unwinds": t.unwinds,
        "unwind_cost": format_units(t.unwind_cost),
        "fees": format_units(t.fees),
        "unhedged": {k: format_units(v) for k, v in sorted(unhedged.items())},
        "unattributed_fills": book.unattributed_fills,
    }
