"""Reading the fund manager's last checkpoint back from Postgres (``fund_checkpoints`` and
its ``positions`` rows, as :mod:`actors.storage.tables` writes them)."""

from __future__ import annotations

from typing import Any

import msgspec

from protocols.messages import (
    FundCheckpointRecord,
    InstrumentId,
    Outcome,
    Position,
    Venue,
    VenueBalance,
)


def instrument_from_key(key: str) -> InstrumentId:
    """The inverse of ``InstrumentId.key()`` (``venue:symbol[:outcome]``)."""
    venue, _, rest = key.partition(":")
    symbol, sep, outcome = rest.rpartition(":")
    if sep and outcome in {o.value for o in Outcome}:
        return InstrumentId(venue=Venue(venue), symbol=symbol, outcome=Outcome(outcome))
    return InstrumentId(venue=Venue(venue), symbol=rest)


async def load_fund_checkpoint(
    conn: Any, since_ms: int | None = None
) -> FundCheckpointRecord | None:
    """The newest fund checkpoint read back from its two tables (asyncpg connection,
    asyncio side), or None when there is none: what the fund manager restarts from.
    ``since_ms`` (wall clock, ms) ignores checkpoints taken before it (an earlier run's)."""
    row = await conn.fetchrow(
        "SELECT rid, taken_ns, at, balances, open_orders, fees_paid, day_fees, day_realized,"
        " loss_day FROM fund_checkpoints WHERE $1::bigint IS NULL OR at >= to_timestamp($1 /"
        " 1000.0) ORDER BY at DESC, taken_ns DESC LIMIT 1",
        since_ms,
    )
    if row is None:
        return None
    balances = msgspec.json.decode(row["balances"])
    positions = await conn.fetch(
        "SELECT instrument, size, cost, realized_pnl, updated_ns FROM positions"
        " WHERE checkpoint_rid = $1 ORDER BY instrument",
        row["rid"],
    )
    return FundCheckpointRecord(
        balances=tuple(
            VenueBalance(venue=Venue(b["venue"]), cash=b["cash"], reserved=b["reserved"])
            for b in balances
        ),
        positions=tuple(
            Position(
                instrument=instrument_from_key(p["instrument"]),
                size=p["size"],
                cost=p["cost"],
                realized_pnl=p["realized_pnl"],
                updated_ns=p["updated_ns"],
            )
            for p in positions
        ),
        open_orders=tuple(row["open_orders"]),
        taken_ns=row["taken_ns"],
        wall_ms=round(row["at"].timestamp() * 1000),
        fees_paid=row["fees_paid"],
        day_fees=row["day_fees"],
        day_realized=row["day_realized"],
        loss_day=row["loss_day"],
    )
