"""The same-run floors the benchmarks report their figures against: raw mailbox hops and
one raw ``send`` of an order's bytes. Each measures one message (or request) at a time,
so a floor never includes queueing behind its own earlier samples."""

from __future__ import annotations

import itertools
import socket
import time

import h11
import httpx
import trio
from hdrh.histogram import HdrHistogram

from bench.percentiles import histogram
from supervision import Mailbox, OverflowPolicy


async def raw_hops(count: int, n: int, pace_s: float = 0.0) -> HdrHistogram:
    """``n`` messages through ``count`` raw mailbox hops (the actors' Mailbox, BLOCK: the
    sender, ``count - 1`` relays, a sink), µs from the send to the sink's receive, one
    message in flight. ``pace_s`` 0: the next message goes as soon as the last arrived
    (the loop never idles, caches stay warm); else after ``pace_s`` of idle loop, as
    ticks arrive at a steady rate."""
    hist = histogram()
    boxes: list[Mailbox[int]] = [Mailbox(f"h{i}", 8, OverflowPolicy.BLOCK) for i in range(count)]
    arrived = trio.Event()

    async def relay(src: Mailbox[int], dst: Mailbox[int]) -> None:
        while True:
            await dst.send(await src.receive())

    async def sink() -> None:
        while True:
            t0 = await boxes[-1].receive()
            hist.record_value(max(1, (time.monotonic_ns() - t0) // 1000))
            arrived.set()

    async with trio.open_nursery() as nursery:
        for src, dst in itertools.pairwise(boxes):
            nursery.start_soon(relay, src, dst)
        nursery.start_soon(sink)
        for _ in range(n):
            arrived = trio.Event()
            await boxes[0].send(time.monotonic_ns())
            await arrived.wait()
            if pace_s:
                await trio.sleep(pace_s)
        nursery.cancel_scope.cancel()
    return hist


async def raw_send_floor(target: str, body: bytes, n: int, warmup: int, hist: HdrHistogram) -> None:
    """An order's floor to the socket: the request's bytes, serialized beforehand, written
    to ``target`` with one ``send`` on a connected keep-alive socket (the reply is read,
    untimed, with h11)."""
    url = httpx.URL(target)
    data = (
        b"POST %s HTTP/1.1\r\nHost: %s\r\ncontent-type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % (url.raw_path, url.netloc, len(body))
    ) + body
    sock = socket.socket()
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    tsock = trio.socket.from_stdlib_socket(sock)
    await tsock.connect((url.host, url.port or 80))
    stream = trio.SocketStream(tsock)
    conn = h11.Connection(h11.CLIENT)
    async with stream:
        for i in range(warmup + n):
            if i == warmup:
                hist.reset()
            t0 = time.perf_counter_ns()
            sent = sock.send(data)
            hist.record_value(max(1, (time.perf_counter_ns() - t0) // 1000))
            if sent != len(data):
                raise RuntimeError("the raw floor's request did not fit one send")
            head = [(b"Host", url.netloc), (b"Content-Length", str(len(body)).encode())]
            conn.send(h11.Request(method="POST", target=url.raw_path, headers=head))
            conn.send(h11.Data(data=body))
            conn.send(h11.EndOfMessage())
            while not isinstance(event := conn.next_event(), h11.EndOfMessage):
                if event is h11.NEED_DATA:
                    conn.receive_data(await stream.receive_some(65536))
            conn.start_next_cycle()
