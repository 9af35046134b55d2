"""The simulated Polymarket CLOB's order handling: ``POST /order`` (idempotent by the
signed order's hash), fills and their user-channel trade events, order JSON, cancel.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from actors.sim.fees import polymarket_taker_fee
from actors.sim.matching.core import ExchangeCore
from actors.sim.matching.orders import (
    API_KEY,
    MAKER_ADDRESS,
    MM_OWNER,
    Order,
    OrderError,
    Response,
    UserEvent,
)
from actors.sim.units import ONE, trim


class PolymarketOrders(ExchangeCore):
    """Polymarket's half of the exchange."""

    # -- Polymarket ---------------------------------------------------------------------

    def poly_post(self, body: dict[str, Any], order_id: str = "") -> Response:
        """``POST /order``: V2 body ``{"order": {...}, "owner", "orderType"}``. The order's
        id is ``order_id`` (its EIP-712 hash, when signatures are checked) or a sha256 over
        its JSON (paper: unsigned orders)."""
        try:
            order_obj = body["order"]
            key = (
                order_id
                or "0x" + hashlib.sha256(msgspec.json.encode(order_obj, order="sorted")).hexdigest()
            )
        except (KeyError, TypeError):
            return 400, {"error": "Invalid order payload"}
        if key in self.responses:
            return self.responses[key]
        try:
            response = self._poly_place(key, order_obj, str(body.get("orderType", "GTC")))
        except OrderError as exc:
            response = (
                exc.status,
                {
                    "success": False,
                    "errorMsg": exc.code,
                    "orderID": "",
                    "status": "unmatched",
                    "makingAmount": "",
                    "takingAmount": "",
                },
            )
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
                "success": False,
                "errorMsg": "FOK_ORDER_NOT_FILLED_ERROR",
                "orderID": oid,
                "status": "unmatched",
                "makingAmount": "",
                "takingAmount": "",
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
            "success": True,
            "errorMsg": "",
            "orderID": oid,
            "status": status,
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
            if not failing:
                order.fee_shares += fee_shares
            if not taker:
                acct.reserved -= notional
        else:
            acct.cash += notional - fee
            acct.positions[order.instrument] = acct.positions.get(order.instrument, 0) - qty
        if failing:
            acct.cash = cash_before
            acct.positions[order.instrument] = held_before
            order.failed += qty
        trade_id, now = self._record_fill(
            "polymarket", order, price, qty, notional, fee, taker, "trade"
        )
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
        body.update(
            {"event_type": "order", "type": kind, "status": status, "timestamp": str(self.clock())}
        )
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

    def poly_positions(self) -> list[dict[str, Any]]:
        """``GET /positions?user=...`` (Polymarket's data API): one entry per token held,
        ``size`` in shares."""
        out: list[dict[str, Any]] = []
        for token, qty in sorted(self.poly.positions.items()):
            if not qty or token not in self.tokens:
                continue
            market, outcome = self.tokens[token]
            out.append(
                {
                    "asset": token,
                    "conditionId": market.condition_id,
                    "size": qty / ONE,
                    "outcome": outcome.capitalize(),
                }
            )
        return out

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
