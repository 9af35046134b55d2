"""Run-long trading counts that survive every actor restart: :class:`TradingTally`.

The fund manager's and the executor's own counters start from zero in each incarnation,
so a run with restarts reported a fraction of what it did. The tally sits between the
trading actors and storage (it is their record sink, created once by the wiring) and
counts the records themselves, the same ones the database stores: an order counts once
by its client order id at its latest state, a fill once by ``(venue, fill id)``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs

from actors.observability.metrics.statistics import StatField
from actors.trading.sink import RecordSink
from protocols.messages import (
    Decision,
    FillRecord,
    FillStatus,
    OpportunityRecord,
    OrderRecord,
    OrderState,
    Venue,
)

COUNT_EVERY = 256


@attrs.define(eq=False)
class TradingTally:
    """A record sink that counts what passes to ``inner`` (storage; may be None)."""

    inner: RecordSink | None = None
    accepted: int = 0
    rejected: Counter[str] = attrs.field(factory=Counter)  # reason (before ':') -> count
    _order_state: dict[str, OrderState] = attrs.field(factory=dict)
    by_state: Counter[str] = attrs.field(factory=Counter)
    _fills: set[tuple[Venue, str]] = attrs.field(factory=set)
    fills_failed: int = 0

    # Records not counted yet: the count is taken when asked for (or every
    # ``COUNT_EVERY`` records), so the order path pays one list append per record.
    _pending: list[Any] = attrs.field(factory=list)

    def __call__(self, record: Any) -> None:
        pending = self._pending
        pending.append(record)
        if len(pending) >= COUNT_EVERY:
            self._count_pending()
        if self.inner is not None:
            self.inner(record)

    def _count_pending(self) -> None:
        pending, self._pending = self._pending, []
        for record in pending:
            self._count(record)

    def _count(self, record: Any) -> None:
        if isinstance(record, OrderRecord):
            old = self._order_state.get(record.client_order_id)
            if old is not record.state:
                if old is not None:
                    self.by_state[old.value] -= 1
                self.by_state[record.state.value] += 1
                self._order_state[record.client_order_id] = record.state
        elif isinstance(record, FillRecord):
            fill = record.fill
            key = (fill.instrument.venue, fill.fill_id)
            if fill.status is FillStatus.FAILED:
                if key in self._fills:
                    self._fills.discard(key)
                    self.fills_failed += 1
            else:
                self._fills.add(key)
        elif isinstance(record, OpportunityRecord):
            if record.decision is Decision.ACCEPTED:
                self.accepted += 1
            else:
                self.rejected[record.reject_reason.split(":", 1)[0]] += 1

    @property
    def orders(self) -> int:
        self._count_pending()
        return len(self._order_state)

    @property
    def fills(self) -> int:
        self._count_pending()
        return len(self._fills)

    def statistics(self) -> dict[str, Any]:
        self._count_pending()
        return {
            "opportunities_accepted": self.accepted,
            "opportunities_rejected": dict(self.rejected),
            "orders": self.orders,
            "orders_by_state": {k: v for k, v in self.by_state.items() if v},
            "fills": self.fills,
            "fills_failed": self.fills_failed,
        }


# Exported by ``arbtree run`` from ``TradingHandles.statistics()`` (docs/observability.md).
TRADING_FIELDS = (
    StatField(
        "naked_legs",
        "arbtree_naked_legs",
        "Filled legs owed an unwind (retried until flat).",
    ),
    StatField("naked_shares", "arbtree_naked_shares", "Shares (1e-6) of the owed unwinds."),
    StatField("orders", "arbtree_trading_orders", "Orders recorded this run, every incarnation."),
    StatField(
        "orders_by_state",
        "arbtree_trading_orders_by_state",
        "Orders recorded this run by their latest state.",
        label="state",
    ),
    StatField("fills", "arbtree_trading_fills", "Fills recorded this run, every incarnation."),
    StatField(
        "opportunities_accepted",
        "arbtree_trading_opportunities_accepted",
        "Opportunities the fund manager accepted this run, every incarnation.",
    ),
)
