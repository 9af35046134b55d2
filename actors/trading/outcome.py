"""What a run's trades locked in, per opportunity and in total, from the booked fills.

An arbitrage holds each hedged YES+NO pair to resolution, where exactly one of the two
pays $1 a share, so realized PnL stays 0 until settlement and says nothing about what a
run earned. :class:`OutcomeBook` answers that instead, from the fills the ledger books:

* **locked-in edge**: per opportunity, the shares both legs still hold (the hedged pairs)
  times $1, minus what those shares cost, fees included;
* **unhedged remainder**: per leg, the shares beyond the hedge at their cost (a
  Polymarket buy pays its fee in shares, so the other leg always keeps a few);
* **unwinds**: what trading a leg back (its partner failed, or filled less) realized,
  net of fees, and how many unwind orders filled.

All in exact 1e-6 units (:mod:`protocols.fixed`). A leg's cost is every cash flow of its
buys (notional, plus a fee paid in cash; a fee paid in shares shows as fewer shares);
shares sold back leave at their average cost. Pure and synchronous: the ledger feeds it
each booked fill and each reversal (settlement FAILED), so it always agrees with the
books.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs
import msgspec

from protocols.fixed import PRICE_ONE
from protocols.messages import InstrumentId

UNWIND_PREFIX = "unw-"  # actors.trading.ids.unwind_order_id


def _prorata(total: int, part: int, whole: int) -> int:
    """``total * part / whole`` rounded toward zero; exact when part == whole."""
    if part == whole:
        return total
    if whole == 0:
        return 0
    q = abs(total) * part // whole
    return q if total >= 0 else -q


@attrs.define
class LegBook:
    """One instrument's fills within one opportunity."""

    bought: int = 0  # shares received by the legs' buys (after fee shares)
    bought_cost: int = 0  # cash those buys took, fees included
    sold: int = 0  # shares sold back by unwinds
    sold_proceeds: int = 0  # cash the unwinds brought in, net of their fees
    fees: int = 0  # every fee on this leg (cash value; in shares or in cash)

    @property
    def held(self) -> int:
        return self.bought - self.sold

    def held_cost(self) -> int:
        """Cost of the shares still held (average cost)."""
        return self.bought_cost - _prorata(
            self.bought_cost, min(self.sold, self.bought), self.bought
        )

    def realized(self) -> int:
        """Unwind proceeds minus the average cost of the shares sold."""
        if not self.sold:
            return 0
        return self.sold_proceeds - _prorata(
            self.bought_cost, min(self.sold, self.bought), self.bought
        )


class UnhedgedLeg(msgspec.Struct, frozen=True, kw_only=True):
    instrument: InstrumentId
    size: int  # 1e-6 shares beyond the hedge
    cost: int  # their cost, fees included


class OpportunityOutcome(msgspec.Struct, frozen=True, kw_only=True):
    opportunity_id: str
    hedged: int  # 1e-6 pairs held on every leg
    hedged_cost: int  # what the hedged shares of every leg cost, fees included
    locked_edge: int  # hedged x $1 - hedged_cost
    unhedged: tuple[UnhedgedLeg, ...]
    realized: int  # from unwinds, net of their fees
    unwinds: int  # unwind orders that filled
    fees: int


class TradingOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """The totals a run reports (summary, panel, /metrics, the ``trading_outcome`` table)."""

    opportunities: int  # opportunities with at least one fill
    hedged: int
    hedged_cost: int
    locked_edge: int
    unhedged_size: int
    unhedged_cost: int
    unhedged_mark: int | None  # the unhedged shares at the current best bids; None unknown
    realized: int
    unwinds: int
    unwind_cost: int  # what the unwinds lost: -realized when negative, else 0
    fees: int


def outcome_of(
    opportunity_id: str, legs: Mapping[InstrumentId, LegBook], unwinds: int
) -> OpportunityOutcome:
    """One opportunity's hedge: the smallest holding among its legs is the hedged size
    (a one-legged opportunity hedges nothing)."""
    held = {i: max(0, leg.held) for i, leg in legs.items()}
    hedged = min(held.values()) if len(held) >= 2 else 0
    hedged_cost = 0
    unhedged: list[UnhedgedLeg] = []
    for instrument, leg in sorted(legs.items(), key=lambda kv: kv[0].key()):
        cost = leg.held_cost() if leg.held > 0 else 0
        part = _prorata(cost, hedged, held[instrument]) if held[instrument] else 0
        hedged_cost += part
        if held[instrument] > hedged:
            unhedged.append(
                UnhedgedLeg(instrument=instrument, size=held[instrument] - hedged, cost=cost - part)
            )
    return OpportunityOutcome(
        opportunity_id=opportunity_id,
        hedged=hedged,
        hedged_cost=hedged_cost,
        locked_edge=hedged - hedged_cost,  # $1 a pair: 1e-6 pairs are 1e-6 USD
        unhedged=tuple(unhedged),
        realized=sum(leg.realized() for leg in legs.values()),
        unwinds=unwinds,
        fees=sum(leg.fees for leg in legs.values()),
    )


@attrs.define
class OutcomeBook:
    """Per opportunity, per leg: what its fills bought, sold back and cost."""

    legs: dict[str, dict[InstrumentId, LegBook]] = attrs.field(factory=dict)
    # opp -> unwind order -> its booked fills (an order counts while it has one)
    unwind_orders: dict[str, dict[str, int]] = attrs.field(factory=dict)
    unattributed_fills: int = 0  # fills of no tracked order: no opportunity to pair them in
    # opp -> the size its first leg was sent at (kept when retention drops its orders)
    sent_size: dict[str, int] = attrs.field(factory=dict)

    def copy(self) -> OutcomeBook:
        """An independent copy (the fund journal's base outlives the books it came from)."""
        return OutcomeBook(
            legs={
                opp: {inst: attrs.evolve(leg) for inst, leg in legs.items()}
                for opp, legs in self.legs.items()
            },
            unwind_orders={opp: dict(orders) for opp, orders in self.unwind_orders.items()},
            unattributed_fills=self.unattributed_fills,
            sent_size=dict(self.sent_size),
        )

    def sent(self, opportunity_id: str, client_order_id: str, size: int) -> None:
        """An order of ``opportunity_id`` was reserved; its first leg's size is the
        opportunity's (unwinds are not legs)."""
        if opportunity_id and not client_order_id.startswith(UNWIND_PREFIX):
            self.sent_size.setdefault(opportunity_id, size)

    def book(
        self,
        *,
        opportunity_id: str,
        client_order_id: str,
        instrument: InstrumentId,
        size_delta: int,
        outflow: int,
        fee: int,
        sign: int = 1,
    ) -> None:
        """One fill (``sign`` = -1 takes a reversed one back out): ``size_delta`` is the
        change of the position (shares received, negative for a sale), ``outflow`` the cash
        that left (negative when it came in), ``fee`` its cash value."""
        if not opportunity_id:
            self.unattributed_fills += sign
            return
        leg = self.legs.setdefault(opportunity_id, {}).setdefault(instrument, LegBook())
        if size_delta >= 0:
            leg.bought += sign * size_delta
            leg.bought_cost += sign * outflow
        else:
            leg.sold += sign * -size_delta
            leg.sold_proceeds += sign * -outflow
        leg.fees += sign * fee
        if client_order_id.startswith(UNWIND_PREFIX):
            filled = self.unwind_orders.setdefault(opportunity_id, {})
            left = filled.get(client_order_id, 0) + sign
            if left > 0:
                filled[client_order_id] = left
            else:  # its last fill reversed: the unwind never happened
                filled.pop(client_order_id, None)

    def opportunity(self, opportunity_id: str) -> OpportunityOutcome | None:
        legs = self.legs.get(opportunity_id)
        if legs is None:
            return None
        return outcome_of(opportunity_id, legs, len(self.unwind_orders.get(opportunity_id, ())))

    def outcomes(self) -> list[OpportunityOutcome]:
        return [o for opp in self.legs if (o := self.opportunity(opp)) is not None]

    def totals(self, marks: Mapping[InstrumentId, int] | None = None) -> TradingOutcome:
        """Run totals; ``marks`` (best bid per instrument, 1e-6 USD) values the unhedged
        shares, None when a held instrument has no mark."""
        return totals(self.outcomes(), marks)


def totals(
    outcomes: Iterable[OpportunityOutcome], marks: Mapping[InstrumentId, int] | None = None
) -> TradingOutcome:
    items = list(outcomes)
    unhedged = [u for o in items for u in o.unhedged]
    mark: int | None = 0
    for u in unhedged:
        price = None if marks is None else marks.get(u.instrument)
        if price is None or mark is None:
            mark = None
        else:
            mark += u.size * price // PRICE_ONE
    realized = sum(o.realized for o in items)
    return TradingOutcome(
        opportunities=len(items),
        hedged=sum(o.hedged for o in items),
        hedged_cost=sum(o.hedged_cost for o in items),
        locked_edge=sum(o.locked_edge for o in items),
        unhedged_size=sum(u.size for u in unhedged),
        unhedged_cost=sum(u.cost for u in unhedged),
        unhedged_mark=mark,
        realized=realized,
        unwinds=sum(o.unwinds for o in items),
        unwind_cost=max(0, -realized),
        fees=sum(o.fees for o in items),
    )
