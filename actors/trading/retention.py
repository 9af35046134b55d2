"""Retention of per-order state: what outlives a terminal order, and for how long.

The fund manager retires a DONE order ``retain_done_s`` after it became DONE (or earlier,
oldest first, when more than ``max_done_orders`` are kept), with its per-fill records;
then tells the executor (:class:`~actors.trading.messages.RetireOrders`), which drops its
fill watermarks for it. What is left of a retired order is its ids in
:class:`RetiredIds`, so a late report about it is recognized (see docs/trading.md).
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Protocol

import attrs

from actors.trading.ledger import Ledger
from actors.trading.messages import RetireOrders
from protocols.config.trading import RetentionConfig
from protocols.messages import Venue

log = logging.getLogger("arbtree.trading.fund_manager")


@attrs.define
class RetiredIds:
    """The client and venue order ids of the last ``capacity`` retired orders (FIFO)."""

    capacity: int
    _order: deque[tuple[str, str]] = attrs.field(factory=deque)
    _ids: set[str] = attrs.field(factory=set)
    forgotten: int = 0  # retired orders whose ids were pushed out by newer ones

    def add(self, client_order_id: str, venue_order_id: str) -> None:
        if self.capacity <= 0:
            self.forgotten += 1
            return
        self._order.append((client_order_id, venue_order_id))
        self._ids.add(client_order_id)
        if venue_order_id:
            self._ids.add(venue_order_id)
        while len(self._order) > self.capacity:
            old_coid, old_vid = self._order.popleft()
            self._ids.discard(old_coid)
            self._ids.discard(old_vid)
            self.forgotten += 1

    def match(self, client_order_id: str, venue_order_id: str) -> str:
        """The id (client first, else venue) naming a remembered retired order, or ""."""
        if client_order_id and client_order_id in self._ids:
            return client_order_id
        if venue_order_id and venue_order_id in self._ids:
            return venue_order_id
        return ""

    def __len__(self) -> int:
        return len(self._order)


class Retained(Protocol):
    """What retention reads and drops of the fund's books (``fund_core.FundCore``, which
    imports this module): the DONE orders and order-less fill keys in retirement order,
    the dedup sets and opportunity ids that go with them, and its own counters."""

    retention: RetentionConfig
    ledger: Ledger
    done_queue: deque[tuple[int, str]]
    orderless_fills: deque[tuple[int, tuple[Venue, str], str]]
    seen_fills: set[tuple[Venue, str]]
    failed_fills: set[tuple[Venue, str]]
    seen_opportunities: dict[str, int]
    retired: RetiredIds
    retired_orders: int
    retired_fills: int
    retired_early: int
    early_sweeps: int


def retire_due(core: Retained, now_ns: int) -> RetireOrders | None:
    """Drop what is due: DONE orders ``retain_done_s`` after they became DONE, with
    their per-fill records and dedup keys (and their opportunity id with the last of
    its orders), and fill keys of no tracked order as long after they were first seen;
    the oldest go early when more than ``max_done_orders`` are kept. O(retired). What
    the executor must drop in turn is returned (None: nothing retired)."""
    cutoff = now_ns - int(core.retention.retain_done_s * 1e9)
    cap = core.retention.max_done_orders
    coids: list[str] = []
    keys: list[tuple[Venue, str]] = []
    early = fills = 0
    done = core.done_queue
    while done and (done[0][0] <= cutoff or len(done) > cap):
        at, coid = done.popleft()
        order = core.ledger.forget(coid)
        if order is None:  # not in these books (rebuilt by reconciliation)
            continue
        early += at > cutoff
        for key in order.fill_keys:
            core.seen_fills.discard(key)
            core.failed_fills.discard(key)
        fills += len(order.fill_keys)
        left = core.seen_opportunities.get(order.opportunity_id)
        if left is not None:
            if left > 1:
                core.seen_opportunities[order.opportunity_id] = left - 1
            else:
                del core.seen_opportunities[order.opportunity_id]
        core.retired.add(coid, order.venue_order_id)
        coids.append(coid)
    core.retired_orders += len(coids)
    loose = core.orderless_fills
    while loose and (loose[0][0] <= cutoff or len(loose) > cap):
        at, key, coid = loose.popleft()
        early += at > cutoff
        core.seen_fills.discard(key)
        core.failed_fills.discard(key)
        core.ledger.booked.pop(key, None)
        keys.append(key)
        if coid and coid not in core.ledger.orders:
            coids.append(coid)  # the executor may hold watermarks for it too
    fills += len(keys)
    core.retired_fills += fills
    if early:
        core.retired_early += early
        core.early_sweeps += 1
        if core.early_sweeps & (core.early_sweeps - 1) == 0:  # 1, 2, 4...: not every sweep
            log.warning(
                "retention: %d records retired before retain_done_s (%.0f s) to "
                "keep at most max_done_orders (%d); %d so far",
                early,
                core.retention.retain_done_s,
                cap,
                core.retired_early,
            )
    if not coids and not keys:
        return None
    return RetireOrders(client_order_ids=tuple(coids), fill_keys=tuple(keys))
