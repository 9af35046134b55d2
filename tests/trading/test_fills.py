"""Fill accounting: channel fills that beat the REST reply, venue fees, received sizes."""

from __future__ import annotations

from typing import Any

import attrs
import trio

from actors.trading.breaker import CircuitBreaker
from actors.trading.order_runner import OrderRunner, VenueGate
from actors.trading.rate_limit import TokenBucket
from actors.trading.retry import RetryPolicy
from actors.trading.venue_clients import AccountSnapshot, OrderStatus
from protocols.fixed import SIZE_ONE
from protocols.messages import (
    Fill,
    FillStatus,
    InstrumentId,
    Liquidity,
    OrderIntent,
    OrderReject,
    OrderState,
    Outcome,
    Side,
    Venue,
)
from tests.trading.helpers import buy_intent

TOKEN = InstrumentId(venue=Venue.POLYMARKET, symbol="tok", outcome=Outcome.YES)


def buy(oid: str, size: int = 10 * SIZE_ONE) -> OrderIntent:
    return buy_intent(oid, TOKEN, size, price=500_000)


def channel_fill(order_id: str, size: int, fid: str = "t1") -> Fill:
    return Fill(
        fill_id=fid,
        venue_order_id=order_id,
        client_order_id="",
        instrument=TOKEN,
        side=Side.BUY,
        price=500_000,
        size=size,
        fee=-1,
        liquidity=Liquidity.TAKER,
        status=FillStatus.MATCHED,
        venue_ts_ms=0,
        recv_ns=0,
        fee_rate_bps=720,
    )


@attrs.define(eq=False)
class RacingClient:
    """A Polymarket-like client whose user channel reports the fill before the REST reply."""

    runner: OrderRunner | None = None
    venue: Venue = Venue.POLYMARKET
    forwarded: list[Fill] = attrs.field(factory=list)

    def expected_order_id(self, intent: OrderIntent) -> str:
        return "0xhash-" + intent.client_order_id

    async def place(self, intent: OrderIntent) -> OrderStatus | OrderReject:
        assert self.runner is not None
        early = self.runner.tracker.from_channel(
            channel_fill(self.expected_order_id(intent), intent.size)
        )
        if early is not None:
            self.forwarded.append(early)
        return OrderStatus(
            intent.client_order_id,
            self.expected_order_id(intent),
            TOKEN,
            OrderState.FILLED,
            intent.size,
            intent.size,
            500_000,
            -1,
        )

    async def lookup(self, client_order_id: str, instrument: InstrumentId) -> OrderStatus | None:
        return None

    async def cancel(self, client_order_id: str, venue_order_id: str) -> bool:
        return True

    async def account(self) -> AccountSnapshot:
        return AccountSnapshot(self.venue, 0, (), None)

    async def aclose(self) -> None:
        return None


async def test_channel_fill_before_the_rest_reply_is_counted_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    client = RacingClient()
    out: list[Any] = []

    async def emit(msg: Any) -> None:
        out.append(msg)

    gate = VenueGate(client=client, bucket=TokenBucket(10.0, 10.0), breaker=CircuitBreaker())
    runner = OrderRunner(gates={Venue.POLYMARKET: gate}, emit=emit, retry=RetryPolicy())
    client.runner = runner
    it = buy("race")
    result = await runner.place(it)
    assert result.filled == it.size
    # The channel's fill was linked to our order before the send and carries the rate...
    assert [f.client_order_id for f in client.forwarded] == [it.client_order_id]
    assert client.forwarded[0].fee_rate_bps == 720
    # ...and the REST ack adds nothing on top of it.
    assert [m for m in out if isinstance(m, Fill)] == []


def test_fee_in_shares_keeps_conservation_and_received_size() -> None:
    from actors.trading.fees import FeeBook
    from actors.trading.ledger import Ledger

    ledger = Ledger.with_balances({Venue.POLYMARKET: 100 * SIZE_ONE})
    book = FeeBook()
    f = channel_fill("0xh", 10 * SIZE_ONE)  # rate 720 bps, 10 @ 0.50
    cost = book.cost(f)
    assert cost.fee == 180_000  # 10 x 0.072 x 0.25 = 0.18
    assert cost.fee_shares == 360_000  # 0.18 / 0.50
    ledger.apply_fill(f, cost.fee, cost.fee_shares)
    assert ledger.positions[TOKEN].size == 10 * SIZE_ONE - 360_000 == cost.received
    assert ledger.cash[Venue.POLYMARKET] == 95 * SIZE_ONE  # the fee did not leave as cash
    assert ledger.fees_paid == 180_000
    assert ledger.conserved()
    # A REST-derived fill (no rate) uses the rate the channel reported for the instrument.
    book.learn(f)
    rest = Fill(
        fill_id="r",
        venue_order_id="v",
        client_order_id="c",
        instrument=TOKEN,
        side=Side.BUY,
        price=500_000,
        size=10 * SIZE_ONE,
        fee=-1,
        liquidity=Liquidity.TAKER,
        status=FillStatus.MATCHED,
        venue_ts_ms=0,
        recv_ns=0,
        fee_rate_bps=-1,
    )
    rest_cost = book.cost(rest)
    assert (rest_cost.fee, rest_cost.fee_shares, rest_cost.received) == (
        cost.fee,
        cost.fee_shares,
        cost.received,
    )
    assert not cost.estimated  # the channel's fill carried its own rate
    assert rest_cost.estimated  # the REST fill's rate was borrowed: the stored fee says so
    assert book.estimated == 0  # the configured fallback was not needed


def test_a_configured_rate_between_whole_bps_rounds_up_for_the_fallback() -> None:
    """The fallback rate for a fill that carries none is the configured worst case, kept
    in whole bps as Polymarket reports rates: rounded up, never down, so the shares a buy
    is credited are never more than the venue delivered (an unwind never oversells)."""
    from actors.trading.fees import FeeBook
    from protocols.config.trading import ExecutorConfig, VenueExecConfig

    cfg = ExecutorConfig(polymarket=VenueExecConfig(fee_rate="0.07255"))
    assert FeeBook.from_config(cfg).polymarket_rate.bps == 726
    exact = ExecutorConfig(polymarket=VenueExecConfig(fee_rate="0.072"))
    assert FeeBook.from_config(exact).polymarket_rate.bps == 720
