"""Sim send-rate benchmark: the sim's sustained rate to one websocket client, vs a raw floor.

Runs the sim at a target book-update rate for a few seconds with one Polymarket client
subscribed to every token, counts frames and book updates received, then measures raw
trio-websocket send/receive of frames of the same mean size over loopback in the same
process. Reports absolute rates and the ratio (sim frames/s over raw frames/s).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Sequence

import trio
from trio_websocket import ConnectionClosed, WebSocketRequest, open_websocket_url, serve_websocket

from actors.sim import SimConfig, open_sim_venue


async def _sim_rate(rate: float, markets: int, seconds: float) -> tuple[float, float, float]:
    cfg = SimConfig(seed=1, markets=markets, rate=rate, window_rate=0.5)
    async with open_sim_venue(cfg) as sim:
        tokens = [t for m in sim.markets for t in (m.yes_token, m.no_token)]
        async with open_websocket_url(sim.polymarket_ws_url, max_message_size=1 << 24) as ws:
            await ws.send_message(json.dumps({"assets_ids": tokens, "type": "market"}))
            await ws.get_message()
            frames = updates = size = 0
            start = time.perf_counter()
            with trio.move_on_after(seconds):
                while True:
                    msg = await ws.get_message()
                    assert isinstance(msg, str)
                    frames += 1
                    size += len(msg)
                    updates += msg.count('"asset_id"')
            wall = time.perf_counter() - start
    return frames / wall, updates / wall, size / max(frames, 1)


async def _raw_rate(frame_size: int, seconds: float) -> float:
    payload = "x" * frame_size
    received = 0

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        with trio.move_on_after(seconds + 1), contextlib.suppress(ConnectionClosed):
            while True:
                await ws.send_message(payload)

    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_websocket, handler, "127.0.0.1", 0, None)
        async with open_websocket_url(f"ws://127.0.0.1:{server.port}/") as ws:
            start = time.perf_counter()
            with trio.move_on_after(seconds):
                while True:
                    await ws.get_message()
                    received += 1
            wall = time.perf_counter() - start
        nursery.cancel_scope.cancel()
    return received / wall


def run(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sim_bench", description=__doc__)
    parser.add_argument("--rate", type=float, default=20_000.0, help="target updates/s")
    parser.add_argument("--markets", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args(argv)
    frames, updates, mean = trio.run(_sim_rate, args.rate, args.markets, args.seconds)
    raw = trio.run(_raw_rate, max(1, round(mean)), args.seconds)
    print(f"sim:  {frames:,.0f} frames/s, {updates:,.0f} book updates/s "
          f"(target {args.rate:,.0f}), mean frame {mean:,.0f} B")
    print(f"raw:  {raw:,.0f} frames/s of {mean:,.0f} B (trio-websocket send+receive floor)")
    print(f"ratio sim/raw frames: {frames / raw:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(run())
