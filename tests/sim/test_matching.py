"""Order matching against the sim's own books: FOK, IOC, GTC, fees, balances, idempotency."""

from __future__ import annotations

from actors.sim.book import ASK, BID
from actors.sim.config import SimConfig
from actors.sim.fees import kalshi_taker_fee, polymarket_taker_fee
from actors.sim.matching import Exchange
from actors.sim.scenario import Scenario
from actors.sim.units import ONE

CASH = 10_000 * ONE


def make() -> tuple[Scenario, Exchange]:
    sc = Scenario(SimConfig(seed=21, window_rate=0.0), 1_780_000_000_000)
    return sc, Exchange(sc, lambda: 1_780_000_000_000, CASH)


def poly_order(
    token: str, price: int, shares: int, side: str = "BUY", kind: str = "GTC", salt: int = 1
) -> dict[str, object]:
    usdc = price * shares // ONE
    maker, taker = (usdc, shares) if side == "BUY" else (shares, usdc)
    return {
        "order": {
            "tokenId": token,
            "makerAmount": str(maker),
            "takerAmount": str(taker),
            "side": side,
            "salt": salt,
        },
        "owner": "k",
        "orderType": kind,
    }


def test_poly_fok_all_or_nothing_and_fees() -> None:
    sc, ex = make()
    m = sc.markets[0]
    (p1, s1), (p2, _s2) = m.poly_yes.levels(ASK)[:2]
    status, body = ex.poly_post(poly_order(m.yes_token, p1, s1 + ONE, kind="FOK"))
    assert status == 400
    assert body["errorMsg"] == "FOK_ORDER_NOT_FILLED_ERROR"
    assert m.poly_yes.levels(ASK)[0] == (p1, s1)
    assert ex.poly.cash == CASH
    status, body = ex.poly_post(poly_order(m.yes_token, p2, s1 + ONE, kind="FOK", salt=2))
    assert status == 200
    assert body["status"] == "matched"
    assert len(body["tradeIDs"]) == 2
    cost = p1 * s1 // ONE + p2 * ONE // ONE
    assert ex.poly.cash == CASH - cost
    fee = polymarket_taker_fee(s1, p1, m.fee_rate_ppm) * ONE // p1
    fee += polymarket_taker_fee(ONE, p2, m.fee_rate_ppm) * ONE // p2
    assert ex.poly.positions[m.yes_token] == s1 + ONE - fee  # fee taken in shares on buys
    # the mirrored NO bid at 1 - p1 was the same maker: consumed too
    assert m.poly_no.size(BID, ONE - p1) == 0


def test_poly_fak_partial_and_gtc_rest_cancel() -> None:
    sc, ex = make()
    m = sc.markets[1]
    p1, s1 = m.poly_yes.levels(ASK)[0]
    status, body = ex.poly_post(poly_order(m.yes_token, p1, s1 + 7 * ONE, kind="FAK"))
    assert status == 200
    assert body["status"] == "matched"
    assert ex.orders[body["orderID"]].filled == s1
    bid = m.poly_yes.best(BID)
    assert bid is not None
    before = m.poly_yes.size(BID, bid)
    status, body = ex.poly_post(poly_order(m.yes_token, bid, 10 * ONE, salt=9))
    assert body["status"] == "live"
    assert m.poly_yes.size(BID, bid) == before + 10 * ONE
    assert ex.poly.reserved == bid * 10
    assert ex.poly_cancel(body["orderID"]) == {"canceled": [body["orderID"]], "not_canceled": {}}
    assert m.poly_yes.size(BID, bid) == before
    assert ex.poly.reserved == 0
    assert ex.poly_cancel(body["orderID"])["canceled"] == []


def test_poly_duplicate_order_is_not_executed_twice() -> None:
    sc, ex = make()
    m = sc.markets[0]
    p1, _ = m.poly_yes.levels(ASK)[0]
    first = ex.poly_post(poly_order(m.yes_token, p1, 5 * ONE, kind="FAK"))
    cash = ex.poly.cash
    assert ex.poly_post(poly_order(m.yes_token, p1, 5 * ONE, kind="FAK")) == first
    assert ex.poly.cash == cash


def test_poly_rejects_off_tick_small_and_unfunded() -> None:
    sc, ex = make()
    m = sc.markets[0]
    assert ex.poly_post(poly_order(m.yes_token, 505_000, 10 * ONE))[1]["errorMsg"] == (
        "INVALID_ORDER_MIN_TICK_SIZE"
    )
    assert ex.poly_post(poly_order(m.yes_token, 500_000, 1 * ONE))[1]["errorMsg"] == (
        "INVALID_ORDER_MIN_SIZE"
    )
    assert (
        ex.poly_post(poly_order(m.yes_token, 500_000, 10 * ONE, side="SELL"))[1]["errorMsg"]
        == "INVALID_ORDER_NOT_ENOUGH_BALANCE"
    )


def kalshi(
    ticker: str, side: str, price_cents: int, count: int, tif: str, coid: str, action: str = "buy"
) -> dict[str, object]:
    key = "yes_price" if side == "yes" else "no_price"
    return {
        "ticker": ticker,
        "side": side,
        "action": action,
        "count": count,
        key: price_cents,
        "client_order_id": coid,
        "time_in_force": tif,
    }


def test_kalshi_fok_ioc_gtc_fees_balance_idempotency() -> None:
    sc, ex = make()
    m = sc.markets[2]
    bid, bid_size = m.kalshi.levels(BID)[-1]  # best YES bid = NO ask at 1 - bid
    no_ask = ONE - bid
    n = bid_size // ONE
    status, body = ex.kalshi_post(
        kalshi(m.ticker, "no", no_ask // 10_000, n + 1, "fill_or_kill", "a")
    )
    assert status == 201
    assert body["order"]["status"] == "canceled"
    assert body["order"]["fill_count"] == 0
    assert ex.kalshi.cash == CASH
    status, body = ex.kalshi_post(
        kalshi(m.ticker, "no", no_ask // 10_000, n + 1, "immediate_or_cancel", "b")
    )
    order = body["order"]
    assert order["fill_count_fp"] == f"{bid_size // ONE}.{bid_size % ONE // 10_000:02d}"
    fee = kalshi_taker_fee(bid_size, no_ask)
    assert ex.kalshi.cash == CASH - no_ask * bid_size // ONE - fee
    assert ex.kalshi.positions[f"{m.ticker}:no"] == bid_size
    again = ex.kalshi_post(
        kalshi(m.ticker, "no", no_ask // 10_000, n + 1, "immediate_or_cancel", "b")
    )
    assert again == (status, body)  # duplicate client_order_id: first result, no new fill
    assert ex.kalshi.positions[f"{m.ticker}:no"] == bid_size
    fills = [e for e in ex.events if e.venue == "kalshi"]
    assert len(fills) == 1
    assert fills[0].body["fee_cost"] == f"{fee / ONE:.6f}"
    # GTC below the market rests as a YES bid, then cancels
    low = m.kalshi.levels(BID)[0][0] - 10_000
    status, body = ex.kalshi_post(
        kalshi(m.ticker, "yes", low // 10_000, 3, "good_till_canceled", "c")
    )
    assert body["order"]["status"] == "resting"
    assert m.kalshi.size(BID, low) == 3 * ONE
    assert [o.order_id for o in ex.kalshi_by_client("c")] == [body["order"]["order_id"]]
    status, cancel = ex.kalshi_cancel(body["order"]["order_id"])
    assert cancel["order"]["status"] == "canceled"
    assert cancel["reduced_by"] == 3
    assert m.kalshi.size(BID, low) == 0


def test_resting_order_fills_as_maker_when_market_moves_through_it() -> None:
    sc, ex = make()
    m = sc.markets[0]
    ask = m.poly_yes.best(ASK)
    assert ask is not None
    _status, body = ex.poly_post(poly_order(m.yes_token, ask - 10_000, 10 * ONE))
    assert body["status"] == "live"
    m.eps_p -= 30_000  # the market maker reprices down through the resting bid
    sc._render(m)
    ex.sweep()
    order = ex.orders[body["orderID"]]
    assert order.status == "matched"
    assert order.filled == 10 * ONE
    assert ex.poly.positions[m.yes_token] == 10 * ONE  # maker: no fee
    makers = [e.body for e in ex.events if e.body.get("trader_side") == "MAKER"]
    assert makers
    assert makers[0]["maker_orders"][0]["order_id"] == order.order_id
