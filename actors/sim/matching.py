"""Order matching, fees, balances and idempotency for both simulated venues.

Orders match only market-maker liquidity in the sim's own books (price-improving, best
first). FOK is all-or-nothing, FAK/IOC fills what it can, GTC fills then rests; a resting
order fills as maker when the market maker's quotes later cross it. A duplicate client
order id (Kalshi) or an identical signed order (Polymarket's order hash) returns the first
response and never executes twice. Every fill is queued as a user-channel event.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import attrs
import msgspec

from actors.sim.book import ASK, BID, SimBook
from actors.sim.fees import kalshi_taker_fee, polymarket_taker_fee
from actors.sim.scenario import KALSHI_TICK, Market, Scenario
from actors.sim.units import ONE, fixed, parse_units, trim
from actors.sim.wire_kalshi import rfc3339

API_KEY = "00000000-0000-4000-8000-00000000517a"  # the sim's single Polymarket API key
MAKER_ADDRESS = "0x5151515151515151515151515151515151515151"
MM_OWNER = "00000000-0000-4000-8000-0000000000aa"
KALSHI_USER = "sim-user"

Response = tuple[int, dict[str, Any]]


class OrderError(Exception):
    """A rejected order: HTTP status and venue error code."""

    def __init__(self, status: int, code: str, message: str = "") -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message or code


@attrs.define
class Account:
    """One venue account: cash, per-instrument positions, reservations for resting orders."""

    cash: int
    reserved: int = 0
    positions: dict[str, int] = attrs.Factory(dict)  # token id, or "TICKER:yes"/"TICKER:no"


@attrs.define
class Order:
    """An order on either venue, prices in the terms of the instrument bought or sold."""

    venue: str
    order_id: str
    client_order_id: str
    market: Market
    instrument: str  # Polymarket token id; Kalshi ticker
    outcome: str  # "yes" | "no"
    buy: bool
    price: int
    size: int
    tif: str  # "FOK" | "FAK" | "GTC"
    created_ms: int
    filled: int = 0
    status: str = "live"  # live | matched | canceled
    taker_fees: int = 0
    maker_fees: int = 0
    taker_cost: int = 0
    maker_cost: int = 0
    trade_ids: list[str] = attrs.Factory(list)
    updated_ms: int = 0
    resting: bool = False

    @property
    def remaining(self) -> int:
        return self.size - self.filled


@attrs.frozen
class UserEvent:
    """A user-channel event: Polymarket (filter: condition id) or Kalshi (fill msg)."""

    venue: str
    market: str  # condition id or ticker
    body: dict[str, Any]


def _book_side(order: Order) -> tuple[SimBook, int, Callable[[int], int]]:
    """(book, side a taker hits, map book price -> order price) for ``order``."""
    m = order.market
    if order.venue == "polymarket":
        book = m.poly_yes if order.outcome == "yes" else m.poly_no
        return book, (ASK if order.buy else BID), (lambda p: p)
    yes_terms = (order.outcome == "yes") == order.buy  # buy yes / sell no: hit YES asks
    if order.outcome == "yes":
        return m.kalshi, (ASK if yes_terms else BID), (lambda p: p)
    return m.kalshi, (ASK if yes_terms else BID), (lambda p: ONE - p)


class Exchange:
    """Both venues' order state over the scenario's books."""

    def __init__(self, scenario: Scenario, clock: Callable[[], int], cash: int) -> None:
        self.scenario = scenario
        self.clock = clock
        self.poly = Account(cash)
        self.kalshi = Account(cash)
        self.orders: dict[str, Order] = {}
        self.responses: dict[str, Response] = {}  # idempotency key -> first response
        self.events: list[UserEvent] = []
        self.trades: list[tuple[str, str, int, int]] = []  # (venue, instrument, price, size)
        self.failing_trades = 0  # next Polymarket trades that fail settlement (fault hook)
        self._seq = 0
        self.tokens: dict[str, tuple[Market, str]] = {}
        self.tickers: dict[str, Market] = {}
        for m in scenario.markets:
            self.tokens[m.yes_token] = (m, "yes")
            self.tokens[m.no_token] = (m, "no")
            self.tickers[m.ticker] = m

    def _id(self, prefix: str) -> str:
        self._seq += 1
        digest = hashlib.sha256(f"{self.scenario.config.seed}:{prefix}:{self._seq}".encode())
        h = digest.hexdigest()
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}"

    # -- shared matching ----------------------------------------------------------------

    def _crosses(self, order: Order, book_price: int, to_order: Callable[[int], int]) -> bool:
        p = to_order(book_price)
        return p <= order.price if order.buy else p >= order.price

    def _match(self, order: Order) -> list[tuple[int, int]]:
        """Fill ``order`` against market-maker liquidity; returns (order price, qty)."""
        book, side, to_order = _book_side(order)
        depth = book.mm_depth(side)  # best first for this order, in either price terms
        available = sum(q for p, q in depth if self._crosses(order, p, to_order))
        if order.tif == "FOK" and available < order.remaining:
            return []
        fills: list[tuple[int, int]] = []
        want = order.remaining
        for p, q in depth:
            if want <= 0 or not self._crosses(order, p, to_order):
                break
            take = min(q, want)
            want -= take
            book.consume(side, p, take)
            if order.venue == "polymarket":
                self._mirror(order, side, p, take)
            fills.append((to_order(p), take))
        return fills

    def _mirror(self, order: Order, side: int, price: int, qty: int) -> None:
        """The same maker shows on the complement token at 1 - p: consume it there too."""
        m = order.market
        other = m.poly_no if order.outcome == "yes" else m.poly_yes
        oside = BID if side == ASK else ASK
        have = other.mm[oside].get(ONE - price, 0)
        if have:
            other.consume(oside, ONE - price, min(have, qty))

    # -- Polymarket ---------------------------------------------------------------------

    def poly_post(self, body: dict[str, Any]) -> Response:
        """``POST /order``: V2 body ``{"order": {...}, "owner", "orderType"}``."""
        try:
            order_obj = body["order"]
            key = "0x" + hashlib.sha256(
                msgspec.json.encode(order_obj, order="sorted")
            ).hexdigest()
        except (KeyError, TypeError):
            return 400, {"error": "Invalid order payload"}
        if key in self.responses:
            return self.responses[key]
        try:
            response = self._poly_place(key, order_obj, str(body.get("orderType", "GTC")))
        except OrderError as exc:
            response = exc.status, {
                "success": False, "errorMsg": exc.code, "orderID": "", "status": "unmatched",
                "makingAmount": "", "takingAmount": "",
            }
        self.responses[key] = response
        return response

    def _poly_place(self, oid: str, o: dict[str, Any], order_type: str) -> Response:
        token = str(o.get("tokenId", ""))
        if token not in self.tokens:
            raise OrderError(400, "MARKET_NOT_READY")
        m, outcome = self.tokens[token]
        side = str(o.get("side", "")).upper()
        if side not in ("BUY", "SELL") or order_type not in ("GTC", "GTD", "FOK", "FAK"):
            raise OrderError(400, "INVALID_ORDER_ERROR")
        try:
            maker = int(o["makerAmount"])
            taker = int(o["takerAmount"])
        except (KeyError, ValueError, TypeError):
            raise OrderError(400, "INVALID_ORDER_ERROR") from None
        buy = side == "BUY"
        usdc, shares = (maker, taker) if buy else (taker, maker)
        if shares <= 0 or usdc <= 0 or (usdc * ONE) % shares:
            raise OrderError(400, "INVALID_ORDER_MIN_TICK_SIZE")
        price = usdc * ONE // shares
        tick = m.poly_tick
        if price % tick or not tick <= price <= ONE - tick:
            raise OrderError(400, "INVALID_ORDER_MIN_TICK_SIZE")
        if shares < self.scenario.config.poly_min_order_size:
            raise OrderError(400, "INVALID_ORDER_MIN_SIZE")
        acct = self.poly
        if buy and acct.cash - acct.reserved < usdc:
            raise OrderError(400, "INVALID_ORDER_NOT_ENOUGH_BALANCE")
        if not buy and acct.positions.get(token, 0) < shares:
            raise OrderError(400, "INVALID_ORDER_NOT_ENOUGH_BALANCE")
        tif = "FAK" if order_type == "FAK" else ("FOK" if order_type == "FOK" else "GTC")
        now = self.clock()
        order = Order("polymarket", oid, "", m, token, outcome, buy, price, shares, tif, now)
        self.orders[oid] = order
        fills = self._match(order)
        if tif == "FOK" and not fills:
            order.status = "canceled"
            self._poly_order_event(order, "CANCELLATION")
            return 400, {
                "success": False, "errorMsg": "FOK_ORDER_NOT_FILLED_ERROR", "orderID": oid,
                "status": "unmatched", "makingAmount": "", "takingAmount": "",
            }
        for price_, qty in fills:
            self._poly_fill(order, price_, qty, taker=True)
        if order.remaining and tif == "GTC":
            self._rest(order)
            self._poly_order_event(order, "PLACEMENT")
        elif order.remaining:
            order.status = "canceled" if not order.filled else "matched"
        else:
            order.status = "matched"
        if fills:
            self._poly_order_event(order, "UPDATE")
        making = sum(p * q // ONE for p, q in fills) if buy else sum(q for _, q in fills)
        taking = sum(q for _, q in fills) if buy else sum(p * q // ONE for p, q in fills)
        status = "matched" if fills else ("live" if order.resting else "unmatched")
        return 200, {
            "success": True, "errorMsg": "", "orderID": oid, "status": status,
            "makingAmount": trim(making) if fills else "",
            "takingAmount": trim(taking) if fills else "",
            "transactionsHashes": [self._tx(t) for t in order.trade_ids],
            "tradeIDs": list(order.trade_ids),
        }

    @staticmethod
    def _tx(trade_id: str) -> str:
        return "0x" + hashlib.sha256(trade_id.encode()).hexdigest()

    def _poly_fill(self, order: Order, price: int, qty: int, taker: bool) -> None:
        m = order.market
        acct = self.poly
        fee = polymarket_taker_fee(qty, price, m.fee_rate_ppm) if taker else 0
        failing = self.failing_trades > 0
        if failing:  # settles FAILED: cash and shares end as they were before the trade
            self.failing_trades -= 1
            cash_before = acct.cash
            held_before = acct.positions.get(order.instrument, 0)
        notional = price * qty // ONE
        if order.buy:
            acct.cash -= notional
            fee_shares = fee * ONE // price
            acct.positions[order.instrument] = (
                acct.positions.get(order.instrument, 0) + qty - fee_shares
            )
            if not taker:
                acct.reserved -= notional
        else:
            acct.cash += notional - fee
            acct.positions[order.instrument] = acct.positions.get(order.instrument, 0) - qty
        if failing:
            acct.cash = cash_before
            acct.positions[order.instrument] = held_before
        order.filled += qty
        if taker:
            order.taker_fees += fee
            order.taker_cost += notional
        else:
            order.maker_cost += notional
        now = self.clock()
        order.updated_ms = now
        trade_id = self._id("trade")
        order.trade_ids.append(trade_id)
        self.trades.append(("polymarket", order.instrument, price, qty))
        side = "BUY" if order.buy else "SELL"
        opposite = "SELL" if order.buy else "BUY"
        outcome = "Yes" if order.outcome == "yes" else "No"
        mine = {
            "order_id": order.order_id if not taker else "0x" + self._id("mm").replace("-", ""),
            "owner": API_KEY if not taker else MM_OWNER,
            "maker_address": MAKER_ADDRESS,
            "matched_amount": trim(qty),
            "price": trim(price),
            "fee_rate_bps": "0",
            "asset_id": order.instrument,
            "outcome": outcome,
            "side": side if not taker else opposite,
        }
        base = {
            "event_type": "trade",
            "type": "TRADE",
            "id": trade_id,
            "taker_order_id": order.order_id if taker else "0x" + self._id("tk").replace("-", ""),
            "market": m.condition_id,
            "asset_id": order.instrument,
            "side": side if taker else opposite,
            "size": trim(qty),
            "price": trim(price),
            "fee_rate_bps": str(m.fee_rate_ppm // 100),
            "match_time": str(now // 1000),
            "last_update": str(now // 1000),
            "timestamp": str(now),
            "outcome": outcome,
            "owner": API_KEY,
            "trade_owner": API_KEY,
            "maker_address": MAKER_ADDRESS,
            "trader_side": "TAKER" if taker else "MAKER",
            "transaction_hash": self._tx(trade_id),
            "bucket_index": 0,
            "maker_orders": [mine],
        }
        for status in ("MATCHED", "FAILED" if failing else "CONFIRMED"):
            self.events.append(UserEvent("polymarket", m.condition_id, {**base, "status": status}))

    def _poly_order_event(self, order: Order, kind: str) -> None:
        status = {"live": "LIVE", "matched": "MATCHED", "canceled": "CANCELED"}[order.status]
        body = self.poly_order_json(order)
        body.update({"event_type": "order", "type": kind, "status": status,
                     "timestamp": str(self.clock())})
        self.events.append(UserEvent("polymarket", order.market.condition_id, body))

    def poly_order_json(self, order: Order) -> dict[str, Any]:
        """The order object of ``GET /data/order/{id}`` and the user channel."""
        status = {"live": "LIVE", "matched": "MATCHED", "canceled": "CANCELED"}[order.status]
        return {
            "id": order.order_id,
            "status": status,
            "owner": API_KEY,
            "order_owner": API_KEY,
            "maker_address": MAKER_ADDRESS,
            "market": order.market.condition_id,
            "asset_id": order.instrument,
            "side": "BUY" if order.buy else "SELL",
            "original_size": trim(order.size),
            "size_matched": trim(order.filled),
            "price": trim(order.price),
            "outcome": "Yes" if order.outcome == "yes" else "No",
            "expiration": "0",
            "order_type": order.tif,
            "created_at": str(order.created_ms // 1000),
            "associate_trades": list(order.trade_ids) or None,
        }

    def poly_cancel(self, order_id: str) -> dict[str, Any]:
        """``DELETE /order``: ``{"canceled": [...], "not_canceled": {id: reason}}``."""
        order = self.orders.get(order_id)
        if order is None or order.venue != "polymarket":
            return {"canceled": [], "not_canceled": {order_id: "order not found"}}
        if not order.resting:
            return {"canceled": [], "not_canceled": {order_id: "order can't be canceled"}}
        self._unrest(order)
        order.status = "canceled"
        self._poly_order_event(order, "CANCELLATION")
        return {"canceled": [order_id], "not_canceled": {}}

    # -- resting orders -----------------------------------------------------------------

    def _rest(self, order: Order) -> None:
        book, side, to_order = _book_side(order)
        rest_side = BID if side == ASK else ASK
        book.add_own(rest_side, to_order(order.price), order.remaining)
        order.resting = True
        order.status = "live"
        if order.buy:
            acct = self.poly if order.venue == "polymarket" else self.kalshi
            acct.reserved += order.price * order.remaining // ONE

    def _unrest(self, order: Order) -> None:
        book, side, to_order = _book_side(order)
        rest_side = BID if side == ASK else ASK
        book.add_own(rest_side, to_order(order.price), -order.remaining)
        order.resting = False
        if order.buy:
            acct = self.poly if order.venue == "polymarket" else self.kalshi
            acct.reserved -= order.price * order.remaining // ONE

    def sweep(self) -> None:
        """Fill resting orders the market maker's quotes now cross (as maker, no fee)."""
        for order in list(self.orders.values()):
            if not order.resting:
                continue
            book, side, to_order = _book_side(order)
            best = book.mm_depth(side)
            if not best or not self._crosses(order, best[0][0], to_order):
                continue
            qty = order.remaining
            self._unrest(order)
            if order.buy:
                acct = self.poly if order.venue == "polymarket" else self.kalshi
                acct.reserved += order.price * qty // ONE  # released again by the fill
            if order.venue == "polymarket":
                self._poly_fill(order, order.price, qty, taker=False)
                order.status = "matched"
                self._poly_order_event(order, "UPDATE")
            else:
                self._kalshi_fill(order, order.price, qty, taker=False)
                order.status = "matched"

    # -- Kalshi -------------------------------------------------------------------------

    def kalshi_post(self, body: dict[str, Any]) -> Response:
        """``POST /trade-api/v2/portfolio/orders`` -> 201 ``{"order": {...}}``."""
        coid = str(body.get("client_order_id") or "")
        key = f"kalshi:{coid}" if coid else ""
        if key and key in self.responses:
            return self.responses[key]
        try:
            order = self._kalshi_place(coid, body)
            response: Response = 201, {"order": self.kalshi_order_json(order)}
        except OrderError as exc:
            response = exc.status, {"error": {"code": exc.code, "message": exc.message,
                                              "details": "", "service": "exchange"}}
        if key:
            self.responses[key] = response
        return response

    def _kalshi_place(self, coid: str, body: dict[str, Any]) -> Order:
        m = self.tickers.get(str(body.get("ticker", "")))
        if m is None:
            raise OrderError(404, "market_not_found", "market not found")
        side, action = body.get("side"), body.get("action")
        if side not in ("yes", "no") or action not in ("buy", "sell"):
            raise OrderError(400, "invalid_parameters", "side and action are required")
        try:
            if "count_fp" in body:
                count = parse_units(str(body["count_fp"]))
                if "count" in body and int(body["count"]) * ONE != count:
                    raise OrderError(400, "invalid_parameters", "count and count_fp differ")
            else:
                count = int(body["count"]) * ONE
            price = self._kalshi_price(side, body)
        except (KeyError, ValueError, TypeError):
            raise OrderError(400, "invalid_parameters", "bad count or price") from None
        if count <= 0 or count % 10_000:
            raise OrderError(400, "invalid_parameters", "count must be a positive 0.01 multiple")
        if price % KALSHI_TICK or not KALSHI_TICK <= price <= ONE - KALSHI_TICK:
            raise OrderError(400, "invalid_parameters", "price must be 0.01..0.99 in cents")
        tif_raw = str(body.get("time_in_force", "good_till_canceled"))
        tif = {"fill_or_kill": "FOK", "FOK": "FOK", "immediate_or_cancel": "FAK",
               "IOC": "FAK", "good_till_canceled": "GTC", "GTC": "GTC"}.get(tif_raw)
        if tif is None:
            raise OrderError(400, "invalid_parameters", "unknown time_in_force")
        acct = self.kalshi
        buy = action == "buy"
        key = f"{m.ticker}:{side}"
        if buy and acct.cash - acct.reserved < price * count // ONE + kalshi_taker_fee(
            count, 500_000
        ):
            raise OrderError(400, "insufficient_balance", "insufficient balance")
        if not buy and acct.positions.get(key, 0) < count:
            raise OrderError(400, "insufficient_position", "not enough contracts to sell")
        now = self.clock()
        order = Order("kalshi", self._id("korder"), coid, m, m.ticker, side, buy, price, count,
                      tif, now, updated_ms=now)
        self.orders[order.order_id] = order
        fills = self._match(order)
        for p, q in fills:
            self._kalshi_fill(order, p, q, taker=True)
        if order.remaining and tif == "GTC":
            self._rest(order)
        elif order.remaining:
            order.status = "canceled"
        else:
            order.status = "matched"
        return order

    @staticmethod
    def _kalshi_price(side: str, body: dict[str, Any]) -> int:
        if "yes_price_dollars" in body:
            yes = parse_units(str(body["yes_price_dollars"]))
        elif "no_price_dollars" in body:
            yes = ONE - parse_units(str(body["no_price_dollars"]))
        elif "yes_price" in body:
            yes = int(body["yes_price"]) * 10_000
        else:
            yes = ONE - int(body["no_price"]) * 10_000
        return yes if side == "yes" else ONE - yes

    def _kalshi_fill(self, order: Order, price: int, qty: int, taker: bool) -> None:
        acct = self.kalshi
        fee = kalshi_taker_fee(qty, price) if taker else 0
        notional = price * qty // ONE
        key = f"{order.instrument}:{order.outcome}"
        if order.buy:
            acct.cash -= notional + fee
            acct.positions[key] = acct.positions.get(key, 0) + qty
            if not taker:
                acct.reserved -= notional
        else:
            acct.cash += notional - fee
            acct.positions[key] = acct.positions.get(key, 0) - qty
        order.filled += qty
        if taker:
            order.taker_fees += fee
            order.taker_cost += notional
        else:
            order.maker_cost += notional
        now = self.clock()
        order.updated_ms = now
        trade_id = self._id("ktrade")
        order.trade_ids.append(trade_id)
        self.trades.append(("kalshi", order.instrument, price, qty))
        yes_price = price if order.outcome == "yes" else ONE - price
        bid = (order.outcome == "yes") == order.buy
        position = acct.positions.get(f"{order.instrument}:yes", 0) - acct.positions.get(
            f"{order.instrument}:no", 0
        )
        msg = {
            "trade_id": trade_id,
            "order_id": order.order_id,
            "client_order_id": order.client_order_id,
            "market_ticker": order.instrument,
            "is_taker": taker,
            "side": order.outcome,
            "yes_price_dollars": fixed(yes_price, 4),
            "count_fp": fixed(qty, 2),
            "fee_cost": fixed(fee, 6),
            "action": "buy" if order.buy else "sell",
            "ts": now // 1000,
            "ts_ms": now,
            "post_position_fp": fixed(position, 2),
            "purchased_side": order.outcome if order.buy else _other(order.outcome),
            "outcome_side": order.outcome,
            "book_side": "bid" if bid else "ask",
        }
        self.events.append(UserEvent("kalshi", order.instrument, msg))

    def kalshi_order_json(self, order: Order) -> dict[str, Any]:
        status = {"live": "resting", "matched": "executed", "canceled": "canceled"}[order.status]
        yes = order.price if order.outcome == "yes" else ONE - order.price
        return {
            "order_id": order.order_id,
            "user_id": KALSHI_USER,
            "client_order_id": order.client_order_id,
            "ticker": order.instrument,
            "side": order.outcome,
            "action": "buy" if order.buy else "sell",
            "type": "limit",
            "status": status,
            "time_in_force": {"FOK": "fill_or_kill", "FAK": "immediate_or_cancel",
                              "GTC": "good_till_canceled"}[order.tif],
            "yes_price": yes // 10_000,
            "no_price": (ONE - yes) // 10_000,
            "yes_price_dollars": fixed(yes, 4),
            "no_price_dollars": fixed(ONE - yes, 4),
            "fill_count": order.filled // ONE,
            "fill_count_fp": fixed(order.filled, 2),
            "remaining_count": (order.remaining if order.resting else 0) // ONE,
            "remaining_count_fp": fixed(order.remaining if order.resting else 0, 2),
            "initial_count": order.size // ONE,
            "initial_count_fp": fixed(order.size, 2),
            "taker_fees": order.taker_fees // 10_000,
            "maker_fees": order.maker_fees // 10_000,
            "taker_fill_cost": order.taker_cost // 10_000,
            "maker_fill_cost": order.maker_cost // 10_000,
            "taker_fees_dollars": fixed(order.taker_fees, 4),
            "maker_fees_dollars": fixed(order.maker_fees, 4),
            "taker_fill_cost_dollars": fixed(order.taker_cost, 4),
            "maker_fill_cost_dollars": fixed(order.maker_cost, 4),
            "queue_position": 0,
            "expiration_time": None,
            "created_time": rfc3339(order.created_ms),
            "last_update_time": rfc3339(order.updated_ms or order.created_ms),
        }

    def kalshi_cancel(self, order_id: str) -> Response:
        order = self.orders.get(order_id)
        if order is None or order.venue != "kalshi":
            return 404, {"error": {"code": "not_found", "message": "order not found",
                                   "details": "", "service": "exchange"}}
        reduced = order.remaining if order.resting else 0
        if order.resting:
            self._unrest(order)
            order.status = "canceled"
            order.updated_ms = self.clock()
        return 200, {"order": self.kalshi_order_json(order), "reduced_by": reduced // ONE,
                     "reduced_by_fp": fixed(reduced, 2)}

    def kalshi_by_client(self, coid: str) -> list[Order]:
        return [o for o in self.orders.values() if o.venue == "kalshi" and
                o.client_order_id == coid]

    def kalshi_balance(self) -> dict[str, Any]:
        acct = self.kalshi
        return {"balance": acct.cash // 10_000, "balance_dollars": fixed(
            acct.cash - acct.cash % 10_000, 2), "portfolio_value": 0,
            "updated_ts": self.clock() // 1000}


def _other(outcome: str) -> str:
    return "no" if outcome == "yes" else "yes"
