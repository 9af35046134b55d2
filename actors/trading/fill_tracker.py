"""Which executions an order has already reported, so fills are emitted exactly once.

REST acks, lookups and the venues' user channels may each report the same execution:
the tracker keeps a per-order filled-size watermark (and fill ids already seen) and turns
whatever arrives into only the increments not yet emitted. Split out of ``two_leg`` (the
order runner and the two-leg logic use it; the executor feeds it channel fills).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import attrs
import msgspec
import trio

from actors.trading.fees import FeeBook
from actors.trading.venue_clients import OrderStatus
from protocols.messages import Fill, FillStatus, Liquidity, OrderIntent, Venue


@attrs.define
class FillTracker:
    """Per-order filled-size watermark: REST acks/lookups and user-channel fills may report
    the same execution; only increments beyond what was already sent reach the fund
    manager, and channel fills are deduplicated by (venue, fill id) first."""

    emitted: dict[str, int] = attrs.field(factory=dict)
    channel_total: dict[str, int] = attrs.field(factory=dict)
    seen: set[tuple[Venue, str]] = attrs.field(factory=set)
    by_venue_order: dict[str, str] = attrs.field(factory=dict)
    duplicates: int = 0
    absorbed: int = 0
    # Trades reported FAILED after MATCHED (Polymarket): forwarded once per fill id.
    failed: set[tuple[Venue, str]] = attrs.field(factory=set)
    fee_book: FeeBook = attrs.field(factory=FeeBook)
    # Shares each order really added (buys: net of a fee taken in shares) or delivered.
    net: dict[str, int] = attrs.field(factory=dict)
    # Filled size whose fills the fund manager has been sent (channel path), and waiters.
    delivered: dict[str, int] = attrs.field(factory=dict)
    _waiters: dict[str, trio.Event] = attrs.field(factory=dict)
    # Retention: per order, the venue order ids linked to it and the fill keys seen for it,
    # so ``retire`` drops everything about an order the fund manager retired.
    _links_of: dict[str, list[str]] = attrs.field(factory=dict)
    _keys_of: dict[str, list[tuple[Venue, str]]] = attrs.field(factory=dict)
    retired: int = 0

    def retire(
        self, client_order_ids: Iterable[str], fill_keys: Iterable[tuple[Venue, str]]
    ) -> None:
        """Forget orders the fund manager retired (it did so first: these watermarks are
        never dropped while the books still track the order) and fill keys of no order."""
        for coid in client_order_ids:
            self.emitted.pop(coid, None)
            self.channel_total.pop(coid, None)
            self.net.pop(coid, None)
            self.delivered.pop(coid, None)
            self._waiters.pop(coid, None)
            for vid in self._links_of.pop(coid, ()):
                if self.by_venue_order.get(vid) == coid:
                    del self.by_venue_order[vid]
            for key in self._keys_of.pop(coid, ()):
                self.seen.discard(key)
                self.failed.discard(key)
            self.retired += 1
        for key in fill_keys:
            self.seen.discard(key)
            self.failed.discard(key)

    def statistics(self) -> dict[str, Any]:
        return {
            "watermarks": len(self.emitted),
            "channel_totals": len(self.channel_total),
            "fill_ids": len(self.seen),
            "links": len(self.by_venue_order),
            "waiters": len(self._waiters),
            "retired": self.retired,
        }

    def _record(self, coid: str, fill: Fill) -> None:
        self.net[coid] = self.net.get(coid, 0) + self.fee_book.cost(fill).received

    def notify(self, coid: str, size: int) -> None:
        """The fill loop sent ``size`` more of ``coid``'s fills to the fund manager."""
        self.delivered[coid] = self.delivered.get(coid, 0) + size
        event = self._waiters.pop(coid, None)
        if event is not None:
            event.set()

    async def wait_delivered(self, coid: str, size: int) -> None:
        """Until the channel's fills for ``coid`` cover ``size`` and have been sent."""
        while self.delivered.get(coid, 0) < size:
            event = self._waiters.setdefault(coid, trio.Event())
            await event.wait()

    def link(self, client_order_id: str, venue_order_id: str) -> None:
        if venue_order_id and self.by_venue_order.get(venue_order_id) != client_order_id:
            self.by_venue_order[venue_order_id] = client_order_id
            self._links_of.setdefault(client_order_id, []).append(venue_order_id)

    def from_status(self, intent: OrderIntent, status: OrderStatus) -> Fill | None:
        coid = intent.client_order_id
        done = self.emitted.get(coid, 0)
        inc = status.filled_size - done
        if inc <= 0:
            return None
        self.emitted[coid] = status.filled_size
        price = status.avg_price or intent.limit_price
        fee = -1
        if status.fee >= 0 and status.filled_size:
            fee = status.fee * inc // status.filled_size
        fill = Fill(
            fill_id=f"{status.venue_order_id or coid}:rest:{status.filled_size}",
            venue_order_id=status.venue_order_id,
            client_order_id=coid,
            instrument=intent.instrument,
            side=intent.side,
            price=price,
            size=inc,
            fee=fee,
            liquidity=Liquidity.TAKER,
            status=FillStatus.MATCHED,
            venue_ts_ms=0,
            recv_ns=time.monotonic_ns(),
            # REST does not say the rate: the last one the channel reported, else unknown.
            fee_rate_bps=self.fee_book.rate_for(intent.instrument),
        )
        self._record(coid, fill)
        return fill

    def from_channel(self, fill: Fill) -> Fill | None:
        key = (fill.instrument.venue, fill.fill_id)
        if fill.status is FillStatus.FAILED:
            return self._failed(fill, key)
        if key in self.seen:
            self.duplicates += 1
            return None
        self.seen.add(key)
        self.fee_book.learn(fill)
        coid = fill.client_order_id or self.by_venue_order.get(fill.venue_order_id, "")
        if not coid:
            return fill  # not one of ours as far as we know: the fund manager decides
        self._keys_of.setdefault(coid, []).append(key)
        total = self.channel_total.get(coid, 0) + fill.size
        self.channel_total[coid] = total
        done = self.emitted.get(coid, 0)
        inc = total - done
        if inc <= 0:
            self.absorbed += 1
            return None
        self.emitted[coid] = total
        if inc == fill.size and fill.client_order_id == coid:
            out = fill
        else:
            out = Fill(
                fill_id=fill.fill_id,
                venue_order_id=fill.venue_order_id,
                client_order_id=coid,
                instrument=fill.instrument,
                side=fill.side,
                price=fill.price,
                size=inc,
                fee=fill.fee if inc == fill.size else -1,
                liquidity=fill.liquidity,
                status=fill.status,
                venue_ts_ms=fill.venue_ts_ms,
                recv_ns=fill.recv_ns,
                fee_rate_bps=fill.fee_rate_bps,
            )
        self._record(coid, out)
        return out

    def _failed(self, fill: Fill, key: tuple[Venue, str]) -> Fill | None:
        """A FAILED report of a trade the channel (usually) already delivered as MATCHED:
        it is not a new execution but must reach the fund manager, which reverses what it
        booked under this fill id. Watermarks are left alone: the venue's order still
        reports the size as matched, so a later REST status must not re-emit it."""
        if key in self.failed:
            self.duplicates += 1
            return None
        self.failed.add(key)
        self.seen.add(key)  # a MATCHED arriving after its FAILED is not an execution
        coid = fill.client_order_id or self.by_venue_order.get(fill.venue_order_id, "")
        if coid:
            self._keys_of.setdefault(coid, []).append(key)
        if coid == fill.client_order_id:
            return fill
        return msgspec.structs.replace(fill, client_order_id=coid)
