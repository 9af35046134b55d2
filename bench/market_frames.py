"""The venue side of ``arbtree bench market``: frames from the simulated venue's scenario,
the out-of-process replay server (:class:`ReplayProcess`, ``bench/replay_server.py``) that
sends them, and the receive floors measured against it (a bare trio-websocket client, the
feed's own websocket client, and a client that only counts bytes, which shows the server
is not what the others measure). See :mod:`bench.market_bench`.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO

import msgspec
import trio
import trio_websocket

from actors.feeds.websocket import open_feed_websocket
from actors.sim.config import SimConfig
from actors.sim.scenario import Scenario
from actors.sim.wire_polymarket import PolyWire, encode
from bench.replay_server import Replay, ws_frame
from protocols.config.market import PolymarketMarket
from protocols.venues.polymarket import MarketDecoder


class Frames(msgspec.Struct):
    books: list[str]
    changes: list[str]
    updates_per_frame: list[int]
    markets: list[PolymarketMarket]


def scenario_frames(
    n_frames: int, markets: int = 8, seed: int = 1
) -> tuple[Scenario, list[str], list[str]]:
    """Polymarket frames from the sim's scenario: (scenario, initial books, price_changes)."""
    cfg = SimConfig(seed=seed, markets=markets, rate=4000.0, window_rate=0.0)
    sc = Scenario(cfg, 1_800_000_000_000)
    wire = PolyWire(sc.markets)
    ts = 1_800_000_000_000
    books = [encode(wire.book(t, ts)) for m in sc.markets for t in (m.yes_token, m.no_token)]
    changes: list[str] = []
    while len(changes) < n_frames:
        sc.step()
        ts += 1
        log = list(sc.log)
        sc.log.clear()
        changes.extend(encode(obj) for obj in wire.price_changes(log, ts).values())
    return sc, books, changes[:n_frames]


def make_frames(n_frames: int, markets: int = 8, seed: int = 1) -> Frames:
    """Polymarket frames from the sim's scenario, with each frame's update count."""
    sc, books, changes = scenario_frames(n_frames, markets, seed)
    dec = MarketDecoder()
    for b in books:
        dec.decode(b, 0)
    per = [len(dec.decode(f, 0)) for f in changes]
    pm = [
        PolymarketMarket(
            name=f"m{m.index}", yes_token=m.yes_token, no_token=m.no_token, category="politics"
        )
        for m in sc.markets
    ]
    return Frames(books, changes, per, pm)


def write_replay(frames: Frames, path: Path) -> Path:
    """The frames, as the replay server reads them (msgspec msgpack)."""
    replay = Replay(frames.books, frames.changes, frames.updates_per_frame)
    path.write_bytes(msgspec.msgpack.encode(replay))
    return path


class ReplayProcess:
    """One ``bench/replay_server.py`` process (the venue, out of process) for one
    measurement run: ``with ReplayProcess(path, rate) as srv: ...`` then connect to
    ``srv.url``. After the client has had every frame, :meth:`started_at` is the server's
    ``time.monotonic()`` when it started sending the price_change frames (CLOCK_MONOTONIC
    is one clock for all processes on Linux, so it compares with this process's
    ``time.monotonic()``)."""

    def __init__(self, path: Path, rate: float, limit: int | None = None) -> None:
        self.args = [
            sys.executable,
            str(Path(__file__).with_name("replay_server.py")),
            str(path),
            "--rate",
            str(rate),
        ]
        if limit is not None:
            self.args += ["--limit", str(limit)]
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.url = ""

    def __enter__(self) -> ReplayProcess:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, text=True)
        self.port = int(self._line("port"))
        self.url = f"ws://127.0.0.1:{self.port}/ws/market"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(5)
        self._stdout().close()

    def _stdout(self) -> IO[str]:
        assert self.proc is not None
        assert self.proc.stdout is not None
        return self.proc.stdout

    def _line(self, key: str) -> str:
        """The value of the server's next report line, which must be ``key`` (blocks)."""
        line = self._stdout().readline().split()
        if len(line) != 2 or line[0] != key:
            raise RuntimeError(f"replay server: expected {key!r}, got {line!r}")
        return line[1]

    def started_at(self) -> float:
        return float(self._line("started"))


def raw_receive_rate(path: Path, frames: Frames, queue: int, read_bytes: int) -> float:
    """Frames/s a bare trio-websocket client receives from the replay server (the floor),
    with the same reader queue and read size as the feed."""

    async def receive(url: str) -> float:
        async with trio_websocket.open_websocket_url(
            url, message_queue_size=queue, receive_buffer_size=read_bytes
        ) as ws:
            await ws.send_message("{}")
            for _ in range(len(frames.books) + len(frames.changes)):
                await ws.get_message()
            return time.monotonic()

    return _replay_rate(path, frames, receive)


def client_receive_rate(path: Path, frames: Frames, read_bytes: int) -> float:
    """Frames/s the feed's own websocket client (:mod:`actors.feeds.websocket`) receives
    from the replay server with nothing done per frame: the feed's stricter floor."""

    async def receive(url: str) -> float:
        async with open_feed_websocket(url, connect_timeout=10, read_bytes=read_bytes) as ws:
            ws.send_text_nowait("{}")
            left = len(frames.books) + len(frames.changes)
            while left > 0:
                left -= len(await ws.receive_messages())
            return time.monotonic()

    return _replay_rate(path, frames, receive)


def _replay_rate(path: Path, frames: Frames, receive: Callable[[str], Awaitable[float]]) -> float:
    """price_change frames/s from the server starting them to ``receive`` (a client run
    against the server's URL) returning its ``time.monotonic()`` at the last one."""
    with ReplayProcess(path, 0) as srv:
        done = trio.run(receive, srv.url)
        return len(frames.changes) / (done - srv.started_at())


def server_rate(path: Path, frames: Frames) -> float:
    """Frames/s the replay server sends to a client that only counts bytes (no websocket
    parsing): the server's own ceiling, to show it is not what the floor measures."""
    expected = sum(len(ws_frame(f)) for f in (*frames.books, *frames.changes))

    async def receive(port: int) -> float:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            handshake = (
                f"GET /ws/market HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
            subscribe = b"\x81\x82\x00\x00\x00\x00{}"  # masked "{}", all-zero mask key
            await stream.send_all(handshake)
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += await stream.receive_some(1 << 20)
            await stream.send_all(subscribe)
            got = len(buf) - buf.index(b"\r\n\r\n") - 4
            while got < expected:
                got += len(await stream.receive_some(1 << 20))
            return time.monotonic()

    with ReplayProcess(path, 0) as srv:
        done = trio.run(receive, srv.port)
        return len(frames.changes) / (done - srv.started_at())
