"""Out-of-process websocket replay server for ``bench/market_bench.py``.

Usage: ``python bench/replay_server.py FRAMES [--rate R] [--limit N]`` where ``FRAMES`` is
a msgspec-msgpack encoded :class:`Replay` (extra fields, such as the bench's market list,
are ignored). The server listens on 127.0.0.1, port 0, and reports on stdout, one line
each, flushed:

- ``port P`` once listening;
- ``started T`` when it starts sending a client's price_change frames (after the books).

``T`` is ``time.monotonic()``: CLOCK_MONOTONIC on Linux, one clock for every process on the
machine, so the parent can subtract it from its own ``time.monotonic()`` readings.

Clients are served one at a time. Per client: complete the websocket handshake, wait for
the first text message (the subscribe), send the book frames, then the first ``--limit``
price_change frames, either paced at ``--rate`` book updates/s (``Replay.updates_per_frame``
gives each frame's count; every frame already due goes out in one write) or, with rate 0,
as fast as possible; then answer text ``PING`` with ``PONG`` until the client goes.

Cost: every frame is encoded once, up front, as a complete RFC 6455 server frame
(unmasked), and the as-fast-as-possible replay writes them in chunks of about
:data:`CHUNK` bytes cut at frame boundaries, so that sending is a handful of ``send``
syscalls and never the bottleneck of the client being measured. wsproto is used only for
the handshake, for reading the client's frames and for the replies to them.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import struct
import sys
import time
from pathlib import Path

import msgspec
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Event,
    Message,
    Ping,
    Request,
    TextMessage,
)

CHUNK = 256 * 1024  # bytes per write in the as-fast-as-possible replay


class Replay(msgspec.Struct):
    """What the server replays: Polymarket book frames, then price_change frames."""

    books: list[str]
    changes: list[str]
    updates_per_frame: list[int]  # book updates carried by each price_change frame


def ws_frame(text: str) -> bytes:
    """``text`` as one complete, unmasked RFC 6455 text frame (FIN, opcode 1)."""
    payload = text.encode()
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x81, n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x81, 126, n)
    else:
        head = struct.pack("!BBQ", 0x81, 127, n)
    return head + payload


def chunks(frames: list[bytes], size: int = CHUNK) -> list[bytes]:
    """Concatenate ``frames`` into writes of at least ``size`` bytes (the last may be
    shorter), cut at frame boundaries so a reply may be written between two of them."""
    out: list[bytes] = []
    cur: list[bytes] = []
    n = 0
    for f in frames:
        cur.append(f)
        n += len(f)
        if n >= size:
            out.append(b"".join(cur))
            cur, n = [], 0
    if cur:
        out.append(b"".join(cur))
    return out


def report(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Plan(msgspec.Struct):
    """The replay, encoded once per process: every frame is ready to write."""

    books: bytes  # all book frames, one write
    changes: list[bytes]  # one complete frame each (paced replay)
    chunks: list[bytes]  # the same frames in writes of ~CHUNK bytes (rate 0)
    due: list[float]  # offset (s) from the start at which each frame is due (rate > 0)
    rate: float

    @classmethod
    def of(cls, replay: Replay, rate: float, limit: int) -> Plan:
        changes = [ws_frame(c) for c in replay.changes[:limit]]
        due = (
            [u / rate for u in itertools.accumulate(replay.updates_per_frame[:limit])]
            if rate
            else []
        )
        books = b"".join(ws_frame(b) for b in replay.books)
        return cls(books, changes, chunks(changes), due, rate)


class Client:
    """One client connection: handshake and reads (wsproto), replay, replies."""

    def __init__(self, stream: trio.SocketStream, plan: Plan) -> None:
        self.stream = stream
        self.plan = plan
        self.conn = WSConnection(ConnectionType.SERVER)
        self.lock = trio.Lock()  # one writer at a time, whole frames only
        self.subscribed = trio.Event()
        self.text = ""  # a text message being reassembled
        self.closed = False

    async def send(self, data: bytes) -> None:
        async with self.lock:
            await self.stream.send_all(data)

    async def run(self) -> None:
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self.replay)
                await self.read()
                nursery.cancel_scope.cancel()
        except* (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the client went mid-write
        finally:
            await self.stream.aclose()

    async def replay(self) -> None:
        plan = self.plan
        await self.subscribed.wait()
        await self.send(plan.books)
        start = trio.current_time()  # trio's clock, for sleep_until
        report(f"started {time.monotonic()!r}")
        if not plan.rate:
            for chunk in plan.chunks:
                await self.send(chunk)
        else:
            i, n = 0, len(plan.changes)
            while i < n:
                await trio.sleep_until(start + plan.due[i])
                j = bisect.bisect_right(plan.due, trio.current_time() - start, lo=i + 1)
                await self.send(b"".join(plan.changes[i:j]))
                i = j

    async def read(self) -> None:
        """Handle the client's frames until it closes or goes."""
        conn = self.conn
        while True:
            data = await self.stream.receive_some(65536)
            conn.receive_data(data or None)
            await self.handle(list(conn.events()))
            if self.closed or not data:
                return

    async def handle(self, events: list[Event]) -> None:
        conn = self.conn
        for ev in events:
            if isinstance(ev, Request):
                await self.send(conn.send(AcceptConnection()))
            elif isinstance(ev, TextMessage):
                self.text += ev.data
                if not ev.message_finished:
                    continue
                if self.subscribed.is_set() and self.text == "PING":
                    await self.send(conn.send(Message(data="PONG")))
                self.subscribed.set()  # the first message is the subscribe
                self.text = ""
            elif isinstance(ev, Ping):
                await self.send(conn.send(ev.response()))
            elif isinstance(ev, CloseConnection):
                if conn.state is ConnectionState.REMOTE_CLOSING:
                    await self.send(conn.send(ev.response()))
                self.closed = True
                return


async def serve(plan: Plan) -> None:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    report(f"port {listener.socket.getsockname()[1]}")
    async with listener:
        while True:  # one client at a time
            stream = await listener.accept()
            await Client(stream, plan).run()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("frames", type=Path, help="msgspec-msgpack encoded Replay")
    ap.add_argument("--rate", type=float, default=0.0, help="updates/s; 0 = as fast as possible")
    ap.add_argument("--limit", type=int, default=None, help="price_change frames to send")
    args = ap.parse_args(argv)
    replay = msgspec.msgpack.decode(args.frames.read_bytes(), type=Replay)
    limit = len(replay.changes) if args.limit is None else args.limit
    trio.run(serve, Plan.of(replay, args.rate, limit))


if __name__ == "__main__":
    main()
