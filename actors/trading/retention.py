"""Retention of per-order state: what outlives a terminal order, and for how long.

The fund manager retires a DONE order ``retain_done_s`` after it became DONE (or earlier,
oldest first, when more than ``max_done_orders`` are kept), with its per-fill records;
then tells the executor (:class:`~actors.trading.messages.RetireOrders`), which drops its
fill watermarks for it. What is left of a retired order is its ids in
:class:`RetiredIds`, so a late report about it is recognized (see docs/trading.md).
"""

from __future__ import annotations

from collections import deque

import attrs


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
