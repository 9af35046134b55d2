"""Locked-in edge, unhedged remainder and unwinds, booked through the ledger's fills."""

from __future__ import annotations

from actors.trading.fund_stats import opportunity_outcomes
from actors.trading.ledger import Ledger
from actors.trading.outcome import OutcomeBook, totals
from protocols.fixed import SIZE_ONE
from protocols.messages import (
    Fill,
    FillStatus,
    InstrumentId,
    Liquidity,
    OrderState,
    Outcome,
    Side,
    Venue,
)
from protocols.venues.fees import FeeRate
from protocols.venues.polymarket.fees import fee_in_shares, taker_fee

P_YES = InstrumentId(venue=Venue.POLYMARKET, symbol="yes-tok", outcome=Outcome.YES)
K_NO = InstrumentId(venue=Venue.KALSHI, symbol="KX-1", outcome=Outcome.NO)
P_NO = InstrumentId(venue=Venue.POLYMARKET, symbol="no-tok", outcome=Outcome.NO)
CAPITAL = 10_000 * SIZE_ONE


def ledger() -> Ledger:
    return Ledger.with_balances({Venue.POLYMARKET: CAPITAL, Venue.KALSHI: CAPITAL})


def order(book: Ledger, coid: str, opp: str, inst: InstrumentId, side: Side, size: int) -> None:
    book.reserve(
        client_order_id=coid,
        opportunity_id=opp,
        instrument=inst,
        side=side,
        limit_price=990_000,
        size=size,
        amount=0 if side is Side.SELL else size,  # enough for a price below 1
    )


def fill(fid: str, coid: str, inst: InstrumentId, side: Side, price: int, size: int) -> Fill:
    return Fill(
        fill_id=fid,
        venue_order_id="v-" + coid,
        client_order_id=coid,
        instrument=inst,
        side=side,
        price=price,
        size=size,
        fee=-1,
        liquidity=Liquidity.TAKER,
        status=FillStatus.MATCHED,
        venue_ts_ms=0,
        recv_ns=0,
    )


def test_cross_venue_pair_locks_payout_minus_costs_and_fees() -> None:
    """100 Polymarket YES at 0.40 (fee in shares) + 100 Kalshi NO at 0.55 (fee in cash):
    the hedge is the YES shares received; the few Kalshi NO beyond it are unhedged."""
    book = ledger()
    size = 100 * SIZE_ONE
    order(book, "a", "opp1", P_YES, Side.BUY, size)
    order(book, "b", "opp1", K_NO, Side.BUY, size)
    poly_fee = taker_fee(size, 400_000, FeeRate.from_bps(720))
    fee_shares = fee_in_shares(poly_fee, 400_000)
    kalshi_fee = 1_740_000  # what the venue reported, 1e-6 USD
    book.apply_fill(fill("f1", "a", P_YES, Side.BUY, 400_000, size), poly_fee, fee_shares)
    book.apply_fill(fill("f2", "b", K_NO, Side.BUY, 550_000, size), kalshi_fee)

    got = book.outcome.opportunity("opp1")
    assert got is not None
    hedged = size - fee_shares
    assert got.hedged == hedged
    kalshi_cost = 55 * SIZE_ONE + kalshi_fee
    kalshi_hedged_cost = kalshi_cost * hedged // size
    assert got.hedged_cost == 40 * SIZE_ONE + kalshi_hedged_cost
    assert got.locked_edge == hedged - 40 * SIZE_ONE - kalshi_hedged_cost
    assert [(u.instrument, u.size, u.cost) for u in got.unhedged] == [
        (K_NO, fee_shares, kalshi_cost - kalshi_hedged_cost)
    ]
    assert got.fees == poly_fee + kalshi_fee
    assert got.realized == 0
    assert got.unwinds == 0
    # Every dollar that left is in the hedge or the remainder.
    out = CAPITAL * 2 - sum(book.cash.values()) - sum(book.reserved.values())
    assert out == got.hedged_cost + sum(u.cost for u in got.unhedged)


def test_unwind_after_a_failed_leg_is_realized_and_counted() -> None:
    """The Kalshi leg failed; the Polymarket YES bought is sold back below its cost: no
    hedge, a negative realized PnL net of the sale's fee, one unwind."""
    book = ledger()
    size = 50 * SIZE_ONE
    order(book, "a", "opp2", P_YES, Side.BUY, size)
    book.apply_fill(fill("f1", "a", P_YES, Side.BUY, 500_000, size), 0)
    order(book, "unw-1", "opp2", P_YES, Side.SELL, size)
    sell_fee = taker_fee(size, 450_000, FeeRate.from_bps(720))
    book.apply_fill(fill("f2", "unw-1", P_YES, Side.SELL, 450_000, size), sell_fee)

    got = book.outcome.opportunity("opp2")
    assert got is not None
    assert got.hedged == 0
    assert got.locked_edge == 0
    assert got.unhedged == ()
    assert got.realized == 50 * 450_000 - sell_fee - 50 * 500_000
    assert got.unwinds == 1
    t = book.outcome.totals()
    assert t.unwind_cost == -got.realized > 0
    # The ledger's realized PnL is gross of fees; the outcome's is net.
    assert got.realized == book.realized_pnl - sell_fee


def test_partial_unwind_keeps_the_hedge_and_prices_the_sale_at_average_cost() -> None:
    book = ledger()
    order(book, "a", "o", P_YES, Side.BUY, 30 * SIZE_ONE)
    order(book, "b", "o", P_NO, Side.BUY, 20 * SIZE_ONE)
    book.apply_fill(fill("f1", "a", P_YES, Side.BUY, 300_000, 10 * SIZE_ONE), 0)
    book.apply_fill(fill("f2", "a", P_YES, Side.BUY, 310_000, 20 * SIZE_ONE), 0)
    book.apply_fill(fill("f3", "b", P_NO, Side.BUY, 650_000, 20 * SIZE_ONE), 0)
    order(book, "unw-x", "o", P_YES, Side.SELL, 10 * SIZE_ONE)
    book.apply_fill(fill("f4", "unw-x", P_YES, Side.SELL, 290_000, 10 * SIZE_ONE), 0)

    got = book.outcome.opportunity("o")
    assert got is not None
    yes_cost = 3 * SIZE_ONE + 6_200_000  # 9.2 for 30 shares
    sold_cost = yes_cost * 10 // 30
    assert got.hedged == 20 * SIZE_ONE
    assert got.hedged_cost == (yes_cost - sold_cost) + 13 * SIZE_ONE
    assert got.locked_edge == 20 * SIZE_ONE - got.hedged_cost
    assert got.realized == 2_900_000 - sold_cost
    assert got.unwinds == 1


def test_a_reversed_fill_leaves_the_outcome_as_if_never_booked() -> None:
    book = ledger()
    order(book, "a", "o", P_YES, Side.BUY, 10 * SIZE_ONE)
    order(book, "b", "o", P_NO, Side.BUY, 10 * SIZE_ONE)
    book.apply_fill(fill("f1", "a", P_YES, Side.BUY, 400_000, 10 * SIZE_ONE), 0)
    before = book.outcome.opportunity("o")
    book.apply_fill(fill("f2", "b", P_NO, Side.BUY, 500_000, 10 * SIZE_ONE), 0)
    assert book.reverse_fill(Venue.POLYMARKET, "f2") is not None
    assert book.outcome.opportunity("o") == before


def test_totals_mark_the_remainder_only_when_every_instrument_has_a_mark() -> None:
    book = OutcomeBook()
    book.book(
        opportunity_id="o",
        client_order_id="a",
        instrument=P_YES,
        size_delta=10 * SIZE_ONE,
        outflow=4 * SIZE_ONE,
        fee=0,
    )
    book.book(
        opportunity_id="o",
        client_order_id="b",
        instrument=K_NO,
        size_delta=12 * SIZE_ONE,
        outflow=6 * SIZE_ONE,
        fee=0,
    )
    assert book.totals({K_NO: 450_000}).unhedged_mark == 2 * 450_000
    assert book.totals({P_YES: 1}).unhedged_mark is None
    assert totals([]).locked_edge == 0
    t = book.totals()
    assert (t.hedged, t.unhedged_size, t.locked_edge) == (
        10 * SIZE_ONE,
        2 * SIZE_ONE,
        10 * SIZE_ONE - 4 * SIZE_ONE - 5 * SIZE_ONE,
    )


def test_fills_of_no_tracked_order_are_counted_not_paired() -> None:
    book = ledger()
    book.apply_fill(fill("f1", "stranger", P_YES, Side.BUY, 400_000, SIZE_ONE), 0)
    assert book.outcome.unattributed_fills == 1
    assert book.outcome.outcomes() == []


def test_a_reversed_unwind_fill_takes_the_unwind_back_out() -> None:
    """An unwind sale whose settlement failed never happened: it neither realized nor
    counts as an unwind; an unwind with two fills, one reversed, still counts once."""
    book = ledger()
    size = 20 * SIZE_ONE
    order(book, "a", "o", P_YES, Side.BUY, size)
    book.apply_fill(fill("f1", "a", P_YES, Side.BUY, 500_000, size), 0)
    order(book, "unw-1", "o", P_YES, Side.SELL, size)
    book.apply_fill(fill("f2", "unw-1", P_YES, Side.SELL, 450_000, 10 * SIZE_ONE), 0)
    book.apply_fill(fill("f3", "unw-1", P_YES, Side.SELL, 450_000, 10 * SIZE_ONE), 0)
    assert book.reverse_fill(Venue.POLYMARKET, "f3") is not None
    got = book.outcome.opportunity("o")
    assert got is not None
    assert (got.unwinds, got.realized) == (1, 10 * 450_000 - 10 * 500_000)
    assert book.reverse_fill(Venue.POLYMARKET, "f2") is not None
    got = book.outcome.opportunity("o")
    assert got is not None
    assert (got.unwinds, got.realized) == (0, 0)
    assert book.outcome.totals().unwinds == 0


def test_an_opportunity_keeps_its_locked_edge_after_retention_drops_its_orders() -> None:
    """Capture reads ``by_opportunity``: once retention forgets an opportunity's done
    orders (an hour later, or beyond ``max_done_orders``), its locked edge must not turn
    into 0 there while the run's total still counts it."""
    book = ledger()
    order(book, "a", "o", P_YES, Side.BUY, 10 * SIZE_ONE)
    order(book, "b", "o", P_NO, Side.BUY, 10 * SIZE_ONE)
    book.apply_fill(fill("f1", "a", P_YES, Side.BUY, 400_000, 10 * SIZE_ONE), 0)
    book.apply_fill(fill("f2", "b", P_NO, Side.BUY, 500_000, 10 * SIZE_ONE), 0)
    before = opportunity_outcomes(book)["o"]
    assert before["locked"] == SIZE_ONE  # 10 pairs at 0.90
    for coid in ("a", "b"):
        book.release(coid, OrderState.FILLED)
        assert book.forget(coid) is not None
    after = opportunity_outcomes(book)["o"]
    assert (after["locked"], after["hedged"], after["unwinds"]) == (
        SIZE_ONE,
        10 * SIZE_ONE,
        0,
    )
    assert after["size"] == before["size"] == 10 * SIZE_ONE
