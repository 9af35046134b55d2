"""What the run's trades locked in, as the summary, the status line and /metrics show it.

The fund manager's ``statistics()["outcome"]`` carries the figures its ledger keeps
(``actors.trading.outcome``); the unhedged shares are marked here, at the current best
bid of each instrument in the quote cache (what selling them now would bring, before
fees), since the fund manager holds no quotes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec
import trio

from actors.observability.metrics import StatField
from actors.quote_cache import QuoteReader
from arbtree.capture import usd
from protocols.fixed import PRICE_ONE, parse_units
from protocols.messages import InstrumentId, Outcome, TradingOutcomeRecord, Venue


class EdgeFigures(msgspec.Struct, frozen=True, kw_only=True):
    """Exact decimal strings (USD, shares); ``unhedged_mark_usd`` is "" when a held
    instrument has no quote."""

    locked_edge_usd: str
    hedged_pairs: str
    hedged_cost_usd: str
    unhedged_shares: str
    unhedged_cost_usd: str
    unhedged_mark_usd: str
    unwinds: int
    unwind_realized_usd: str  # net of the unwinds' fees; negative = what they cost
    fees_usd: str
    opportunities_filled: int


def instrument_from_key(key: str) -> InstrumentId:
    """The inverse of ``InstrumentId.key()`` (``venue:symbol[:outcome]``)."""
    parts = key.split(":")
    outcome = Outcome(parts[2]) if len(parts) > 2 else None
    return InstrumentId(venue=Venue(parts[0]), symbol=parts[1], outcome=outcome)


def mark_value(unhedged: Mapping[str, str], reader: QuoteReader | None) -> int | None:
    """The unhedged shares at their best bids (1e-6 USD); None if one has no bid."""
    total = 0
    for key, size in unhedged.items():
        book = None if reader is None else reader.book(instrument_from_key(key))
        best = None if book is None else book.best_bid()
        if best is None:
            return None
        total += parse_units(size) * best[0] // PRICE_ONE
    return total


def _dollars(text: object) -> str:
    """A dollar figure as the rest of the summary writes it (six decimals)."""
    return usd(parse_units(str(text)))


def edge_figures(fund: Mapping[str, Any], reader: QuoteReader | None) -> EdgeFigures | None:
    """From the fund manager's statistics; None before it has reported any."""
    out: dict[str, Any] | None = fund.get("outcome")
    if out is None:
        return None
    mark = mark_value(out.get("unhedged", {}), reader)
    return EdgeFigures(
        locked_edge_usd=_dollars(out["locked_edge"]),
        hedged_pairs=str(out["hedged"]),
        hedged_cost_usd=_dollars(out["hedged_cost"]),
        unhedged_shares=str(out["unhedged_size"]),
        unhedged_cost_usd=_dollars(out["unhedged_cost"]),
        unhedged_mark_usd="" if mark is None else usd(mark),
        unwinds=int(out["unwinds"]),
        unwind_realized_usd=_dollars(out["realized_unwinds"]),
        fees_usd=_dollars(out["fees"]),
        opportunities_filled=int(out["opportunities"]),
    )


# /metrics: dollars and shares as floats (the exact figures are in the summary and the
# ``trading_outcome`` table).
EDGE_FIELDS = (
    StatField(
        "locked_edge_usd", "arbtree_locked_edge_usd", "Hedged pairs x $1 minus their cost and fees."
    ),
    StatField(
        "hedged_pairs", "arbtree_hedged_pairs", "YES+NO pairs held on both legs of an opportunity."
    ),
    StatField("unhedged_shares", "arbtree_unhedged_shares", "Shares held beyond the hedge."),
    StatField(
        "unhedged_cost_usd",
        "arbtree_unhedged_cost_usd",
        "What the unhedged shares cost, fees included.",
    ),
    StatField(
        "unhedged_mark_usd", "arbtree_unhedged_mark_usd", "The unhedged shares at the best bids."
    ),
    StatField("unwinds", "arbtree_unwinds", "Unwind orders that filled (legs traded back)."),
    StatField(
        "unwind_realized_usd",
        "arbtree_unwind_realized_usd",
        "What the unwinds realized, net of fees (negative: lost).",
    ),
)


def edge_metrics(
    fund: Callable[[], Mapping[str, Any]], reader: QuoteReader | None
) -> Callable[[], dict[str, float]]:
    """A scrape-time source for :data:`EDGE_FIELDS` (an absent figure is left out)."""

    def sample() -> dict[str, float]:
        figures = edge_figures(fund(), reader)
        if figures is None:
            return {}
        out: dict[str, float] = {"unwinds": float(figures.unwinds)}
        for field in EDGE_FIELDS:
            value = getattr(figures, field.key)
            if isinstance(value, str) and value:
                out[field.key] = parse_units(value) / PRICE_ONE
        return out

    return sample


def edge_record(
    figures: EdgeFigures, run_id: str, wall_ms: int, final: bool
) -> TradingOutcomeRecord:
    """The figures as the ``trading_outcome`` row (exact 1e-6 units)."""
    mark = figures.unhedged_mark_usd
    return TradingOutcomeRecord(
        run_id=run_id,
        wall_ms=wall_ms,
        locked_edge=parse_units(figures.locked_edge_usd),
        hedged=parse_units(figures.hedged_pairs),
        hedged_cost=parse_units(figures.hedged_cost_usd),
        unhedged_size=parse_units(figures.unhedged_shares),
        unhedged_cost=parse_units(figures.unhedged_cost_usd),
        unhedged_mark=parse_units(mark) if mark else -1,
        unwinds=figures.unwinds,
        unwind_realized=parse_units(figures.unwind_realized_usd),
        fees=parse_units(figures.fees_usd),
        opportunities=figures.opportunities_filled,
        final=final,
    )


def edge_header(figures: EdgeFigures) -> str:
    """One line for the inspector's header (the tree snapshot's ``edge`` field)."""
    mark = f", at bids ${figures.unhedged_mark_usd}" if figures.unhedged_mark_usd else ""
    return (
        f"locked ${figures.locked_edge_usd} on {figures.hedged_pairs} pairs; unhedged "
        f"{figures.unhedged_shares} (cost ${figures.unhedged_cost_usd}{mark}); "
        f"unwinds {figures.unwinds} (${figures.unwind_realized_usd})"
    )


async def publish_edge(
    sample: Callable[[], EdgeFigures | None],
    extra: dict[str, str],
    put: Callable[[TradingOutcomeRecord], None],
    run_id: str,
    wall_ms: Callable[[], int],
    *,
    header_interval_s: float = 1.0,
    record_interval_s: float = 5.0,
) -> None:
    """Keep the tree snapshot's ``edge`` field current and write a ``trading_outcome`` row
    every ``record_interval_s`` (the runner writes the final one as the run stops)."""
    next_record = trio.current_time() + record_interval_s
    while True:
        await trio.sleep(header_interval_s)
        figures = sample()
        if figures is None:
            continue
        extra["edge"] = edge_header(figures)
        if trio.current_time() >= next_record:
            next_record += record_interval_s
            put(edge_record(figures, run_id, wall_ms(), final=False))
