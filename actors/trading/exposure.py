"""What the pre-trade checks read on every opportunity, kept per instrument.

The checks need, for the legs' instruments and in total: the cash at risk (|position
cost| plus the reservations of open buy orders) per instrument, per venue and overall;
the shares set aside by open sells; and which instruments count as open positions (a
position, or an open buy order). Summing those over every position and open order on
each opportunity made a decision cost grow with what the fund holds, roughly linearly in
the positions and open orders (``arbtree bench trading`` prints the cost against the
size of the books).

The ledger calls :meth:`ExposureIndex.refresh` for an instrument after every event that
changes it. ``refresh`` recomputes that instrument's figures from its own state (its
position and its open orders) and moves the venue and total sums by the difference.
Each event then costs O(open orders on that instrument), and no running arithmetic can
drift from the books. :meth:`ExposureIndex.rebuilt` recomputes everything from scratch;
the tests compare the two after every event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

import attrs

from protocols.messages import InstrumentId, Side, Venue


class _Order(Protocol):
    """The part of an open order the index reads (a ``TrackedOrder``)."""

    @property
    def side(self) -> Side: ...

    @property
    def reserved(self) -> int: ...

    @property
    def reserved_shares(self) -> int: ...


@attrs.define
class ExposureIndex:
    by_instrument: dict[InstrumentId, int] = attrs.field(factory=dict)  # > 0 only
    by_venue: dict[Venue, int] = attrs.field(factory=dict)
    total: int = 0
    set_aside: dict[InstrumentId, int] = attrs.field(factory=dict)  # > 0 only
    # A position (size != 0) or an open buy order: what max_open_positions counts.
    open_instruments: set[InstrumentId] = attrs.field(factory=set)

    def refresh(
        self, instrument: InstrumentId, size: int, cost: int, orders: Iterable[_Order]
    ) -> None:
        """Recompute ``instrument`` from its position (``size``, ``cost``) and its open
        orders."""
        exposure = abs(cost)
        shares = 0
        buying = False
        for order in orders:
            shares += order.reserved_shares
            if order.side is Side.BUY:
                buying = True
                exposure += order.reserved
        before = self.by_instrument.get(instrument, 0)
        if exposure != before:
            if exposure:
                self.by_instrument[instrument] = exposure
            else:
                del self.by_instrument[instrument]
            venue = instrument.venue
            self.by_venue[venue] = self.by_venue.get(venue, 0) + exposure - before
            self.total += exposure - before
        if shares:
            self.set_aside[instrument] = shares
        else:
            self.set_aside.pop(instrument, None)
        if size or buying:
            self.open_instruments.add(instrument)
        else:
            self.open_instruments.discard(instrument)

    @classmethod
    def rebuilt(
        cls,
        positions: Mapping[InstrumentId, tuple[int, int]],
        orders: Mapping[InstrumentId, Iterable[_Order]],
    ) -> ExposureIndex:
        """The index computed from scratch: ``positions`` maps an instrument to its
        (size, cost), ``orders`` to its open orders."""
        index = cls()
        for instrument in set(positions) | set(orders):
            size, cost = positions.get(instrument, (0, 0))
            index.refresh(instrument, size, cost, orders.get(instrument, ()))
        index.by_venue = {v: x for v, x in index.by_venue.items() if x}
        return index

    def same_as(self, other: ExposureIndex) -> bool:
        venues = {v: x for v, x in self.by_venue.items() if x}
        return (
            self.by_instrument == other.by_instrument
            and venues == other.by_venue
            and self.total == other.total
            and self.set_aside == other.set_aside
            and self.open_instruments == other.open_instruments
        )
