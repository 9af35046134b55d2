"""The simulated venue's websocket side: accepting a connection per venue, its read
loop and pings, and each venue's client commands (Polymarket subscribe, Kalshi
``subscribe``/``unsubscribe``/``update_subscription``, Binance live control).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import trio
from trio_websocket import WebSocketRequest

from actors.sim.config import Venue
from actors.sim.connections import CLOSED, Conn, KalshiSub, abort_stream, open_conn, send_loop
from actors.sim.venue.state import VenueState
from actors.sim.wire_kalshi import encode as kencode
from actors.sim.wire_kalshi import envelope
from actors.sim.wire_polymarket import encode


class WebsocketServer(VenueState):
    """Websocket connections and their commands."""

    # -- websocket handlers -------------------------------------------------------------

    def _binance_streams(self, target: str) -> tuple[bool, list[str]] | None:
        """(combined, streams) of a Binance request path, None when it is not one we serve."""
        path, _, query = target.partition("?")
        if path == "/stream":
            names = [n for v in parse_qs(query).get("streams", []) for n in v.split("/") if n]
            is_combined = True
        elif path.startswith("/ws/") and "/" not in path[4:]:
            names, is_combined = [path[4:]], False
        elif path == "/ws":
            names, is_combined = [], False  # subscribe later with SUBSCRIBE
        else:
            return None
        assert self.binance is not None
        if any(n not in self.binance.streams for n in names):
            return None
        return is_combined, names

    async def _serve_conn(self, venue: Venue, request: WebSocketRequest) -> None:
        path = request.path.split("?")[0]
        binance: tuple[bool, list[str]] | None = None
        if venue is Venue.BINANCE:
            binance = self._binance_streams(request.path)
            if binance is None:
                body = b'{"code":-1121,"msg":"Invalid symbol or stream."}'
                await request.reject(400, body=body)
                return
        ws = await request.accept()
        conn = open_conn(venue, ws, self.config.send_buffer, path)
        if binance is not None:
            conn.combined, conn.streams = binance[0], set(binance[1])
        self.conns.add(conn)
        try:
            with conn.scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(send_loop, conn)
                    if venue is Venue.KALSHI:
                        nursery.start_soon(self._pings, conn, self.config.kalshi_ping_interval)
                    elif venue is Venue.BINANCE:
                        nursery.start_soon(self._pings, conn, self.config.binance_ping_interval)
                    await self._read_loop(conn)
                    nursery.cancel_scope.cancel()
        finally:
            self.conns.discard(conn)
            if conn.aborted:
                await abort_stream(conn)

    async def _read_loop(self, conn: Conn) -> None:
        while True:
            try:
                message = await conn.ws.get_message()
            except CLOSED:
                return
            text = message if isinstance(message, str) else message.decode(errors="replace")
            if conn.venue is Venue.POLYMARKET:
                self._on_poly_message(conn, text)
            elif conn.venue is Venue.KALSHI:
                self._on_kalshi_message(conn, text)
            else:
                self._on_binance_message(conn, text)

    async def _pings(self, conn: Conn, interval: float) -> None:
        """Websocket Ping frames: Kalshi's say ``heartbeat``, Binance's carry the time."""
        n = 0
        while True:
            await trio.sleep(interval)
            n += 1
            # Unique payload per ping: trio-websocket matches pongs by payload.
            if conn.venue is Venue.KALSHI:
                payload = b"heartbeat" if n == 1 else f"heartbeat-{n}".encode()
            else:
                payload = str(self.now_ms()).encode()
            with trio.move_on_after(interval):
                try:
                    await conn.ws.ping(payload)
                    conn.pongs += 1
                except CLOSED:
                    conn.scope.cancel()
                    return

    def _on_binance_message(self, conn: Conn, text: str) -> None:
        """Live control: SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS."""
        try:
            msg = kdecode(text)
        except ValueError:
            conn.push('{"code":3,"msg":"Invalid JSON"}')
            return
        if not isinstance(msg, dict):
            conn.push('{"code":2,"msg":"Invalid request: request must be an object"}')
            return
        req_id = msg.get("id")
        method = msg.get("method")
        params = msg.get("params") or []
        assert self.binance is not None
        reply: dict[str, Any] = {"result": None, "id": req_id}
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or any(p not in self.binance.streams for p in params):
                reply = {"code": 2, "msg": "Invalid request: unknown stream", "id": req_id}
            elif method == "SUBSCRIBE":
                conn.streams |= set(params)
            else:
                conn.streams -= set(params)
        elif method == "LIST_SUBSCRIPTIONS":
            reply["result"] = sorted(conn.streams)
        else:
            reply = {"code": 2, "msg": "Invalid request: unknown method", "id": req_id}
        conn.push(kencode(reply))

    def _on_poly_message(self, conn: Conn, text: str) -> None:
        if text == "PING":
            conn.push("PONG")
            return
        try:
            msg = kdecode(text)
        except ValueError:
            return
        if not isinstance(msg, dict):
            return
        if conn.path == "/ws/user":
            auth = self.polymarket_auth
            if auth is not None and not auth.check_subscription(msg.get("auth")):
                return  # the real channel sends nothing to a subscription it cannot authenticate
            markets = msg.get("markets") or []
            if msg.get("operation") == "unsubscribe":
                if conn.user_markets:
                    conn.user_markets -= set(markets)
            else:
                conn.user_markets = (conn.user_markets or set()) | set(markets)
            return
        assets = [a for a in msg.get("assets_ids") or [] if a in self.poly_wire.by_asset]
        if msg.get("operation") == "unsubscribe":
            conn.assets -= set(assets)
            return
        conn.assets |= set(assets)
        if msg.get("initial_dump", True) and assets and not self.faults.stalled(Venue.POLYMARKET):
            ts = self.now_ms()
            books = [self.poly_wire.book(a, ts) for a in assets]
            conn.push(encode(books if len(books) > 1 else books[0]))

    def _on_kalshi_message(self, conn: Conn, text: str) -> None:
        try:
            msg = kdecode(text)
        except ValueError:
            unable = {"code": 1, "msg": "Unable to process message"}
            conn.push(kencode({"id": 0, "type": "error", "msg": unable}))
            return
        if not isinstance(msg, dict):
            return
        cmd_id = msg.get("id", 0)
        params = msg.get("params") or {}
        cmd = msg.get("cmd")

        def error(code: int, text: str) -> None:
            conn.push(kencode({"id": cmd_id, "type": "error", "msg": {"code": code, "msg": text}}))

        tickers = list(params.get("market_tickers") or [])
        if params.get("market_ticker"):
            tickers.append(params["market_ticker"])
        unknown = [t for t in tickers if t not in self.kalshi_wire.by_ticker]
        if unknown:
            error(16, "Market not found")
            return
        if cmd == "subscribe":
            channels = params.get("channels") or []
            if not channels:
                error(3, "Channels required")
                return
            for channel in channels:
                if channel not in ("orderbook_delta", "fill"):
                    error(8, "Unknown channel name")
                    continue
                sid = conn.next_sid
                conn.next_sid += 1
                chosen = set(tickers) or set(self.kalshi_wire.by_ticker)
                sub = KalshiSub(sid, channel, chosen)
                conn.subs[sid] = sub
                conn.push(
                    kencode(
                        {
                            "id": cmd_id,
                            "type": "subscribed",
                            "msg": {"channel": channel, "sid": sid},
                        }
                    )
                )
                if channel == "orderbook_delta":
                    self._kalshi_snapshots(conn, sub, sorted(chosen))
        elif cmd == "unsubscribe":
            for sid in params.get("sids") or []:
                if conn.subs.pop(sid, None) is None:
                    error(7, "Unknown subscription ID")
                else:
                    conn.push(kencode({"id": cmd_id, "sid": sid, "type": "unsubscribed"}))
        elif cmd == "update_subscription":
            sids = list(params.get("sids") or [])
            if params.get("sid") is not None:
                sids.append(params["sid"])
            if len(sids) != 1:
                error(12, "Exactly one subscription ID is required")
                return
            found = conn.subs.get(sids[0])
            if found is None:
                error(7, "Unknown subscription ID")
                return
            sub = found
            action = params.get("action")
            if action == "get_snapshot":
                self._kalshi_snapshots(conn, sub, tickers or sorted(sub.tickers))
            elif action == "add_markets":
                new = [t for t in tickers if t not in sub.tickers]
                sub.tickers |= set(new)
                self._kalshi_snapshots(conn, sub, new)
            elif action == "delete_markets":
                sub.tickers -= set(tickers)
            else:
                error(13, "Action not supported")
                return
            conn.push(
                kencode(
                    {
                        "id": cmd_id,
                        "sid": sub.sid,
                        "type": "ok",
                        "msg": {"market_tickers": sorted(sub.tickers)},
                    }
                )
            )
        elif cmd == "list_subscriptions":
            conn.push(
                kencode(
                    {
                        "id": cmd_id,
                        "type": "ok",
                        "msg": [{"channel": s.channel, "sid": s.sid} for s in conn.subs.values()],
                    }
                )
            )
        else:
            error(5, "Unknown command")

    def _kalshi_snapshots(self, conn: Conn, sub: KalshiSub, tickers: list[str]) -> None:
        if self.faults.stalled(Venue.KALSHI):
            return
        for ticker in tickers:
            sub.seq += 1
            conn.push(
                envelope(
                    "orderbook_snapshot", sub.sid, sub.seq, self.kalshi_wire.snapshot_msg(ticker)
                )
            )


def kdecode(text: str) -> Any:
    import msgspec

    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise ValueError(str(exc)) from None
