"""Venue order clients: one interface, paper/live HTTP implementations per venue.

The executor talks only to :class:`VenueClient`. Outcomes are explicit:

* ``place`` returns an :class:`OrderStatus` (the venue's ack with the filled size, average
  price and fee known so far) or a definite ``OrderReject``; it raises :class:`NotSent`
  when the request provably never left (connect error, pool timeout: safe to retry with
  the same client order id),
  :class:`Ambiguous` when it may have reached the venue (timeout or reset after sending,
  a 5xx), and :class:`RateLimited` on a 429.
* ``lookup`` finds an order by client order id: an :class:`OrderStatus`, or ``None`` when
  the venue definitively does not know it.
"""

from __future__ import annotations

from typing import Protocol

import attrs

from protocols.messages import Fill, InstrumentId, OrderIntent, OrderReject, OrderState
from protocols.messages import Venue as Venue


class VenueError(Exception):
    pass


class NotSent(VenueError):
    """The request never reached the venue: retry (same client order id) is safe."""


class Ambiguous(VenueError):
    """The request may have reached the venue: resolve by lookup before any resend."""


class RateLimited(VenueError):
    def __init__(self, message: str, retry_after_s: float | None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@attrs.frozen
class OrderStatus:
    client_order_id: str
    venue_order_id: str
    instrument: InstrumentId
    state: OrderState
    size: int
    filled_size: int
    avg_price: int = 0  # 0 = unknown
    fee: int = -1  # cash; -1 = unknown
    fills: tuple[Fill, ...] = ()


@attrs.frozen
class AccountSnapshot:
    """What reconciliation compares against the checkpoint."""

    venue: Venue
    cash: int  # total cash at the venue, reserved-by-orders included
    open_orders: tuple[str, ...]  # client order ids of resting orders
    # InstrumentId.key() -> signed size; None = this venue/endpoint cannot report positions
    positions: dict[str, int] | None


class VenueClient(Protocol):
    venue: Venue

    async def place(self, intent: OrderIntent) -> OrderStatus | OrderReject: ...

    async def lookup(
        self, client_order_id: str, instrument: InstrumentId
    ) -> OrderStatus | None: ...

    async def cancel(self, client_order_id: str, venue_order_id: str) -> bool: ...

    async def account(self) -> AccountSnapshot: ...

    async def aclose(self) -> None: ...
