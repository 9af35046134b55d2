"""Helpers of the retention tests: a clock, a fund core with retention, and a pipeline
that plays the executor's side (accept, ack, fills, final states)."""

from __future__ import annotations

import msgspec

from actors.trading.control import TradingControl
from actors.trading.fill_tracker import FillTracker
from actors.trading.fund_core import FundCore
from actors.trading.ledger import Ledger
from actors.trading.messages import ExecutionRequest, OrderFinal, RetireOrders
from actors.trading.venue_clients import OrderStatus
from protocols.config.trading import (
    RetentionConfig,
)
from protocols.messages import (
    Fill,
    FillStatus,
    InstrumentId,
    Liquidity,
    Opportunity,
    OrderAck,
    OrderIntent,
    OrderState,
    Venue,
)
from tests.trading.helpers import RULES, limits, opp

S = 1_000_000_000  # one second in ns


RETAIN_S = 600.0


SWEEP_S = 10.0


BIG = 10**15


class Clock:
    def __init__(self, ns: int = 1_000 * S) -> None:
        self.ns = ns

    def __call__(self) -> int:
        return self.ns


def retention_core(
    clock: Clock, *, retain_s: float = RETAIN_S, max_done: int = 100_000, remember: int = 100_000
) -> FundCore:
    c = FundCore(
        limits=limits(
            max_exposure_per_instrument=BIG,
            max_exposure_per_pair=BIG,
            max_exposure_per_venue=BIG,
            max_exposure_total=BIG,
            max_notional_per_order=BIG,
            daily_loss_limit=BIG,
        ),
        rules=dict(RULES),
        control=TradingControl(),
        clock_ns=clock,
        wall_ms=lambda: 1_000,
        retention=RetentionConfig(
            retain_done_s=retain_s,
            max_done_orders=max_done,
            sweep_interval_s=SWEEP_S,
            remember_retired=remember,
        ),
    )
    c.ledger = Ledger.with_balances({Venue.POLYMARKET: BIG, Venue.KALSHI: BIG})
    return c


def fresh_opp(clock: Clock, oid: str) -> Opportunity:
    return msgspec.structs.replace(opp(oid=oid), recv_ns=clock.ns, detect_ns=clock.ns)


def vid_of(coid: str) -> str:
    return "v-" + coid


def trade(
    it: OrderIntent,
    fid: str,
    size: int,
    *,
    status: FillStatus = FillStatus.MATCHED,
    coid: str | None = None,
) -> Fill:
    """A user-channel trade as each venue reports it: Kalshi carries our client order id,
    Polymarket only its own order id (the tracker links it); Polymarket fee 0 (no shares
    taken), Kalshi 0.001 per trade."""
    poly = it.instrument.venue is Venue.POLYMARKET
    return Fill(
        fill_id=fid,
        venue_order_id=vid_of(it.client_order_id),
        client_order_id=("" if poly else it.client_order_id) if coid is None else coid,
        instrument=it.instrument,
        side=it.side,
        price=it.limit_price,
        size=size,
        fee=0 if poly else 1_000,
        liquidity=Liquidity.TAKER,
        status=status,
        venue_ts_ms=0,
        recv_ns=0,
        fee_rate_bps=0,
    )


def rest_status(it: OrderIntent, filled: int, trades: int) -> OrderStatus:
    poly = it.instrument.venue is Venue.POLYMARKET
    return OrderStatus(
        client_order_id=it.client_order_id,
        venue_order_id=vid_of(it.client_order_id),
        instrument=it.instrument,
        state=OrderState.FILLED if filled == it.size else OrderState.CANCELLED,
        size=it.size,
        filled_size=filled,
        avg_price=it.limit_price,
        fee=0 if poly else 1_000 * trades,
    )


def ack(it: OrderIntent, filled: int) -> OrderAck:
    return OrderAck(
        client_order_id=it.client_order_id,
        venue_order_id=vid_of(it.client_order_id),
        instrument=it.instrument,
        state=OrderState.FILLED,
        filled_size=filled,
        venue_ts_ms=0,
        ack_ns=0,
    )


def final(it: OrderIntent, filled: int) -> OrderFinal:
    state = OrderState.FILLED if filled == it.size else OrderState.CANCELLED
    return OrderFinal(
        client_order_id=it.client_order_id, state=state, filled_size=filled, reason="venue", at_ns=0
    )


class Pipeline:
    """The executor's fill tracker in front of the fund manager's books, wired as the
    executor wires them: channel fills through ``from_channel``, REST through
    ``from_status``, retirement notices from the fund manager to the tracker."""

    def __init__(self, core: FundCore) -> None:
        self.core = core
        self.tracker = FillTracker()

    def channel(self, fill: Fill) -> Fill | None:
        out = self.tracker.from_channel(fill)
        if out is not None:
            self.core.on_outcome(out)
            if out.client_order_id and out.status is not FillStatus.FAILED:
                self.tracker.notify(out.client_order_id, out.size)
        return out

    def rest(self, it: OrderIntent, status: OrderStatus) -> Fill | None:
        self.tracker.link(it.client_order_id, status.venue_order_id)
        self.core.on_outcome(ack(it, status.filled_size))
        out = self.tracker.from_status(it, status)
        if out is not None:
            self.core.on_outcome(out)
        self.core.on_outcome(final(it, status.filled_size))
        return out

    def sweep(self) -> RetireOrders | None:
        notice = self.core.retire()
        if notice is not None:
            self.tracker.retire(notice.client_order_ids, notice.fill_keys)
        return notice


def accept(c: FundCore, clock: Clock, oid: str) -> tuple[OrderIntent, OrderIntent]:
    req = c.decide(fresh_opp(clock, oid))
    assert isinstance(req, ExecutionRequest), req
    poly, kalshi = req.intents
    return poly, kalshi


def held(c: FundCore, inst: InstrumentId) -> int:
    pos = c.ledger.positions.get(inst)
    return pos.size if pos is not None else 0
