"""The ledger's per-instrument exposure index (what the pre-trade checks read) agrees
with the books after every event, buys and sells, fills and reversals included; and the
checks built on it still reject at each limit."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.trading.checks import Rejection, RejectReason, check_opportunity
from actors.trading.ledger import Ledger, OrderPhase
from protocols.fixed import CASH_ONE, SIZE_ONE
from protocols.messages import (
    Fill,
    FillStatus,
    InstrumentId,
    Liquidity,
    OpportunityLeg,
    OrderState,
    Outcome,
    Side,
    Venue,
)
from tests.trading.helpers import NOW, core, opp

INSTRUMENTS = [
    InstrumentId(venue=Venue.POLYMARKET, symbol="a", outcome=Outcome.YES),
    InstrumentId(venue=Venue.POLYMARKET, symbol="b", outcome=Outcome.YES),
    InstrumentId(venue=Venue.KALSHI, symbol="K", outcome=Outcome.NO),
]

_OPS = st.lists(
    st.tuples(
        st.sampled_from(
            ["buy", "sell", "fill", "partial", "release", "ambiguous", "reverse", "forget"]
        ),
        st.integers(min_value=0, max_value=len(INSTRUMENTS) - 1),
        st.integers(min_value=1, max_value=20),  # size in shares
        st.integers(min_value=1, max_value=99),  # price in cents
    ),
    max_size=80,
)


def _fill(order_id: str, inst: InstrumentId, side: Side, price: int, size: int, n: int) -> Fill:
    return Fill(
        fill_id=f"f{n}",
        venue_order_id="v",
        client_order_id=order_id,
        instrument=inst,
        side=side,
        price=price,
        size=size,
        fee=0,
        liquidity=Liquidity.TAKER,
        status=FillStatus.MATCHED,
        venue_ts_ms=0,
        recv_ns=0,
    )


@settings(max_examples=200, deadline=None)
@given(_OPS)
def test_index_agrees_with_the_books_after_every_event(ops) -> None:  # type: ignore[no-untyped-def]
    cash = 10_000 * CASH_ONE
    led = Ledger.with_balances({Venue.POLYMARKET: cash, Venue.KALSHI: cash})
    fills: list[tuple[Venue, str]] = []
    for n, (kind, i, size, cents) in enumerate(ops):
        inst, price, qty = INSTRUMENTS[i], cents * 10_000, size * SIZE_ONE
        live = [o for o in led.live.values() if o.instrument == inst]
        if kind == "buy":
            led.reserve(
                client_order_id=f"o{n}",
                opportunity_id="x",
                instrument=inst,
                side=Side.BUY,
                limit_price=price,
                size=qty,
                amount=qty * cents // 100,
            )
        elif kind == "sell" and led.available_shares(inst) > 0:
            led.reserve(
                client_order_id=f"o{n}",
                opportunity_id="x",
                instrument=inst,
                side=Side.SELL,
                limit_price=price,
                size=led.available_shares(inst),
                amount=0,
            )
        elif kind in ("fill", "partial") and live:
            order = live[0]
            left = order.size - order.filled
            part = left if kind == "fill" else max(1, left // 2)
            if part > 0:
                led.apply_fill(
                    _fill(order.client_order_id, inst, order.side, order.limit_price, part, n),
                    fee=0,
                )
                fills.append((inst.venue, f"f{n}"))
        elif kind == "release" and live:
            led.release(live[0].client_order_id, OrderState.CANCELLED)
        elif kind == "ambiguous" and live:
            led.mark_ambiguous(live[0].client_order_id)
        elif kind == "reverse" and fills:
            led.reverse_fill(*fills.pop(0))
        elif kind == "forget":
            done = [k for k, o in led.orders.items() if o.phase is OrderPhase.DONE]
            if done:
                led.forget(done[0])
        assert led.index_consistent(), (kind, led.exposure)
        assert led.conserved()
        for inst in INSTRUMENTS:
            held = led.positions[inst].size if inst in led.positions else 0
            set_aside = sum(o.reserved_shares for o in led.live.values() if o.instrument == inst)
            assert led.available_shares(inst) == held - set_aside


def test_open_position_limit_counts_positions_and_open_buys() -> None:
    c = core(max_open_positions=2)
    first = c.decide(opp(oid="one"))  # two legs on two instruments: 2 open
    assert not isinstance(first, Rejection)
    assert len(c.ledger.open_instruments()) == 2
    other = InstrumentId(venue=Venue.POLYMARKET, symbol="other", outcome=Outcome.YES)
    legs = (
        OpportunityLeg(instrument=other, side=Side.BUY, limit_price=450_000, size=10 * SIZE_ONE),
    )
    result = check_opportunity(
        opp(legs=legs),
        ledger=c.ledger,
        ladder=c.control.ladder,
        limits=c.limits,
        rules=c.rules,
        now_ns=NOW,
    )
    assert isinstance(result, Rejection)
    assert result.reason is RejectReason.MAX_OPEN_POSITIONS
    # The same instruments again add no position: only the exposure limits apply (once
    # the first execution is over: a leg with an open order is ``leg_in_flight``).
    assert not isinstance(first, Rejection)
    for intent in first.intents:
        c.ledger.apply_fill(
            Fill(
                fill_id="f-" + intent.client_order_id,
                venue_order_id="v",
                client_order_id=intent.client_order_id,
                instrument=intent.instrument,
                side=Side.BUY,
                price=intent.limit_price,
                size=intent.size,
                fee=0,
                liquidity=Liquidity.TAKER,
                status=FillStatus.MATCHED,
                venue_ts_ms=0,
                recv_ns=0,
            ),
            0,
        )
        c.ledger.release(intent.client_order_id, OrderState.FILLED)
    assert len(c.ledger.open_instruments()) == 2
    again = check_opportunity(
        opp(oid="two"),
        ledger=c.ledger,
        ladder=c.control.ladder,
        limits=c.limits,
        rules=c.rules,
        now_ns=NOW,
    )
    assert not isinstance(again, Rejection)
