"""What the run's trades locked in, as the summary, the status line and /metrics show it.

The fund manager's ``statistics()["outcome"]`` carries the figures its ledger keeps
(``actors.trading.outcome``); the unhedged shares are marked here, at the current best
bid of each instrument in the quote cache (what selling them now would bring, before
fees), since the fund manager holds no quotes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from actors.quote_cache import QuoteReader
from protocols.fixed import PRICE_ONE, format_units, parse_units
from protocols.messages import InstrumentId, Outcome, Venue


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


def edge_figures(fund: Mapping[str, Any], reader: QuoteReader | None) -> EdgeFigures | None:
    """From the fund manager's statistics; None before it has reported any."""
    out: dict[str, Any] | None = fund.get("outcome")
    if out is None:
        return None
    mark = mark_value(out.get("unhedged", {}), reader)
    return EdgeFigures(
        locked_edge_usd=str(out["locked_edge"]),
        hedged_pairs=str(out["hedged"]),
        hedged_cost_usd=str(out["hedged_cost"]),
        unhedged_shares=str(out["unhedged_size"]),
        unhedged_cost_usd=str(out["unhedged_cost"]),
        unhedged_mark_usd="" if mark is None else format_units(mark),
        unwinds=int(out["unwinds"]),
        unwind_realized_usd=str(out["realized_unwinds"]),
        fees_usd=str(out["fees"]),
        opportunities_filled=int(out["opportunities"]),
    )
