"""Sim load benchmark: book updates/s the sim sustains to real clients, vs a raw floor.

Runs the sim at a target rate (book-level updates per second, all venues together) for a
few seconds with one Polymarket client subscribed to every token and one Kalshi client
subscribed to every ticker, and counts what they receive: Polymarket ``price_changes``
entries plus Kalshi ``orderbook_delta`` frames are the updates; frames are websocket
messages. The clients run in a separate process by default (as a real client would, and
so the two cores are shared the way a deployment shares them); ``--same-process`` puts
them in the sim's trio loop instead.

The raw floor is measured in the same run and the same topology: plain trio-websocket
servers send frames of the sim's mean Polymarket and Kalshi frame sizes, in the sim's
observed Polymarket:Kalshi frame mix, as fast as the clients take them. The ratio
sim/raw frames is the share of the transport's capacity the sim's traffic uses (below 1
when the sim holds its target with room to spare; the sim is rate-limited, the floor is
not). ``sim cpu`` is the process time of the sim's process per wall second.

    python bench/sim_bench.py --rate 20000 --markets 20
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from typing import Any

import attrs
import trio
from trio_websocket import (
    ConnectionClosed,
    WebSocketConnection,
    WebSocketRequest,
    open_websocket_url,
    serve_websocket,
)

from actors.sim import SimConfig, open_sim_venue

MAX_MESSAGE = 1 << 24


@attrs.define
class Counts:
    """What the clients received during the measured window."""

    seconds: float = 0.0
    poly_frames: int = 0
    poly_updates: int = 0
    poly_bytes: int = 0
    kalshi_frames: int = 0
    kalshi_updates: int = 0
    kalshi_bytes: int = 0
    closed: str = ""  # set when the server closed a client (e.g. dropped as too slow)

    @property
    def frames(self) -> int:
        return self.poly_frames + self.kalshi_frames

    @property
    def updates(self) -> int:
        return self.poly_updates + self.kalshi_updates


@attrs.frozen
class Plan:
    """Where the clients connect and what they subscribe to."""

    poly_url: str
    kalshi_url: str
    poly_subscribe: str | None  # None: raw floor, nothing to subscribe
    kalshi_subscribe: str | None
    warmup: float
    seconds: float


async def _count(ws: WebSocketConnection, counts: Counts, poly: bool) -> None:
    while True:
        try:
            msg = await ws.get_message()
        except ConnectionClosed as exc:
            counts.closed = f"{'polymarket' if poly else 'kalshi'} client closed: {exc.reason}"
            await trio.sleep_forever()  # keep counting the other client
        text = msg if isinstance(msg, str) else msg.decode()
        if poly:
            counts.poly_frames += 1
            counts.poly_bytes += len(text)
            counts.poly_updates += text.count('"best_bid"')  # price_changes entries only
        else:
            counts.kalshi_frames += 1
            counts.kalshi_bytes += len(text)
            counts.kalshi_updates += text.startswith('{"type":"orderbook_delta"')


async def run_clients(plan: Plan, started: Callable[[], Awaitable[None]] | None = None) -> Counts:
    """Connect both clients, subscribe, skip ``warmup`` s, then count for ``seconds``."""
    counts = Counts()
    async with (
        open_websocket_url(plan.poly_url, max_message_size=MAX_MESSAGE) as pws,
        open_websocket_url(plan.kalshi_url, max_message_size=MAX_MESSAGE) as kws,
    ):
        if plan.poly_subscribe is not None:
            await pws.send_message(plan.poly_subscribe)
        if plan.kalshi_subscribe is not None:
            await kws.send_message(plan.kalshi_subscribe)
        async with trio.open_nursery() as nursery:
            warm = Counts()
            nursery.start_soon(_count, pws, warm, True)
            nursery.start_soon(_count, kws, warm, False)
            await trio.sleep(plan.warmup)
            nursery.cancel_scope.cancel()
        if started is not None:
            await started()
        counts.closed = warm.closed
        start = time.perf_counter()
        with trio.move_on_after(plan.seconds):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_count, pws, counts, True)
                nursery.start_soon(_count, kws, counts, False)
        counts.seconds = time.perf_counter() - start
    return counts


def _client_process(plan: Plan, pipe: Any) -> None:
    async def started() -> None:
        pipe.send("started")

    try:
        counts = trio.run(run_clients, plan, started)
    except BaseException as exc:
        pipe.send(f"client failed: {exc!r}")
        raise
    pipe.send(attrs.asdict(counts))


def _recv(pipe: Any, proc: Any, timeout: float) -> Any:
    """The child's next message; raises if it dies or stays silent past ``timeout``."""
    deadline = time.monotonic() + timeout
    while not pipe.poll(0.2):
        if not proc.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the client process died or hung")
    msg = pipe.recv()
    if isinstance(msg, str) and msg.startswith("client failed"):
        raise RuntimeError(msg)
    return msg


async def measure(plan: Plan, same_process: bool) -> tuple[Counts, float]:
    """Run the clients (here or in a child process); (counts, server cpu per wall second)."""
    if same_process:
        marks: list[float] = []

        async def mark() -> None:
            marks.append(time.process_time())

        counts = await run_clients(plan, mark)
        return counts, (time.process_time() - marks[0]) / counts.seconds
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_client_process, args=(plan, child), daemon=True)
    proc.start()
    limit = plan.warmup + plan.seconds + 30.0
    try:
        assert await trio.to_thread.run_sync(_recv, parent, proc, limit) == "started"
        cpu0, wall0 = time.process_time(), time.perf_counter()
        result = await trio.to_thread.run_sync(_recv, parent, proc, limit)
        cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    finally:
        await trio.to_thread.run_sync(proc.join, 10)
    return Counts(**result), cpu


async def sim_rate(
    rate: float, markets: int, plan: Plan, same_process: bool
) -> tuple[Counts, float]:
    cfg = SimConfig(seed=1, markets=markets, rate=rate, window_rate=0.5)
    async with open_sim_venue(cfg) as sim:
        tokens = [t for m in sim.markets for t in (m.yes_token, m.no_token)]
        tickers = [m.ticker for m in sim.markets]
        plan = attrs.evolve(
            plan,
            poly_url=sim.polymarket_ws_url,
            kalshi_url=sim.kalshi_ws_url,
            poly_subscribe=json.dumps({"assets_ids": tokens, "type": "market"}),
            kalshi_subscribe=json.dumps(
                {
                    "id": 1,
                    "cmd": "subscribe",
                    "params": {"channels": ["orderbook_delta"], "market_tickers": tickers},
                }
            ),
        )
        return await measure(plan, same_process)


async def raw_rate(sim: Counts, plan: Plan, same_process: bool) -> tuple[Counts, float]:
    """Plain trio-websocket servers sending the sim's frame sizes and mix, flat out."""
    poly_size = max(1, sim.poly_bytes // max(1, sim.poly_frames))
    kalshi_size = max(1, sim.kalshi_bytes // max(1, sim.kalshi_frames))
    # frames per round in the sim's proportion (at least one of each)
    per_poly = max(1, round(sim.kalshi_frames / max(1, sim.poly_frames)))
    poly_frame = '"best_bid"'.ljust(poly_size, "x")  # counted as 1 update per frame
    kalshi_frame = '{"type":"orderbook_delta"'.ljust(kalshi_size, "x")
    conns: dict[str, WebSocketConnection] = {}
    both = trio.Event()

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        conns[request.path] = ws
        if len(conns) == 2:
            both.set()
        await trio.sleep_forever()

    async def pump() -> None:
        await both.wait()
        p, k = conns["/poly"], conns["/kalshi"]
        with suppress(ConnectionClosed):
            while True:
                await p.send_message(poly_frame)
                for _ in range(per_poly):
                    await k.send_message(kalshi_frame)

    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_websocket, handler, "127.0.0.1", 0, None)
        nursery.start_soon(pump)
        base = f"ws://127.0.0.1:{server.port}"
        plan = attrs.evolve(
            plan,
            poly_url=f"{base}/poly",
            kalshi_url=f"{base}/kalshi",
            poly_subscribe=None,
            kalshi_subscribe=None,
        )
        result = await measure(plan, same_process)
        nursery.cancel_scope.cancel()
    return result


def run(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sim_bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=20_000.0, help="target updates/s")
    parser.add_argument("--markets", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=4.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument(
        "--same-process", action="store_true", help="run the clients in the sim's own trio loop"
    )
    args = parser.parse_args(argv)
    plan = Plan("", "", None, None, args.warmup, args.seconds)
    sim, sim_cpu = trio.run(sim_rate, args.rate, args.markets, plan, args.same_process)
    raw, raw_cpu = trio.run(raw_rate, sim, plan, args.same_process)
    s, r = sim.seconds, raw.seconds
    where = "same process" if args.same_process else "client in its own process"
    print(f"target {args.rate:,.0f} updates/s, {args.markets} markets, {where}")
    poly_mean = sim.poly_bytes / max(1, sim.poly_frames)
    kalshi_mean = sim.kalshi_bytes / max(1, sim.kalshi_frames)
    print(
        f"sim:   {sim.updates / s:,.0f} updates/s (polymarket {sim.poly_updates / s:,.0f} "
        f"entries, kalshi {sim.kalshi_updates / s:,.0f} deltas), {sim.frames / s:,.0f} frames/s "
        f"(polymarket {sim.poly_frames / s:,.0f} x {poly_mean:,.0f} B, "
        f"kalshi {sim.kalshi_frames / s:,.0f} x {kalshi_mean:,.0f} B), sim cpu {sim_cpu:.0%}"
    )
    print(
        f"raw:   {raw.frames / r:,.0f} frames/s of the same sizes and mix "
        f"(trio-websocket floor), server cpu {raw_cpu:.0%}"
    )
    if sim.closed:
        print(f"sim:   {sim.closed}")
    print(
        f"ratio: sim/raw frames {sim.frames / s / (raw.frames / r):.2f}; "
        f"updates/s at target {sim.updates / s / args.rate:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(run())
