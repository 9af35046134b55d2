"""The embeddable simulated venue: scenario driver, websocket and REST servers on loopback.

``open_sim_venue(config)`` binds the ports (0 = free), starts the scenario clock on trio's
clock (so tests can use ``autojump_clock``), and yields a ``SimVenue`` exposing the URLs,
the ground truth, the sim's own books and the fault hooks.
"""

from __future__ import annotations

import ipaddress
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs

import attrs
import trio
from trio_websocket import WebSocketRequest, serve_websocket

from actors.sim.binance import STREAM_KINDS, BinanceFeed, combined
from actors.sim.book import ASK, BID
from actors.sim.config import FaultKind, FaultSpec, SimConfig, Venue
from actors.sim.connections import CLOSED, Conn, KalshiSub, abort_stream, open_conn, send_loop
from actors.sim.faults import Faults
from actors.sim.http import DROP, Reply, Request, serve_http
from actors.sim.matching import Exchange
from actors.sim.scenario import Market, Scenario, StepOutput
from actors.sim.units import ONE
from actors.sim.windows import WindowRecord
from actors.sim.wire_kalshi import KalshiWire, envelope
from actors.sim.wire_kalshi import encode as kencode
from actors.sim.wire_polymarket import PolyWire, encode, rest_book

MALFORMED: dict[Venue, tuple[str, ...]] = {
    Venue.POLYMARKET: (
        '{"event_type":"price_change","market":"0x',
        "not json at all",
        '[{"event_type":"book","asset_id":',
        '{"event_type":"mystery_event","payload":[1,2,3]}',
    ),
    Venue.KALSHI: (
        '{"type":"orderbook_delta","sid":',
        "\x00\x01garbage",
        '{"type":"orderbook_delta","sid":1,"seq":"x","msg":null}',
    ),
    Venue.BINANCE: ('{"stream":', "garbage"),
}


def check_loopback(host: str) -> None:
    """The sim serves loopback only: refuse anything else."""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ValueError(f"the sim binds loopback only, not {host!r}")


@attrs.frozen
class BookView:
    """A snapshot of one of the sim's books: levels ascending by price, 1e-6 units."""

    bids: tuple[tuple[int, int], ...]
    asks: tuple[tuple[int, int], ...]


class SimVenue:
    """A running simulated venue (see ``open_sim_venue``)."""

    def __init__(self, config: SimConfig, epoch_ms: int) -> None:
        self.config = config
        self.scenario = Scenario(config, epoch_ms)
        self.exchange = Exchange(self.scenario, self.now_ms, config.starting_cash)
        self.poly_wire = PolyWire(self.scenario.markets)
        self.kalshi_wire = KalshiWire(self.scenario.markets, config.kalshi_legacy_cents)
        self.faults = Faults(self._ws_fault, self._bad_hash, self._trade_failed)
        self.conns: set[Conn] = set()
        self._t0 = trio.current_time()
        self._last_ms = epoch_ms
        self._rng = random.Random(config.seed ^ 0x5EED)
        self._gt_file: Any = None
        self.host = config.host
        self.polymarket_port = self.kalshi_port = self.rest_port = self.binance_port = 0
        self.frames_published = 0
        self.binance: BinanceFeed | None = None
        if config.binance_port is not None:
            self.binance = BinanceFeed(
                config.seed,
                config.binance_symbols,
                config.step_interval,
                config.binance_quote_rate,
                config.binance_trade_rate,
                config.binance_volatility,
            )

    # -- public queries -----------------------------------------------------------------

    @property
    def polymarket_ws_url(self) -> str:
        return f"ws://{self.host}:{self.polymarket_port}/ws/market"

    @property
    def polymarket_user_ws_url(self) -> str:
        return f"ws://{self.host}:{self.polymarket_port}/ws/user"

    @property
    def kalshi_ws_url(self) -> str:
        return f"ws://{self.host}:{self.kalshi_port}/trade-api/ws/v2"

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.rest_port}"

    @property
    def polymarket_rest_url(self) -> str:
        return self.rest_url

    @property
    def kalshi_rest_url(self) -> str:
        return f"{self.rest_url}/trade-api/v2"

    @property
    def binance_ws_url(self) -> str:
        """Base URL of the Binance stream server (add ``/stream?streams=...`` or ``/ws/<s>``)."""
        if self.binance is None:
            raise RuntimeError("the Binance stream is off: set SimConfig(binance_port=0)")
        return f"ws://{self.host}:{self.binance_port}"

    def binance_stream_url(self, *streams: str) -> str:
        """Combined-stream URL; default every stream of every configured symbol."""
        names = streams or tuple(
            f"{s.lower()}@{kind}" for s in self.config.binance_symbols for kind in STREAM_KINDS
        )
        return f"{self.binance_ws_url}/stream?streams={'/'.join(names)}"

    def binance_quote(self, symbol: str) -> tuple[int, int, int, int]:
        """The sim's current top of book for ``symbol``: (bid, bid qty, ask, ask qty), 1e-6."""
        if self.binance is None:
            raise RuntimeError("the Binance stream is off")
        q = self.binance.quotes[symbol]
        return q.bid, q.bid_qty, q.ask, q.ask_qty

    @property
    def markets(self) -> list[Market]:
        return self.scenario.markets

    @property
    def windows(self) -> list[WindowRecord]:
        """Ground truth: every window injected so far."""
        return list(self.scenario.windows)

    def poly_book(self, token_id: str) -> BookView:
        """The sim's true book for a Polymarket token."""
        m, outcome = self.exchange.tokens[token_id]
        book = m.poly_yes if outcome == "yes" else m.poly_no
        return BookView(tuple(book.levels(BID)), tuple(book.levels(ASK)))

    def kalshi_book(self, ticker: str) -> tuple[tuple[tuple[int, int], ...], ...]:
        """The sim's true Kalshi book as the wire shows it: (YES bids, NO bids), ascending."""
        book = self.exchange.tickers[ticker].kalshi
        no = sorted((ONE - p, s) for p, s in book.levels(ASK))
        return tuple(book.levels(BID)), tuple(no)

    def now_ms(self) -> int:
        """Wire timestamp now: epoch + trio time since start, never going backwards."""
        ms = self.scenario.epoch_ms + round((trio.current_time() - self._t0) * 1000)
        self._last_ms = max(self._last_ms, ms)
        return self._last_ms

    # -- publishing ---------------------------------------------------------------------

    def flush(self, out: StepOutput | None = None, ts_ms: int | None = None) -> None:
        """Turn pending book changes and user events into frames on every connection."""
        ts = ts_ms if ts_ms is not None else self.now_ms()
        self._last_ms = max(self._last_ms, ts)
        log = self.scenario.log
        changes = list(log)
        log.clear()
        poly_objs: dict[int, list[dict[str, Any]]] = {}
        for index, obj in self.poly_wire.price_changes(changes, ts).items():
            poly_objs.setdefault(index, []).append(obj)
        extra: list[tuple[int, dict[str, Any]]] = []
        if out is not None:
            for tc in out.tick_changes:
                m = self.markets[tc.market]
                objs = self.poly_wire.tick_size_change(m, tc.old, tc.new, ts)
                extra += [(tc.market, o) for o in objs]
            for pr in out.prints:
                m = self.markets[pr.market]
                token = m.yes_token if pr.outcome == "yes" else m.no_token
                extra.append((pr.market, self.poly_wire.last_trade_price(
                    token, pr.price, pr.size, pr.side, m.fee_rate_ppm // 100, ts)))
        for venue, instrument, price, size in self.exchange.trades:
            if venue == "polymarket":
                m, _ = self.exchange.tokens[instrument]
                extra.append((m.index, self.poly_wire.last_trade_price(
                    instrument, price, size, "BUY", m.fee_rate_ppm // 100, ts)))
        self.exchange.trades.clear()
        for index, obj in extra:
            poly_objs.setdefault(index, []).append(obj)
        kalshi = self.kalshi_wire.deltas(changes, ts)
        events = list(self.exchange.events)
        self.exchange.events.clear()
        stalled = {v: self.faults.stalled(v) for v in Venue}
        for conn in list(self.conns):
            if conn.venue is Venue.POLYMARKET:
                if conn.path == "/ws/user":
                    self._push_poly_user(conn, events, stalled[Venue.POLYMARKET])
                elif not stalled[Venue.POLYMARKET]:
                    self._push_poly(conn, poly_objs)
            elif conn.venue is Venue.KALSHI:
                self._push_kalshi(conn, kalshi, events, stalled[Venue.KALSHI])

    def _push_poly(self, conn: Conn, objs: dict[int, list[dict[str, Any]]]) -> None:
        if not conn.assets:
            return
        batch: list[dict[str, Any]] = []
        for index, items in objs.items():
            m = self.markets[index]
            has_yes, has_no = m.yes_token in conn.assets, m.no_token in conn.assets
            if not (has_yes or has_no):
                continue
            for obj in items:
                if "price_changes" in obj and not (has_yes and has_no):
                    entries = [e for e in obj["price_changes"] if e["asset_id"] in conn.assets]
                    if not entries:
                        continue
                    obj = {**obj, "price_changes": entries}
                elif "asset_id" in obj and obj["asset_id"] not in conn.assets:
                    continue
                batch.append(obj)
        self._send_poly(conn, batch)

    def _send_poly(self, conn: Conn, batch: list[dict[str, Any]]) -> None:
        if not batch:
            return
        if len(batch) > 1 and self._rng.random() < self.config.array_frame_probability:
            conn.push(encode(batch))
            self.frames_published += 1
            return
        for obj in batch:
            conn.push(encode(obj))
        self.frames_published += len(batch)

    def _push_poly_user(self, conn: Conn, events: list[Any], stalled: bool) -> None:
        if conn.user_markets is None or stalled:
            return
        for ev in events:
            wanted = not conn.user_markets or ev.market in conn.user_markets
            if ev.venue == "polymarket" and wanted:
                conn.push(encode(ev.body))

    def _push_kalshi(
        self, conn: Conn, deltas: list[tuple[str, str]], events: list[Any], stalled: bool
    ) -> None:
        gap, conn.seq_gap = conn.seq_gap, 0
        for sub in conn.subs.values():
            if sub.channel == "orderbook_delta":
                if gap and deltas:
                    sub.seq += gap
                for ticker, body in deltas:
                    if ticker in sub.tickers:
                        sub.seq += 1  # consumed even while stalled: the client sees the gap
                        if not stalled:
                            conn.push(envelope("orderbook_delta", sub.sid, sub.seq, body))
            elif sub.channel == "fill" and not stalled:
                for ev in events:
                    if ev.venue == "kalshi":
                        conn.push(envelope("fill", sub.sid, None, kencode(ev.body)))
        if gap and not deltas:
            conn.seq_gap = gap  # nothing to skip over yet: keep it for the next delta

    # -- faults -------------------------------------------------------------------------

    def _bad_hash(self, count: int) -> None:
        self.poly_wire.bad_hashes = count

    def _trade_failed(self, count: int) -> None:
        self.exchange.failing_trades = count

    def _ws_fault(self, spec: FaultSpec) -> None:
        for conn in list(self.conns):
            if spec.venue is not None and conn.venue is not spec.venue:
                continue
            if spec.kind is FaultKind.WS_CLOSE:
                conn.abort()
            elif spec.kind is FaultKind.WS_MALFORMED:
                junk = MALFORMED[conn.venue]
                for i in range(spec.count):
                    conn.push(junk[i % len(junk)])
            elif spec.kind is FaultKind.KALSHI_SEQ_GAP and conn.venue is Venue.KALSHI:
                conn.seq_gap += spec.count

    # -- driver -------------------------------------------------------------------------

    def _step(self) -> None:
        out = self.scenario.step()
        self.exchange.sweep()
        for record in out.opened:
            if self._gt_file is not None:
                self._gt_file.write(record.to_json() + "\n")
                self._gt_file.flush()
        ts = self.scenario.now_ms()
        self.flush(out, ts)
        if self.binance is not None:
            self._push_binance(self.binance.step(ts))

    def _push_binance(self, payloads: list[tuple[str, str]]) -> None:
        if not payloads or self.faults.stalled(Venue.BINANCE):
            return
        for conn in list(self.conns):
            if conn.venue is not Venue.BINANCE or not conn.streams:
                continue
            streams = conn.streams
            for stream, payload in payloads:
                if stream in streams:
                    conn.push(combined(stream, payload) if conn.combined else payload)

    async def _drive(self) -> None:
        dt = self.config.step_interval
        while True:
            await trio.sleep_until(self._t0 + (self.scenario.step_index + 1) * dt)
            self._step()

    async def _scheduled_faults(self) -> None:
        for spec in sorted(self.config.faults, key=lambda s: s.at):
            await trio.sleep_until(self._t0 + spec.at)
            self.faults.inject(spec)

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
        """Live control (VENUES 5.1): SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS."""
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
                conn.push(kencode({"id": cmd_id, "type": "subscribed",
                                   "msg": {"channel": channel, "sid": sid}}))
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
            conn.push(kencode({"id": cmd_id, "sid": sub.sid, "type": "ok",
                               "msg": {"market_tickers": sorted(sub.tickers)}}))
        elif cmd == "list_subscriptions":
            conn.push(kencode({"id": cmd_id, "type": "ok", "msg": [
                {"channel": s.channel, "sid": s.sid} for s in conn.subs.values()]}))
        else:
            error(5, "Unknown command")

    def _kalshi_snapshots(self, conn: Conn, sub: KalshiSub, tickers: list[str]) -> None:
        if self.faults.stalled(Venue.KALSHI):
            return
        for ticker in tickers:
            sub.seq += 1
            conn.push(envelope("orderbook_snapshot", sub.sid, sub.seq,
                               self.kalshi_wire.snapshot_msg(ticker)))

    # -- REST ---------------------------------------------------------------------------

    async def _http(self, request: Request) -> Reply:
        venue = Venue.KALSHI if request.path.startswith("/trade-api/") else Venue.POLYMARKET
        spec = self.faults.take_rest(venue)
        if spec is not None:
            kind = spec.kind
            if kind is FaultKind.REST_500:
                return Reply(500, {"error": "internal server error"})
            if kind is FaultKind.REST_429:
                body = ({"error": "too many requests"} if venue is Venue.KALSHI
                        else {"error": "Too Many Requests"})
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
            return self._route_kalshi(r, path[len("/trade-api/v2"):])
        if path == "/book" and method == "GET":
            token = (r.query.get("token_id") or [""])[0]
            if not token:
                return Reply(400, {"error": "Invalid token id"})
            if token not in self.poly_wire.by_asset:
                return Reply(404, {"error": "No orderbook exists for the requested token id"})
            self.flush()
            return Reply(200, rest_book(self.poly_wire, token, self.now_ms()))
        if path == "/order" and method == "POST":
            status, body = ex.poly_post(r.json())
            return Reply(status, body)
        if path == "/order" and method == "DELETE":
            return Reply(200, ex.poly_cancel(str(r.json().get("orderID", ""))))
        if path.startswith("/data/order/") and method == "GET":
            order = ex.orders.get(path[len("/data/order/"):])
            if order is None or order.venue != "polymarket":
                return Reply(404, {"error": "order not found"})
            return Reply(200, ex.poly_order_json(order))
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
            orders = ex.kalshi_by_client(coid) if coid else [
                o for o in ex.orders.values() if o.venue == "kalshi"]
            return Reply(200, {"orders": [ex.kalshi_order_json(o) for o in orders], "cursor": ""})
        if path.startswith("/portfolio/orders/"):
            oid = path[len("/portfolio/orders/"):]
            if method == "DELETE":
                status, body = ex.kalshi_cancel(oid)
                return Reply(status, body)
            order = ex.orders.get(oid)
            if method == "GET" and order is not None and order.venue == "kalshi":
                return Reply(200, {"order": ex.kalshi_order_json(order)})
            return Reply(404, {"error": {"code": "not_found", "message": "order not found",
                                         "details": "", "service": "exchange"}})
        if path == "/portfolio/balance" and method == "GET":
            return Reply(200, ex.kalshi_balance())
        if path.startswith("/markets/") and path.endswith("/orderbook") and method == "GET":
            ticker = path[len("/markets/"):-len("/orderbook")]
            if ticker not in self.kalshi_wire.by_ticker:
                return Reply(404, {"error": {"code": "not_found", "message": "market not found",
                                             "details": "", "service": "exchange"}})
            depth = int((r.query.get("depth") or ["0"])[0])
            self.flush()
            return Reply(200, self.kalshi_wire.rest_orderbook(ticker, depth))
        return Reply(404, {"error": {"code": "not_found", "message": "not found",
                                     "details": "", "service": "exchange"}})


def kdecode(text: str) -> Any:
    import msgspec

    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise ValueError(str(exc)) from None


@asynccontextmanager
async def open_sim_venue(config: SimConfig | None = None) -> AsyncIterator[SimVenue]:
    """Run a simulated venue on loopback for the duration of the ``async with`` block."""
    config = config or SimConfig()
    check_loopback(config.host)
    epoch = config.epoch_ms if config.epoch_ms is not None else int(time.time() * 1000)
    sim = SimVenue(config, epoch)
    gt = open(config.ground_truth_path, "a", encoding="utf-8") if config.ground_truth_path else None  # noqa: SIM115, ASYNC230
    sim._gt_file = gt
    try:
        async with trio.open_nursery() as nursery:
            poly = await nursery.start(
                serve_websocket, lambda r: sim._serve_conn(Venue.POLYMARKET, r),
                config.host, config.polymarket_port, None)
            kalshi = await nursery.start(
                serve_websocket, lambda r: sim._serve_conn(Venue.KALSHI, r),
                config.host, config.kalshi_port, None)
            sim.polymarket_port = poly.port
            sim.kalshi_port = kalshi.port
            sim.rest_port = await nursery.start(
                serve_http, sim._http, config.host, config.rest_port)
            if config.binance_port is not None:
                binance = await nursery.start(
                    serve_websocket, lambda r: sim._serve_conn(Venue.BINANCE, r),
                    config.host, config.binance_port, None)
                sim.binance_port = binance.port
            sim._t0 = trio.current_time()
            nursery.start_soon(sim._drive)
            if config.faults:
                nursery.start_soon(sim._scheduled_faults)
            try:
                yield sim
            finally:
                nursery.cancel_scope.cancel()
    finally:
        if gt is not None:
            gt.close()
