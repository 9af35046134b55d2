"""The simulated venue's REST side: REST fault injection, then routing of the Polymarket
CLOB and Kalshi ``/trade-api/v2`` requests to the exchange and the wire encoders.
"""

from __future__ import annotations

import trio

from actors.sim.config import FaultKind, Venue
from actors.sim.http import DROP, Reply, Request
from actors.sim.venue.publish import Publisher
from actors.sim.wire_polymarket import rest_book


class RestServer(Publisher):
    """REST requests (they flush pending frames before answering)."""

    # -- REST ---------------------------------------------------------------------------

    async def _http(self, request: Request) -> Reply:
        venue = Venue.KALSHI if request.path.startswith("/trade-api/") else Venue.POLYMARKET
        spec = self.faults.take_rest(venue)
        if spec is not None:
            kind = spec.kind
            if kind is FaultKind.REST_500:
                return Reply(500, {"error": "internal server error"})
            if kind is FaultKind.REST_429:
                body = (
                    {"error": "too many requests"}
                    if venue is Venue.KALSHI
                    else {"error": "Too Many Requests"}
                )
                return Reply(429, body)
            if kind is FaultKind.REST_SLOW:
                await trio.sleep(spec.delay)
            elif kind is FaultKind.REST_TIMEOUT:
                await trio.sleep(spec.duration)
                return DROP
        try:
            reply = self._route(request)
        except (ValueError, KeyError, TypeError):
            reply = Reply(400, {"error": "invalid request"})
        self.flush()
        if spec is not None and spec.kind is FaultKind.REST_DROP_RESPONSE:
            return DROP
        return reply

    def _route(self, r: Request) -> Reply:
        ex = self.exchange
        method, path = r.method, r.path
        if path.startswith("/trade-api/v2/"):
            return self._route_kalshi(r, path[len("/trade-api/v2") :])
        if path == "/book" and method == "GET":
            token = (r.query.get("token_id") or [""])[0]
            if not token:
                return Reply(400, {"error": "Invalid token id"})
            if token not in self.poly_wire.by_asset:
                return Reply(404, {"error": "No orderbook exists for the requested token id"})
            self.flush()
            return Reply(200, rest_book(self.poly_wire, token, self.now_ms()))
        auth = self.polymarket_auth
        if auth is not None:
            refused = auth.check_request(r)
            if refused:
                return Reply(401, {"error": f"Unauthorized/Invalid api key ({refused})"})
        if path == "/order" and method == "POST":
            order_id = ""
            if auth is not None:
                order_id, refused = auth.check_order(r.json())
                if refused:
                    return Reply(400, {"error": refused})
            status, body = ex.poly_post(r.json(), order_id)
            return Reply(status, body)
        if path == "/order" and method == "DELETE":
            return Reply(200, ex.poly_cancel(str(r.json().get("orderID", ""))))
        if path.startswith("/data/order/") and method == "GET":
            order = ex.orders.get(path[len("/data/order/") :])
            if order is None or order.venue != "polymarket":
                return Reply(404, {"error": "order not found"})
            return Reply(200, ex.poly_order_json(order))
        if path == "/positions" and method == "GET":
            return Reply(200, ex.poly_positions())
        if path == "/balance-allowance" and method == "GET":
            return Reply(200, {"balance": str(ex.poly.cash), "allowances": {}})
        return Reply(404, {"error": "not found"})

    def _route_kalshi(self, r: Request, path: str) -> Reply:
        ex = self.exchange
        method = r.method
        if path == "/portfolio/orders" and method == "POST":
            status, body = ex.kalshi_post(r.json())
            return Reply(status, body)
        if path == "/portfolio/orders" and method == "GET":
            coid = (r.query.get("client_order_id") or [""])[0]
            orders = (
                ex.kalshi_by_client(coid)
                if coid
                else [o for o in ex.orders.values() if o.venue == "kalshi"]
            )
            return Reply(200, {"orders": [ex.kalshi_order_json(o) for o in orders], "cursor": ""})
        if path.startswith("/portfolio/orders/"):
            oid = path[len("/portfolio/orders/") :]
            if method == "DELETE":
                status, body = ex.kalshi_cancel(oid)
                return Reply(status, body)
            order = ex.orders.get(oid)
            if method == "GET" and order is not None and order.venue == "kalshi":
                return Reply(200, {"order": ex.kalshi_order_json(order)})
            return Reply(
                404,
                {
                    "error": {
                        "code": "not_found",
                        "message": "order not found",
                        "details": "",
                        "service": "exchange",
                    }
                },
            )
        if path == "/portfolio/balance" and method == "GET":
            return Reply(200, ex.kalshi_balance())
        if path == "/portfolio/positions" and method == "GET":
            return Reply(200, ex.kalshi_positions())
        if path.startswith("/markets/") and path.endswith("/orderbook") and method == "GET":
            ticker = path[len("/markets/") : -len("/orderbook")]
            if ticker not in self.kalshi_wire.by_ticker:
                return Reply(
                    404,
                    {
                        "error": {
                            "code": "not_found",
                            "message": "market not found",
                            "details": "",
                            "service": "exchange",
                        }
                    },
                )
            depth = int((r.query.get("depth") or ["0"])[0])
            self.flush()
            return Reply(200, self.kalshi_wire.rest_orderbook(ticker, depth))
        return Reply(
            404,
            {
                "error": {
                    "code": "not_found",
                    "message": "not found",
                    "details": "",
                    "service": "exchange",
                }
            },
        )
