"""The one place that maps each record type to its table(s).

A :class:`RecordSpec` names the record type, a short ``kind`` (the tag used in the journal
and the dead-letter table) and one or more :class:`TableWrite` s: which table, which
columns, how to turn one record into rows, and how a write is made idempotent. Every row
carries, directly or through its natural key, the record id (``rid``) the writer assigned,
so replaying a record that already reached the database changes nothing.

Append tables (``copy_first``) are written with a plain binary COPY on the first attempt
(the fast path) and through a staging table with ``INSERT ... ON CONFLICT DO NOTHING`` on
any retry or journal replay. Keyed tables (orders, fills) always go through staging with
``ON CONFLICT ... DO UPDATE`` guarded by a version column, so an older state replayed
late can never overwrite a newer one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from protocols.messages import (
    FillRecord,
    FundCheckpointRecord,
    OpportunityRecord,
    OrderRecord,
    TickRecord,
    TradingOutcomeRecord,
)
from protocols.tree import SupervisionEvent

Row = tuple[Any, ...]
DAY_MS = 86_400_000


_last_ts: list[Any] = [None, None]


def ts_ms(ms: int) -> datetime:
    """Epoch milliseconds to an aware UTC datetime (memoised: a batch shares its ms)."""
    last = _last_ts
    if last[0] == ms:
        value: datetime = last[1]
        return value
    value = datetime.fromtimestamp(ms / 1000.0, UTC)
    last[0] = ms
    last[1] = value
    return value


_keys: dict[Any, str] = {}


def instrument_key(instrument: Any) -> str:
    """``InstrumentId.key()``, cached (a few hundred instruments, millions of rows)."""
    key = _keys.get(instrument)
    if key is None:
        key = instrument.key()
        if len(_keys) < 100_000:
            _keys[instrument] = key
    return key


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


@dataclass(frozen=True, slots=True)
class TableWrite:
    table: str
    columns: tuple[str, ...]
    rows: Callable[[uuid.UUID, Any], Sequence[Row]]
    conflict: tuple[str, ...]  # the unique key that makes a replay a no-op
    update: tuple[str, ...] = ()  # columns refreshed on conflict; empty = DO NOTHING
    # An update never moves these columns backwards (compared as a row, in order).
    version: tuple[str, ...] = ()
    # A SQL expression over ``{row}`` ranked before ``version``: a state it ranks higher
    # is final and never overwritten by a lower one, whatever their timestamps.
    rank: str = ""
    copy_first: bool = False  # plain COPY on the first attempt (append tables)
    day_of: Callable[[Any], int] | None = None  # UTC day number of a record (partitioning)

    def upsert_sql(self, stage: str) -> str:
        cols = ", ".join(self.columns)
        key = ", ".join(self.conflict)
        if self.version:
            ranked = (self.rank.format(row=stage),) if self.rank else ()
            newest_first = ", ".join(f"{c} DESC" for c in (*ranked, *self.version))
            select = (
                f"SELECT DISTINCT ON ({key}) {cols} FROM {stage} ORDER BY {key}, {newest_first}"
            )
        else:
            select = f"SELECT {cols} FROM {stage}"
        if self.update:
            sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in self.update)
            action = f"DO UPDATE SET {sets}"
            if self.version:
                mine = ", ".join(self._versioned(self.table))
                theirs = ", ".join(self._versioned("EXCLUDED"))
                action += f" WHERE ({mine}) <= ({theirs})"
        else:
            action = "DO NOTHING"
        return f"INSERT INTO {self.table} ({cols}) {select} ON CONFLICT ({key}) {action}"

    def _versioned(self, row: str) -> list[str]:
        ranked = [self.rank.format(row=row)] if self.rank else []
        return ranked + [f"{row}.{c}" for c in self.version]


@dataclass(frozen=True, slots=True)
class RecordSpec:
    kind: str
    record_type: type
    writes: tuple[TableWrite, ...]


# ----------------------------------------------------------------- row extractors


def _tick_rows(rid: uuid.UUID, r: TickRecord) -> Sequence[Row]:
    return (
        (
            rid,
            ts_ms(r.wall_ms),
            instrument_key(r.instrument),
            r.bid,
            r.bid_size,
            r.ask,
            r.ask_size,
            r.venue_ts_ms,
            r.recv_ns,
        ),
    )


def _opportunity_rows(rid: uuid.UUID, r: OpportunityRecord) -> Sequence[Row]:
    o = r.opportunity
    legs = [
        {
            "instrument": leg.instrument.key(),
            "side": leg.side.value,
            "limit_price": leg.limit_price,
            "size": leg.size,
        }
        for leg in o.legs
    ]
    return (
        (
            rid,
            ts_ms(r.wall_ms),
            o.opportunity_id,
            o.strategy,
            _json(legs),
            o.expected_edge,
            o.fees,
            o.venue_ts_ms,
            o.recv_ns,
            o.detect_ns,
            r.decided_ns,
            r.decision.value,
            r.reject_reason,
        ),
    )


_ORDER_COLS = (
    "client_order_id",
    "venue_order_id",
    "opportunity_id",
    "instrument",
    "side",
    "limit_price",
    "size",
    "filled_size",
    "state",
    "reason",
    "updated_ns",
    "updated_at",
)


def _order_rows(rid: uuid.UUID, r: OrderRecord) -> Sequence[Row]:
    return (
        (
            r.client_order_id,
            r.venue_order_id,
            r.opportunity_id,
            r.instrument.key(),
            r.side.value,
            r.limit_price,
            r.size,
            r.filled_size,
            r.state.value,
            r.reason,
            r.updated_ns,
            ts_ms(r.wall_ms),
        ),
    )


def _order_event_rows(rid: uuid.UUID, r: OrderRecord) -> Sequence[Row]:
    return (
        (
            rid,
            r.client_order_id,
            r.venue_order_id,
            r.state.value,
            r.filled_size,
            r.reason,
            r.updated_ns,
            ts_ms(r.wall_ms),
        ),
    )


_FILL_COLS = (
    "venue",
    "fill_id",
    "rid",
    "venue_order_id",
    "client_order_id",
    "instrument",
    "side",
    "price",
    "size",
    "fee",
    "fee_shares",
    "fee_estimated",
    "fee_rate_bps",
    "liquidity",
    "status",
    "venue_ts_ms",
    "recv_ns",
    "at",
)


def _fill_rows(rid: uuid.UUID, r: FillRecord) -> Sequence[Row]:
    f = r.fill
    return (
        (
            f.instrument.venue.value,
            f.fill_id,
            rid,
            f.venue_order_id,
            f.client_order_id,
            f.instrument.key(),
            f.side.value,
            f.price,
            f.size,
            r.fee if r.fee >= 0 else f.fee,  # the fee the books charged, else the venue's
            r.fee_shares,
            r.fee_estimated,
            f.fee_rate_bps,
            f.liquidity.value,
            f.status.value,
            f.venue_ts_ms,
            f.recv_ns,
            ts_ms(r.wall_ms),
        ),
    )


def _checkpoint_rows(rid: uuid.UUID, r: FundCheckpointRecord) -> Sequence[Row]:
    balances = [
        {"venue": b.venue.value, "cash": b.cash, "reserved": b.reserved} for b in r.balances
    ]
    return (
        (
            rid,
            r.taken_ns,
            ts_ms(r.wall_ms),
            _json(balances),
            list(r.open_orders),
            r.fees_paid,
            r.day_fees,
            r.day_realized,
            r.loss_day,
        ),
    )


def _position_rows(rid: uuid.UUID, r: FundCheckpointRecord) -> Sequence[Row]:
    at = ts_ms(r.wall_ms)
    return [
        (rid, p.instrument.key(), p.size, p.cost, p.realized_pnl, p.updated_ns, at)
        for p in r.positions
    ]


def _outcome_rows(rid: uuid.UUID, r: TradingOutcomeRecord) -> Sequence[Row]:
    return (
        (
            rid,
            r.run_id,
            ts_ms(r.wall_ms),
            r.locked_edge,
            r.hedged,
            r.hedged_cost,
            r.unhedged_size,
            r.unhedged_cost,
            None if r.unhedged_mark < 0 else r.unhedged_mark,
            r.unwinds,
            r.unwind_realized,
            r.fees,
            r.opportunities,
            r.final,
        ),
    )


def _supervision_rows(rid: uuid.UUID, r: SupervisionEvent) -> Sequence[Row]:
    return ((rid, datetime.fromtimestamp(r.at, UTC), r.kind.value, r.path, r.detail),)


# ----------------------------------------------------------------------- registry

SPECS: tuple[RecordSpec, ...] = (
    RecordSpec(
        "tick",
        TickRecord,
        (
            TableWrite(
                "ticks",
                (
                    "rid",
                    "ts",
                    "instrument",
                    "bid",
                    "bid_size",
                    "ask",
                    "ask_size",
                    "venue_ts_ms",
                    "recv_ns",
                ),
                _tick_rows,
                conflict=("rid", "ts"),
                copy_first=True,
                day_of=lambda r: r.wall_ms // DAY_MS,
            ),
        ),
    ),
    RecordSpec(
        "supervision_event",
        SupervisionEvent,
        (
            TableWrite(
                "supervision_events",
                ("rid", "at", "kind", "path", "detail"),
                _supervision_rows,
                conflict=("rid",),
                copy_first=True,
            ),
        ),
    ),
    RecordSpec(
        "opportunity",
        OpportunityRecord,
        (
            TableWrite(
                "opportunities",
                (
                    "rid",
                    "ts",
                    "opportunity_id",
                    "strategy",
                    "legs",
                    "expected_edge",
                    "fees",
                    "venue_ts_ms",
                    "recv_ns",
                    "detect_ns",
                    "decided_ns",
                    "decision",
                    "reject_reason",
                ),
                _opportunity_rows,
                conflict=("rid",),
                copy_first=True,
            ),
        ),
    ),
    RecordSpec(
        "order",
        OrderRecord,
        (
            TableWrite(
                "orders",
                _ORDER_COLS,
                _order_rows,
                conflict=("client_order_id",),
                update=_ORDER_COLS[1:],
                # Wall-clock ms orders across restarts (monotonic ns restart from an
                # arbitrary origin); within one millisecond the process's monotonic ns
                # breaks the tie, so a later state of the same order always wins.
                version=("updated_at", "updated_ns"),
            ),
            TableWrite(
                "order_events",
                (
                    "rid",
                    "client_order_id",
                    "venue_order_id",
                    "state",
                    "filled_size",
                    "reason",
                    "updated_ns",
                    "at",
                ),
                _order_event_rows,
                conflict=("rid",),
            ),
        ),
    ),
    RecordSpec(
        "fill",
        FillRecord,
        (
            TableWrite(
                "fills",
                _FILL_COLS,
                _fill_rows,
                conflict=("venue", "fill_id"),
                update=(
                    "status",
                    "fee",
                    "fee_shares",
                    "fee_estimated",
                    "fee_rate_bps",
                    "venue_ts_ms",
                    "recv_ns",
                    "at",
                ),
                version=("at",),
                # A trade that failed settlement stays failed: its MATCHED report is often
                # written in the same millisecond (or replayed later) and must not win.
                rank="({row}.status = 'failed')",
            ),
        ),
    ),
    RecordSpec(
        "fund_checkpoint",
        FundCheckpointRecord,
        (
            TableWrite(
                "fund_checkpoints",
                (
                    "rid",
                    "taken_ns",
                    "at",
                    "balances",
                    "open_orders",
                    "fees_paid",
                    "day_fees",
                    "day_realized",
                    "loss_day",
                ),
                _checkpoint_rows,
                conflict=("rid",),
            ),
            TableWrite(
                "positions",
                (
                    "checkpoint_rid",
                    "instrument",
                    "size",
                    "cost",
                    "realized_pnl",
                    "updated_ns",
                    "at",
                ),
                _position_rows,
                conflict=("checkpoint_rid", "instrument"),
            ),
        ),
    ),
    RecordSpec(
        "trading_outcome",
        TradingOutcomeRecord,
        (
            TableWrite(
                "trading_outcome",
                (
                    "rid",
                    "run_id",
                    "at",
                    "locked_edge",
                    "hedged",
                    "hedged_cost",
                    "unhedged_size",
                    "unhedged_cost",
                    "unhedged_mark",
                    "unwinds",
                    "unwind_realized",
                    "fees",
                    "opportunities",
                    "final",
                ),
                _outcome_rows,
                conflict=("rid",),
                copy_first=True,
            ),
        ),
    ),
)

SPEC_BY_TYPE: dict[type, RecordSpec] = {s.record_type: s for s in SPECS}
SPEC_BY_KIND: dict[str, RecordSpec] = {s.kind: s for s in SPECS}


def spec_for(record: Any) -> RecordSpec:
    """The spec of a record; TypeError for a type storage does not know."""
    try:
        return SPEC_BY_TYPE[type(record)]
    except KeyError:
        raise TypeError(f"storage has no table for {type(record).__name__}") from None
