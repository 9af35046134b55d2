"""The peer: a plain asyncio arbitrage bot, written the way the open-source Polymarket /
Kalshi bots reviewed for this project are written, in good faith (nothing slowed on
purpose), so ``arbtree bench`` can put a typical bot's figures beside the tree's on the
same simulated workload.

The shape those bots share, kept here:

* one reader task per venue websocket (``websockets``), frames parsed with stdlib ``json``
  into float prices, every book in one shared state guarded by one ``asyncio.Lock``;
* fan-out through ``asyncio.Queue``: every book change goes to the detector's queue and
  the recorder's;
* the detector checks the changed market (Polymarket YES + NO, and both cross-venue
  pairs) net of both venues' taker fees, with a fixed debounce (a market that fired is
  not fired again for ``DEBOUNCE_S``), awaits the opportunity's row in the database
  (``asyncpg``), then sends both legs at once (``httpx`` ``asyncio.gather``) and records
  them;
* the recorder writes every tick to the database in the batches it finds queued.

Over ``wss://`` and ``https://`` when the plan carries the sim's CA (the suite's default,
as for the tree), trusting that CA and nothing else. Tick-to-order: from the frame in
hand (``websockets`` reads and parses before it hands the frame over, so the clock starts
after the parse, later than the tree's and the single-task bot's, which start at the
socket read) to the moment httpcore reports the first of its two legs written to the socket.
Only the sim's paper endpoints are used (no signing, no keys), over loopback.
"""

from __future__ import annotations

import asyncio
import json
import math
import ssl
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import msgspec
import websockets

DEBOUNCE_S = 0.5  # the same per-pair cooldown the tree's detector uses by default
MIN_EDGE = 0.005  # USD per share after fees, as the tree's detector
ORDER_SHARES = 10  # the bench configuration's detector max_size: the tree's trade size

SCHEMA = """
CREATE TABLE peer_ticks (venue text, instrument text, recv_ns bigint, venue_ts_ms bigint);
CREATE TABLE peer_opportunities (
    id bigserial PRIMARY KEY, market int, kind text, edge double precision,
    detected_ns bigint, created_at timestamptz DEFAULT now());
CREATE TABLE peer_orders (
    opportunity bigint, venue text, instrument text, status int, body text);
"""


@dataclass(frozen=True)
class PeerMarket:
    """One listed market: its Polymarket tokens, its Kalshi ticker, its fee rate."""

    index: int
    yes_token: str
    no_token: str
    ticker: str
    fee_rate: float  # Polymarket taker rate (0.072 for crypto)


@dataclass(frozen=True)
class PeerPlan:
    polymarket_ws: str
    kalshi_ws: str
    rest_url: str
    dsn: str
    markets: tuple[PeerMarket, ...]
    duration_s: float
    warmup_s: float  # from the start; the bot connects within milliseconds
    ca_pem: bytes | None = None  # the sim's CA when it serves TLS


@dataclass
class PeerResult:
    """Per order leg written: ns from the trigger frame in hand; detections for scoring."""

    tick_to_order_ns: list[int] = field(default_factory=list)  # to each execution's first leg
    legs_written: int = 0
    tick_to_opportunity_ns: list[int] = field(default_factory=list)
    detections: list[tuple[frozenset[str], int]] = field(default_factory=list)
    updates: int = 0
    cpu_s: float = 0.0
    seconds: float = 0.0
    measured_from_ms: int = 0  # wall ms at the end of the warm-up
    measured_to_ms: int = 0  # wall ms at the end of the measured span
    orders_ok: int = 0
    orders_refused: int = 0


@dataclass
class Tick:
    market: int
    recv_ns: int
    venue_ts_ms: int
    venue: str
    instrument: str


@dataclass
class State:
    """Every book, behind one lock (the readers write, the detector reads)."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    poly_asks: dict[str, dict[float, float]] = field(default_factory=dict)  # token -> ladder
    kalshi_yes: dict[str, dict[float, float]] = field(default_factory=dict)  # YES bids
    kalshi_no: dict[str, dict[float, float]] = field(default_factory=dict)  # NO bids
    last_fired: dict[int, float] = field(default_factory=dict)


def poly_fee(shares: float, price: float, rate: float) -> float:
    return round(shares * rate * price * (1 - price), 5)


def kalshi_fee(count: float, price: float) -> float:
    return math.ceil(0.07 * count * price * (1 - price) * 100) / 100


class PeerBot:
    def __init__(self, plan: PeerPlan) -> None:
        self.plan = plan
        self.state = State()
        self.result = PeerResult()
        self.by_token: dict[str, PeerMarket] = {}
        self.by_ticker: dict[str, PeerMarket] = {}
        for m in plan.markets:
            self.by_token[m.yes_token] = self.by_token[m.no_token] = m
            self.by_ticker[m.ticker] = m
        self.queues: list[asyncio.Queue[Tick]] = [asyncio.Queue(), asyncio.Queue()]
        self.tls: ssl.SSLContext | None = None
        if plan.ca_pem is not None:
            self.tls = ssl.create_default_context(cadata=plan.ca_pem.decode())
        self.measuring = False
        self.updates = 0  # book changes published

    # ------------------------------------------------------------------ readers

    async def publish(self, tick: Tick) -> None:
        self.updates += 1
        for q in self.queues:
            await q.put(tick)

    async def read_polymarket(self) -> None:
        async with websockets.connect(self.plan.polymarket_ws, max_size=None, ssl=self.tls) as ws:
            tokens = [t for m in self.plan.markets for t in (m.yes_token, m.no_token)]
            await ws.send(json.dumps({"assets_ids": tokens, "type": "market"}))
            async for raw in ws:
                recv_ns = time.monotonic_ns()
                data = json.loads(raw)
                events = data if isinstance(data, list) else [data]
                for ev in events:
                    await self.on_polymarket(ev, recv_ns)

    async def on_polymarket(self, ev: dict[str, Any], recv_ns: int) -> None:
        kind = ev.get("event_type")
        ts = int(ev.get("timestamp") or 0)
        if kind == "book":
            token = ev["asset_id"]
            async with self.state.lock:
                self.state.poly_asks[token] = {
                    float(a["price"]): float(a["size"]) for a in ev.get("asks", [])
                }
            await self.publish(Tick(self.by_token[token].index, recv_ns, ts, "poly", token))
        elif kind == "price_change":
            for ch in ev.get("price_changes", []):
                token = ch["asset_id"]
                if ch["side"] == "SELL":
                    async with self.state.lock:
                        ladder = self.state.poly_asks.setdefault(token, {})
                        size = float(ch["size"])
                        if size:
                            ladder[float(ch["price"])] = size
                        else:
                            ladder.pop(float(ch["price"]), None)
                m = self.by_token.get(token)
                if m is not None:
                    await self.publish(Tick(m.index, recv_ns, ts, "poly", token))

    async def read_kalshi(self) -> None:
        async with websockets.connect(self.plan.kalshi_ws, max_size=None, ssl=self.tls) as ws:
            tickers = [m.ticker for m in self.plan.markets]
            cmd = {
                "id": 1,
                "cmd": "subscribe",
                "params": {"channels": ["orderbook_delta"], "market_tickers": tickers},
            }
            await ws.send(json.dumps(cmd))
            async for raw in ws:
                recv_ns = time.monotonic_ns()
                await self.on_kalshi(json.loads(raw), recv_ns)

    async def on_kalshi(self, frame: dict[str, Any], recv_ns: int) -> None:
        kind = frame.get("type")
        msg = frame.get("msg") or {}
        ticker = msg.get("market_ticker", "")
        m = self.by_ticker.get(ticker)
        if m is None:
            return
        st = self.state
        if kind == "orderbook_snapshot":
            async with st.lock:
                st.kalshi_yes[ticker] = {
                    float(p): float(s) for p, s in msg.get("yes_dollars_fp", [])
                }
                st.kalshi_no[ticker] = {float(p): float(s) for p, s in msg.get("no_dollars_fp", [])}
            await self.publish(Tick(m.index, recv_ns, 0, "kalshi", ticker))
        elif kind == "orderbook_delta":
            price, delta = float(msg["price_dollars"]), float(msg["delta_fp"])
            async with st.lock:
                book = (st.kalshi_yes if msg["side"] == "yes" else st.kalshi_no).setdefault(
                    ticker, {}
                )
                size = book.get(price, 0.0) + delta
                if size > 1e-9:
                    book[price] = size
                else:
                    book.pop(price, None)
            await self.publish(Tick(m.index, recv_ns, int(msg.get("ts_ms", 0)), "kalshi", ticker))

    # ------------------------------------------------------------------ detector

    def best_legs(self, m: PeerMarket) -> tuple[str, float, list[tuple[str, str, float]]] | None:
        """The best pair in market ``m`` (kind, edge per share after fees, legs as
        (venue, instrument, ask)), or None when no pair clears ``MIN_EDGE``. Called
        with the lock held."""
        st = self.state

        def ask(ladder: dict[float, float] | None) -> float | None:
            return min(ladder) if ladder else None

        yes_p, no_p = ask(st.poly_asks.get(m.yes_token)), ask(st.poly_asks.get(m.no_token))
        kyes_bids, kno_bids = st.kalshi_yes.get(m.ticker), st.kalshi_no.get(m.ticker)
        k_yes = 1 - max(kno_bids) if kno_bids else None  # YES ask = 1 - best NO bid
        k_no = 1 - max(kyes_bids) if kyes_bids else None
        n = float(ORDER_SHARES)
        pairs: list[tuple[str, list[tuple[str, str, float]]]] = []
        if yes_p is not None and no_p is not None:
            pairs.append(
                ("poly_complement", [("poly", m.yes_token, yes_p), ("poly", m.no_token, no_p)])
            )
        if yes_p is not None and k_no is not None:
            pairs.append(
                (
                    "poly_yes_kalshi_no",
                    [("poly", m.yes_token, yes_p), ("kalshi_no", m.ticker, k_no)],
                )
            )
        if k_yes is not None and no_p is not None:
            pairs.append(
                (
                    "kalshi_yes_poly_no",
                    [("kalshi_yes", m.ticker, k_yes), ("poly", m.no_token, no_p)],
                )
            )
        best: tuple[str, float, list[tuple[str, str, float]]] | None = None
        for kind, legs in pairs:
            fees = sum(
                poly_fee(n, p, m.fee_rate) if venue == "poly" else kalshi_fee(n, p)
                for venue, _, p in legs
            )
            edge = 1.0 - sum(p for _, _, p in legs) - fees / n
            if edge > MIN_EDGE and (best is None or edge > best[1]):
                best = (kind, edge, legs)
        return best

    async def detect(self, db: asyncpg.Connection, http: httpx.AsyncClient) -> None:
        q = self.queues[0]
        markets = {m.index: m for m in self.plan.markets}
        while True:
            tick = await q.get()
            now = time.monotonic()
            if now - self.state.last_fired.get(tick.market, -1e9) < DEBOUNCE_S:
                continue
            m = markets[tick.market]
            async with self.state.lock:
                found = self.best_legs(m)
            if found is None:
                continue
            kind, edge, legs = found
            self.state.last_fired[tick.market] = now
            self.result.detections.append((frozenset(i for _, i, _ in legs), tick.venue_ts_ms))
            if self.measuring:
                self.result.tick_to_opportunity_ns.append(time.monotonic_ns() - tick.recv_ns)
            opp_id = await db.fetchval(
                "INSERT INTO peer_opportunities (market, kind, edge, detected_ns)"
                " VALUES ($1, $2, $3, $4) RETURNING id",
                m.index,
                kind,
                edge,
                time.monotonic_ns(),
            )
            written: list[int] = []
            replies = await asyncio.gather(*(self.place(http, leg, written) for leg in legs))
            if self.measuring and written:
                self.result.tick_to_order_ns.append(min(written) - tick.recv_ns)
                self.result.legs_written += len(written)
            await db.executemany(
                "INSERT INTO peer_orders VALUES ($1, $2, $3, $4, $5)",
                [
                    (opp_id, v, i, r.status_code, r.text)
                    for (v, i, _), r in zip(legs, replies, strict=True)
                ],
            )
            for r in replies:
                if r.status_code < 300:
                    self.result.orders_ok += 1
                else:
                    self.result.orders_refused += 1

    async def place(
        self, http: httpx.AsyncClient, leg: tuple[str, str, float], written: list[int]
    ) -> httpx.Response:
        """Send one leg; ``written`` gets the time its request was written to the socket."""
        venue, instrument, price = leg

        async def trace(event: str, info: dict[str, Any]) -> None:
            if event == "http11.send_request_body.complete":
                written.append(time.monotonic_ns())

        if venue == "poly":
            shares = ORDER_SHARES * 1_000_000
            body: dict[str, Any] = {
                "order": {
                    "salt": uuid.uuid4().int % 2**53,
                    "tokenId": instrument,
                    "side": "BUY",
                    "makerAmount": str(round(price * 1_000_000) * ORDER_SHARES),
                    "takerAmount": str(shares),
                },
                "owner": "peer",
                "orderType": "FOK",
            }
            return await http.post("/order", json=body, extensions={"trace": trace})
        side = "yes" if venue == "kalshi_yes" else "no"
        body = {
            "ticker": instrument,
            "side": side,
            "action": "buy",
            "count_fp": f"{ORDER_SHARES}.00",
            f"{side}_price_dollars": f"{price:.4f}",
            "time_in_force": "fill_or_kill",
            "client_order_id": str(uuid.uuid4()),
        }
        return await http.post(
            "/trade-api/v2/portfolio/orders", json=body, extensions={"trace": trace}
        )

    # ------------------------------------------------------------------ recorder

    async def record(self, db: asyncpg.Connection) -> None:
        q = self.queues[1]
        while True:
            rows = [await q.get()]
            while not q.empty():
                rows.append(q.get_nowait())
            await db.executemany(
                "INSERT INTO peer_ticks VALUES ($1, $2, $3, $4)",
                [(t.venue, t.instrument, t.recv_ns, t.venue_ts_ms) for t in rows],
            )

    # ---------------------------------------------------------------------- run

    async def run(self) -> PeerResult:
        schema = f"peer_{uuid.uuid4().hex[:12]}"
        admin = await asyncpg.connect(self.plan.dsn)
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            settings = {"search_path": schema}
            db = await asyncpg.connect(self.plan.dsn, server_settings=settings)
            rec = await asyncpg.connect(self.plan.dsn, server_settings=settings)
            await db.execute(SCHEMA)
            verify: ssl.SSLContext | bool = self.tls if self.tls is not None else True
            async with httpx.AsyncClient(base_url=self.plan.rest_url, verify=verify) as http:
                tasks = [
                    asyncio.create_task(self.read_polymarket()),
                    asyncio.create_task(self.read_kalshi()),
                    asyncio.create_task(self.detect(db, http)),
                    asyncio.create_task(self.record(rec)),
                ]
                try:
                    await asyncio.sleep(self.plan.warmup_s)
                    self.measuring = True
                    self.result.measured_from_ms = time.time_ns() // 1_000_000
                    cpu0, t0, u0 = time.process_time(), time.monotonic(), self.updates
                    await asyncio.sleep(max(0.0, self.plan.duration_s - self.plan.warmup_s))
                    self.measuring = False
                    self.result.measured_to_ms = time.time_ns() // 1_000_000
                    self.result.cpu_s = time.process_time() - cpu0
                    self.result.seconds = time.monotonic() - t0
                    self.result.updates = self.updates - u0
                    for t in tasks:
                        if t.done():
                            t.result()  # a reader that died is an error, not a quiet bot
                finally:
                    for t in tasks:
                        t.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
            await db.close()
            await rec.close()
        finally:
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await admin.close()
        return self.result


def run_peer(plan: PeerPlan) -> PeerResult:
    """Run the peer for ``plan.duration_s`` under ``asyncio.run`` (its own event loop)."""
    return asyncio.run(PeerBot(plan).run())


def main() -> int:
    """``python -m bench.peer_bot``: a ``PeerPlan`` as JSON on stdin, the ``PeerResult``
    as JSON on stdout (how ``bench.peer_run`` runs the peer in a process of its own)."""
    plan = msgspec.json.decode(sys.stdin.buffer.read(), type=PeerPlan)
    sys.stdout.buffer.write(msgspec.json.encode(run_peer(plan)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
