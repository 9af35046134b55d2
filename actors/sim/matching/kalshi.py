"""The simulated Kalshi exchange's order handling: ``POST /portfolio/orders``
(idempotent by client order id), fills and their ``fill`` messages, order JSON, cancel,
lookup by client order id and balance.
"""

from __future__ import annotations

from typing import Any

from actors.sim.fees import kalshi_taker_fee
from actors.sim.matching.core import ExchangeCore
from actors.sim.matching.orders import KALSHI_USER, Order, OrderError, Response, UserEvent
from actors.sim.scenario import KALSHI_TICK
from actors.sim.units import ONE, fixed, parse_units
from actors.sim.wire_kalshi import rfc3339


class KalshiOrders(ExchangeCore):
    """Kalshi's half of the exchange."""

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
            response = (
                exc.status,
                {
                    "error": {
                        "code": exc.code,
                        "message": exc.message,
                        "details": "",
                        "service": "exchange",
                    }
                },
            )
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
        tif = {
            "fill_or_kill": "FOK",
            "FOK": "FOK",
            "immediate_or_cancel": "FAK",
            "IOC": "FAK",
            "good_till_canceled": "GTC",
            "GTC": "GTC",
        }.get(tif_raw)
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
        order = Order(
            "kalshi",
            self._id("korder"),
            coid,
            m,
            m.ticker,
            side,
            buy,
            price,
            count,
            tif,
            now,
            updated_ms=now,
        )
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
        trade_id, now = self._record_fill(
            "kalshi", order, price, qty, notional, fee, taker, "ktrade"
        )
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
            "time_in_force": {
                "FOK": "fill_or_kill",
                "FAK": "immediate_or_cancel",
                "GTC": "good_till_canceled",
            }[order.tif],
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
            return 404, {
                "error": {
                    "code": "not_found",
                    "message": "order not found",
                    "details": "",
                    "service": "exchange",
                }
            }
        reduced = order.remaining if order.resting else 0
        if order.resting:
            self._unrest(order)
            order.status = "canceled"
            order.updated_ms = self.clock()
        return 200, {
            "order": self.kalshi_order_json(order),
            "reduced_by": reduced // ONE,
            "reduced_by_fp": fixed(reduced, 2),
        }

    def kalshi_by_client(self, coid: str) -> list[Order]:
        return [
            o for o in self.orders.values() if o.venue == "kalshi" and o.client_order_id == coid
        ]

    def kalshi_balance(self) -> dict[str, Any]:
        acct = self.kalshi
        return {
            "balance": acct.cash // 10_000,
            "balance_dollars": fixed(acct.cash - acct.cash % 10_000, 2),
            "portfolio_value": 0,
            "updated_ts": self.clock() // 1000,
        }

    def kalshi_positions(self) -> dict[str, Any]:
        """``GET /portfolio/positions``: one entry per ticker held, ``position`` signed
        (YES contracts positive, NO negative), as the venue reports a market position."""
        net: dict[str, int] = {}
        for key, qty in self.kalshi.positions.items():
            ticker, _, side = key.rpartition(":")
            net[ticker] = net.get(ticker, 0) + (qty if side == "yes" else -qty)
        return {
            "market_positions": [
                {
                    "ticker": ticker,
                    "position": qty // ONE,
                    "position_fp": fixed(qty, 2),
                    "market_exposure": 0,
                    "realized_pnl": 0,
                    "fees_paid": 0,
                }
                for ticker, qty in sorted(net.items())
                if qty
            ],
            "event_positions": [],
            "cursor": "",
        }


def _other(outcome: str) -> str:
    return "no" if outcome == "yes" else "yes"
