"""The fund manager's books: cash, reservations, positions, fees, realized PnL.

Pure and synchronous; the fund-manager actor is its single owner (no locks). Units follow
:mod:`protocols.fixed` (1e-6 USD, 1e-6 shares).

Conservation (invariant I7, checked by the tests after every event)::

    sum cash + sum reserved + sum position cost + fees_paid - realized_pnl == capital

``cash`` is free cash per venue, ``reserved`` the cash set aside for in-flight orders,
``position cost`` the signed cost basis of open positions (average-cost method), and
``realized_pnl`` is gross of fees (fees are counted separately).
"""

from __future__ import annotations

import enum

import attrs

from actors.trading.exposure import ExposureIndex
from actors.trading.outcome import OutcomeBook
from protocols.fixed import Rounding, notional
from protocols.messages import (
    Fill,
    FundCheckpointRecord,
    InstrumentId,
    OrderIntent,
    OrderState,
    Outcome,
    Position,
    Side,
    Venue,
    VenueBalance,
)


class LedgerError(RuntimeError):
    """An event the books cannot apply (a bug or a venue report we cannot trust)."""


class OrderPhase(enum.StrEnum):
    LIVE = "live"  # sent or about to be; reservation held
    AMBIGUOUS = "ambiguous"  # outcome unknown; reservation held until resolved
    DONE = "done"  # terminal; reservation released


@attrs.define
class TrackedOrder:
    client_order_id: str
    opportunity_id: str
    instrument: InstrumentId
    side: Side
    limit_price: int
    size: int
    reserved: int  # cash still reserved for this order
    reserved_shares: int = 0  # sells: position size set aside
    filled: int = 0
    fees: int = 0
    phase: OrderPhase = OrderPhase.LIVE
    state: OrderState = OrderState.PENDING
    venue_order_id: str = ""
    # (venue, fill id) of every fill reported for this order (booked or FAILED), so their
    # records are dropped with the order when it is retired (see ``forget``).
    fill_keys: list[tuple[Venue, str]] = attrs.field(factory=list)


@attrs.frozen
class BookedFill:
    """What applying one fill changed, kept so a fill that later fails settlement
    (Polymarket MATCHED -> FAILED) can be taken out of the books exactly."""

    client_order_id: str
    instrument: InstrumentId
    size: int  # the fill's size (the order's filled size grew by it)
    outflow: int  # cash that left (free + reserved); negative = cash came in
    fee: int
    size_delta: int  # signed change of the position's size
    cost_delta: int  # signed change of the position's cost basis
    realized: int  # realized PnL the fill booked
    day: int  # UTC day whose daily-loss counters it moved


@attrs.define
class PositionState:
    size: int = 0  # signed shares (1e-6)
    cost: int = 0  # signed cost basis (1e-6 USD)
    realized: int = 0  # realized PnL on this instrument, gross of fees


def _prorata(total: int, part: int, whole: int) -> int:
    """``total * part / whole`` truncated toward zero; exact when part == whole."""
    if part == whole:
        return total
    q = abs(total) * part // whole
    return q if total >= 0 else -q


@attrs.define
class Ledger:
    cash: dict[Venue, int] = attrs.field(factory=dict)
    reserved: dict[Venue, int] = attrs.field(factory=dict)
    positions: dict[InstrumentId, PositionState] = attrs.field(factory=dict)
    # Every order of this incarnation not yet retired (DONE orders are dropped by the fund
    # manager's retention sweep, ``forget``).
    orders: dict[str, TrackedOrder] = attrs.field(factory=dict)
    # The orders not DONE, by client id: pre-trade checks read these on every opportunity,
    # so their cost follows what is open, not every order the run ever placed.
    live: dict[str, TrackedOrder] = attrs.field(factory=dict)
    # The same orders by instrument, and what the pre-trade checks read, kept per
    # instrument (see ``actors.trading.exposure``): a check costs O(legs), not O(books).
    live_by_instrument: dict[InstrumentId, dict[str, TrackedOrder]] = attrs.field(factory=dict)
    exposure: ExposureIndex = attrs.field(factory=ExposureIndex)
    fees_paid: int = 0
    realized_pnl: int = 0
    capital: int = 0
    # Per-day loss accounting (the fund manager rolls the day over).
    day_realized: int = 0
    day_fees: int = 0
    fills_applied: int = 0
    unknown_order_fills: int = 0
    # (venue, fill id) -> what the fill changed; see reverse_fill. Dropped with the order
    # (``forget``) or, for a fill of no tracked order, by the fund manager's sweep.
    booked: dict[tuple[Venue, str], BookedFill] = attrs.field(factory=dict)
    fills_reversed: int = 0
    # What the fills locked in, per opportunity (this incarnation's fills; not checkpointed).
    outcome: OutcomeBook = attrs.field(factory=OutcomeBook)
    # Hedged pairs: two instruments bought together that pay $1 per share held of both
    # (YES + NO of one question). The daily loss counts them at that payout, not their
    # fees as a loss. One complement per instrument (the first learned: a second pairing
    # is ignored, which can only under-count what is locked in).
    complements: dict[InstrumentId, InstrumentId] = attrs.field(factory=dict)
    pair_locked: dict[InstrumentId, int] = attrs.field(factory=dict)  # by the pair's head
    locked_total: int = 0  # payout minus cost of every hedged pair's matched shares
    # Instruments traded together (an opportunity's legs) are on one question: the
    # components of this graph are what ``unhedged`` balances YES against NO in.
    links: dict[InstrumentId, set[InstrumentId]] = attrs.field(factory=dict)
    day_locked_base: int = 0  # locked_total when the day (or these books) began

    # ------------------------------------------------------------------ setup

    @classmethod
    def with_balances(cls, balances: dict[Venue, int]) -> Ledger:
        ledger = cls(cash=dict(balances), reserved=dict.fromkeys(balances, 0))
        ledger.capital = ledger.conservation_value()
        return ledger

    @classmethod
    def from_checkpoint(cls, cp: FundCheckpointRecord, today: int = -1) -> Ledger:
        """Books from a checkpoint. The daily-loss counters are kept only when the
        checkpoint's ``loss_day`` is ``today`` (UTC day number): a new day starts at zero."""
        ledger = cls()
        ledger.fees_paid = cp.fees_paid
        if today >= 0 and cp.loss_day == today:
            ledger.day_fees = cp.day_fees
            ledger.day_realized = cp.day_realized
        for b in cp.balances:
            # Reservations belong to orders of the previous incarnation: they return to cash
            # (open orders are reconciled against the venue before trading resumes).
            ledger.cash[b.venue] = b.cash + b.reserved
            ledger.reserved[b.venue] = 0
        for p in cp.positions:
            ledger.positions[p.instrument] = PositionState(p.size, p.cost, p.realized_pnl)
            ledger.realized_pnl += p.realized_pnl
            ledger._refresh(p.instrument)
        ledger.capital = ledger.conservation_value()
        return ledger

    def checkpoint(self, taken_ns: int, wall_ms: int, loss_day: int = -1) -> FundCheckpointRecord:
        """The books as a record; ``loss_day`` is the UTC day the daily counters belong to."""
        return FundCheckpointRecord(
            balances=tuple(
                VenueBalance(venue=v, cash=self.cash.get(v, 0), reserved=self.reserved.get(v, 0))
                for v in sorted(set(self.cash) | set(self.reserved))
            ),
            positions=tuple(
                Position(
                    instrument=i,
                    size=p.size,
                    cost=p.cost,
                    realized_pnl=p.realized,
                    updated_ns=taken_ns,
                )
                for i, p in sorted(self.positions.items(), key=lambda kv: kv[0].key())
                if p.size or p.realized
            ),
            open_orders=tuple(sorted(self.live)),
            taken_ns=taken_ns,
            wall_ms=wall_ms,
            fees_paid=self.fees_paid,
            day_fees=self.day_fees,
            # What hedged pairs locked in today travels as realized: restored books start
            # their pair base afresh (day_locked_base), so it is counted once.
            day_realized=self.day_realized + self.locked_total - self.day_locked_base,
            loss_day=loss_day,
        )

    # ---------------------------------------------------------------- queries

    def conservation_value(self) -> int:
        return (
            sum(self.cash.values())
            + sum(self.reserved.values())
            + sum(p.cost for p in self.positions.values())
            + self.fees_paid
            - self.realized_pnl
        )

    def conserved(self) -> bool:
        return self.conservation_value() == self.capital

    def instrument_exposure(self, instrument: InstrumentId) -> int:
        """Cash at risk on one instrument: |position cost| + reservations of open buys."""
        return self.exposure.by_instrument.get(instrument, 0)

    def venue_exposure(self, venue: Venue) -> int:
        return self.exposure.by_venue.get(venue, 0)

    def total_exposure(self) -> int:
        return self.exposure.total

    def exposures(self) -> dict[InstrumentId, int]:
        """Every instrument's exposure (> 0 only); a copy."""
        return dict(self.exposure.by_instrument)

    def open_instruments(self) -> set[InstrumentId]:
        """Instruments with a position or an open buy order (``max_open_positions``): the
        index's own set, to read, not to change."""
        return self.exposure.open_instruments

    def open_position_instruments(self) -> set[InstrumentId]:
        return {i for i, p in self.positions.items() if p.size}

    def available_shares(self, instrument: InstrumentId) -> int:
        pos = self.positions.get(instrument)
        held = pos.size if pos is not None else 0
        return held - self.exposure.set_aside.get(instrument, 0)

    def index_consistent(self) -> bool:
        """The per-instrument index equals one rebuilt from the books (tests)."""
        by_instrument: dict[InstrumentId, dict[str, TrackedOrder]] = {}
        for coid, order in self.live.items():
            by_instrument.setdefault(order.instrument, {})[coid] = order
        if by_instrument != {i: d for i, d in self.live_by_instrument.items() if d}:
            return False
        rebuilt = ExposureIndex.rebuilt(
            {i: (p.size, p.cost) for i, p in self.positions.items()},
            {i: list(d.values()) for i, d in by_instrument.items()},
        )
        return self.exposure.same_as(rebuilt)

    def daily_loss(self) -> int:
        """Loss so far today (positive = money lost): fees paid minus realized PnL minus
        what hedged pairs locked in today (their payout less their cost), so the fees of a
        hedged pair are not a loss."""
        return self.day_fees - self.day_realized - (self.locked_total - self.day_locked_base)

    def pair(self, a: InstrumentId, b: InstrumentId) -> None:
        """``a`` and ``b`` pay $1 per share held of both (bought together as a hedge)."""
        if a == b or a in self.complements or b in self.complements:
            return
        self.complements[a], self.complements[b] = b, a
        self._refresh_pair(a)

    def link(self, a: InstrumentId, b: InstrumentId) -> None:
        """``a`` and ``b`` are on one question (they were legs of one opportunity)."""
        self.links.setdefault(a, set()).add(b)
        self.links.setdefault(b, set()).add(a)

    def unhedged(self) -> list[tuple[InstrumentId, int]]:
        """Per question (a component of ``links``), what the YES side holds beyond the NO
        side or the other way round, as (instrument, shares) on the long side, largest
        holding first. Instruments never linked to another are not judged (no pairing is
        known for them: a hedge cannot be told from a naked position)."""
        out: list[tuple[InstrumentId, int]] = []
        seen: set[InstrumentId] = set()
        for start in self.links:
            if start in seen:
                continue
            component, todo = [], [start]
            seen.add(start)
            while todo:
                inst = todo.pop()
                component.append(inst)
                for other in self.links.get(inst, ()):
                    if other not in seen:
                        seen.add(other)
                        todo.append(other)
            held = {i: max(0, self.positions[i].size) for i in component if i in self.positions}
            yes = sum(v for i, v in held.items() if i.outcome is Outcome.YES)
            no = sum(v for i, v in held.items() if i.outcome is not Outcome.YES)
            long_side = Outcome.YES if yes > no else Outcome.NO
            excess = abs(yes - no)
            for inst, size in sorted(held.items(), key=lambda kv: -kv[1]):
                if excess <= 0:
                    break
                if (inst.outcome is Outcome.YES) == (long_side is Outcome.YES) and size > 0:
                    take = min(size, excess)
                    out.append((inst, take))
                    excess -= take
        return out

    def _refresh_pair(self, instrument: InstrumentId) -> None:
        other = self.complements.get(instrument)
        if other is None:
            return
        head = min(instrument, other, key=InstrumentId.key)
        pa, pb = self.positions.get(instrument), self.positions.get(other)
        value = 0
        if pa is not None and pb is not None and pa.size > 0 and pb.size > 0:
            h = min(pa.size, pb.size)
            value = h - pa.cost * h // pa.size - pb.cost * h // pb.size
        self.locked_total += value - self.pair_locked.get(head, 0)
        self.pair_locked[head] = value

    def open_orders(self) -> list[TrackedOrder]:
        return list(self.live.values())

    # ---------------------------------------------------------------- events

    def reserve(
        self,
        *,
        client_order_id: str,
        opportunity_id: str,
        instrument: InstrumentId,
        side: Side,
        limit_price: int,
        size: int,
        amount: int,
    ) -> TrackedOrder:
        """Move ``amount`` from free cash to reserved for a new order."""
        if client_order_id in self.orders:
            raise LedgerError(f"duplicate client order id {client_order_id}")
        venue = instrument.venue
        if amount < 0 or self.cash.get(venue, 0) < amount:
            raise LedgerError(f"cannot reserve {amount} on {venue}")
        self.cash[venue] -= amount
        self.reserved[venue] = self.reserved.get(venue, 0) + amount
        order = TrackedOrder(
            client_order_id=client_order_id,
            opportunity_id=opportunity_id,
            instrument=instrument,
            side=side,
            limit_price=limit_price,
            size=size,
            reserved=amount,
            reserved_shares=size if side is Side.SELL else 0,
        )
        self.orders[client_order_id] = order
        self.outcome.sent(opportunity_id, client_order_id, size)
        self.live[client_order_id] = order
        self.live_by_instrument.setdefault(instrument, {})[client_order_id] = order
        self._refresh(instrument)
        return order

    def reserve_intent(self, intent: OrderIntent, amount: int) -> TrackedOrder:
        """:meth:`reserve` for an order the executor already holds as an intent."""
        return self.reserve(
            client_order_id=intent.client_order_id,
            opportunity_id=intent.opportunity_id,
            instrument=intent.instrument,
            side=intent.side,
            limit_price=intent.limit_price,
            size=intent.size,
            amount=amount,
        )

    def release(self, client_order_id: str, state: OrderState) -> int:
        """Terminal state: return what is still reserved; returns the amount released."""
        order = self.orders.get(client_order_id)
        if order is None or order.phase is OrderPhase.DONE:
            return 0
        amount = order.reserved
        venue = order.instrument.venue
        self.reserved[venue] -= amount
        self.cash[venue] += amount
        order.reserved = 0
        order.reserved_shares = 0
        order.phase = OrderPhase.DONE
        del self.live[client_order_id]
        on_instrument = self.live_by_instrument.get(order.instrument)
        if on_instrument is not None:
            on_instrument.pop(client_order_id, None)
            if not on_instrument:
                del self.live_by_instrument[order.instrument]
        order.state = state
        self._refresh(order.instrument)
        return amount

    def mark_ambiguous(self, client_order_id: str) -> None:
        order = self.orders.get(client_order_id)
        if order is not None and order.phase is OrderPhase.LIVE:
            order.phase = OrderPhase.AMBIGUOUS
            order.state = OrderState.AMBIGUOUS

    def mark_state(self, client_order_id: str, state: OrderState, venue_order_id: str) -> None:
        order = self.orders.get(client_order_id)
        if order is None or order.phase is OrderPhase.DONE:
            return
        order.state = state
        if order.phase is OrderPhase.AMBIGUOUS:
            order.phase = OrderPhase.LIVE
        if venue_order_id:
            order.venue_order_id = venue_order_id

    def apply_fill(self, fill: Fill, fee: int, fee_shares: int = 0, day: int = -1) -> None:
        """Apply one (deduplicated) fill with its fee in cash units.

        ``fee_shares`` > 0 (Polymarket buys): the venue took the fee in shares, so the
        position grows by ``size - fee_shares``, no cash leaves for the fee, and the fee's
        value ``fee`` is moved from the position's cost into ``fees_paid``."""
        if fill.size <= 0:
            raise LedgerError(f"fill {fill.fill_id} has non-positive size")
        venue = fill.instrument.venue
        order = self.orders.get(fill.client_order_id)
        if order is None:
            self.unknown_order_fills += 1
        if fill.side is Side.BUY:
            value = notional(fill.price, fill.size, Rounding.CEIL)
            signed = fill.size
        else:
            value = -notional(fill.price, fill.size, Rounding.FLOOR)
            signed = -fill.size
        in_shares = fee_shares > 0 and fill.side is Side.BUY
        if in_shares:
            if fee_shares >= fill.size:
                raise LedgerError(f"fill {fill.fill_id}: fee of {fee_shares} shares >= size")
            signed = fill.size - fee_shares
        outflow = value + (0 if in_shares else fee)  # cash leaving (negative = coming in)
        consumed = 0
        if order is not None and order.phase is not OrderPhase.DONE and outflow > 0:
            consumed = min(order.reserved, outflow)
            order.reserved -= consumed
            self.reserved[venue] -= consumed
        self.cash[venue] = self.cash.get(venue, 0) - (outflow - consumed)
        self.reserved.setdefault(venue, 0)
        self.fees_paid += fee
        self.day_fees += fee
        pos = self.positions.get(fill.instrument)
        size_before, cost_before = (pos.size, pos.cost) if pos is not None else (0, 0)
        realized = self._trade(fill.instrument, signed, value - fee if in_shares else value)
        self.realized_pnl += realized
        self.day_realized += realized
        self.fills_applied += 1
        pos = self.positions[fill.instrument]
        self.booked[(venue, fill.fill_id)] = BookedFill(
            client_order_id=fill.client_order_id,
            instrument=fill.instrument,
            size=fill.size,
            outflow=outflow,
            fee=fee,
            size_delta=pos.size - size_before,
            cost_delta=pos.cost - cost_before,
            realized=realized,
            day=day,
        )
        self._book_outcome(self.booked[(venue, fill.fill_id)], order, 1)
        if order is not None:
            order.filled += fill.size
            order.fees += fee
            if order.side is Side.SELL:
                order.reserved_shares = max(0, order.reserved_shares - fill.size)
            if order.instrument != fill.instrument:
                self._refresh(order.instrument)
        self._refresh(fill.instrument)

    def reverse_fill(self, venue: Venue, fill_id: str, today: int = -1) -> BookedFill | None:
        """Take a booked fill back out (it failed settlement); None if it was never booked
        or was already reversed, so a repeated report changes nothing.

        Every change the fill made is undone: its cash (reserved part included) returns to
        free cash, its fee leaves ``fees_paid``, the position loses exactly the size, cost
        and realized PnL it added (fills since then keep theirs). The daily counters move
        back only if it was booked ``today``. Conservation holds after it as before."""
        booked = self.booked.pop((venue, fill_id), None)
        if booked is None:
            return None
        self.cash[venue] = self.cash.get(venue, 0) + booked.outflow
        self.fees_paid -= booked.fee
        self.realized_pnl -= booked.realized
        if booked.day == today:
            self.day_fees -= booked.fee
            self.day_realized -= booked.realized
        pos = self.positions.setdefault(booked.instrument, PositionState())
        pos.size -= booked.size_delta
        pos.cost -= booked.cost_delta
        pos.realized -= booked.realized
        order = self.orders.get(booked.client_order_id)
        if order is not None:
            order.filled -= booked.size
            order.fees -= booked.fee
        self.fills_reversed += 1
        self._refresh(booked.instrument)
        self._book_outcome(booked, order, -1)
        return booked

    def _book_outcome(self, booked: BookedFill, order: TrackedOrder | None, sign: int) -> None:
        self.outcome.book(
            opportunity_id=order.opportunity_id if order is not None else "",
            client_order_id=booked.client_order_id,
            instrument=booked.instrument,
            size_delta=booked.size_delta,
            outflow=booked.outflow,
            fee=booked.fee,
            sign=sign,
        )

    def forget(self, client_order_id: str) -> TrackedOrder | None:
        """Retention: drop a DONE order and the per-fill records of its fills; returns it,
        or None if it is unknown or not DONE (an order holding a reservation is never
        dropped). Cash, reservations, positions and PnL are untouched: conservation, the
        checkpoint and the pre-trade checks read none of what goes."""
        order = self.orders.get(client_order_id)
        if order is None or order.phase is not OrderPhase.DONE:
            return None
        del self.orders[client_order_id]
        for key in order.fill_keys:
            self.booked.pop(key, None)
        return order

    def _trade(self, instrument: InstrumentId, qty: int, value: int) -> int:
        """Average-cost position update; returns the realized PnL of the closed part."""
        pos = self.positions.setdefault(instrument, PositionState())
        if pos.size == 0 or (pos.size > 0) == (qty > 0):
            pos.size += qty
            pos.cost += value
            return 0
        closing = min(abs(qty), abs(pos.size))
        cost_removed = _prorata(pos.cost, closing, abs(pos.size))
        value_closing = _prorata(value, closing, abs(qty))
        realized = -value_closing - cost_removed
        pos.cost -= cost_removed
        if abs(qty) <= abs(pos.size):
            pos.size += qty  # value_closing == value here
        else:  # flips through zero: the rest opens the other way
            rest = abs(qty) - closing
            pos.size = rest if qty > 0 else -rest
            pos.cost += value - value_closing
        pos.realized += realized
        return realized

    def refresh(self, instrument: InstrumentId) -> None:
        """Recompute one instrument's exposure figures (after an order was edited)."""
        self._refresh(instrument)

    def _refresh(self, instrument: InstrumentId) -> None:
        if self.complements:
            self._refresh_pair(instrument)
        pos = self.positions.get(instrument)
        orders = self.live_by_instrument.get(instrument)
        self.exposure.refresh(
            instrument,
            pos.size if pos is not None else 0,
            pos.cost if pos is not None else 0,
            orders.values() if orders is not None else (),
        )

    def roll_day(self) -> None:
        self.day_realized = 0
        self.day_fees = 0
        self.day_locked_base = self.locked_total
