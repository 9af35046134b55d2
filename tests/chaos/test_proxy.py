"""The Trio fault proxy over loopback: each Toxiproxy toxic, streams, toxicity, down/up."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from arbtree.chaos.proxy import Proxy
from arbtree.chaos.toxics import Toxic, ToxicError

Handler = Callable[[trio.SocketStream], Awaitable[None]]


async def echo(stream: trio.SocketStream) -> None:
    async with stream:
        while data := await stream.receive_some(65536):
            await stream.send_all(data)


@asynccontextmanager
async def proxied(handler: Handler = echo, *, seed: int = 0) -> AsyncIterator[Proxy]:
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        proxy = Proxy("test", ("127.0.0.1", port), seed=seed)
        await nursery.start(proxy.serve)
        yield proxy
        nursery.cancel_scope.cancel()


async def connect(proxy: Proxy) -> trio.SocketStream:
    return await trio.open_tcp_stream("127.0.0.1", proxy.port)


async def receive_exactly(stream: trio.SocketStream, n: int) -> bytes:
    out = b""
    while len(out) < n:
        data = await stream.receive_some(n - len(out))
        if not data:
            break
        out += data
    return out


async def test_no_toxics_passes_bytes_both_ways() -> None:
    async with proxied() as proxy:
        client = await connect(proxy)
        await client.send_all(b"hello")
        assert await receive_exactly(client, 5) == b"hello"
        stats = proxy.statistics()
        assert (stats.connections, stats.bytes_upstream, stats.bytes_downstream) == (1, 5, 5)
        await client.aclose()


@pytest.mark.parametrize("stream", ["downstream", "upstream"])
async def test_latency_delays_each_chunk_on_its_stream(
    autojump_clock: trio.testing.MockClock, stream: str
) -> None:
    async with proxied() as proxy:
        proxy.add_toxic(Toxic.of("latency", stream=stream, latency=1000))
        client = await connect(proxy)
        start = trio.current_time()
        await client.send_all(b"x")
        assert await receive_exactly(client, 1) == b"x"
        assert trio.current_time() - start == pytest.approx(1.0, abs=0.01)
        # pipelined: two chunks sent together arrive together, not 2 s apart
        start = trio.current_time()
        await client.send_all(b"a")
        await client.send_all(b"b")
        assert await receive_exactly(client, 2) == b"ab"
        assert trio.current_time() - start == pytest.approx(1.0, abs=0.05)


async def test_latency_jitter_stays_within_its_bounds(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with proxied(seed=3) as proxy:
        proxy.add_toxic(Toxic.of("latency", latency=500, jitter=200))
        client = await connect(proxy)
        delays = []
        for _ in range(20):
            start = trio.current_time()
            await client.send_all(b"j")
            await receive_exactly(client, 1)
            delays.append(trio.current_time() - start)
        assert all(0.299 <= d <= 0.701 for d in delays)
        assert max(delays) - min(delays) > 0.1  # the jitter is really there


async def test_bandwidth_caps_throughput(autojump_clock: trio.testing.MockClock) -> None:
    async with proxied() as proxy:
        proxy.add_toxic(Toxic.of("bandwidth", stream="upstream", rate=1))  # 1 KB/s
        client = await connect(proxy)
        start = trio.current_time()
        await client.send_all(b"z" * 3000)
        assert await receive_exactly(client, 3000) == b"z" * 3000
        assert trio.current_time() - start == pytest.approx(3.0, abs=0.05)


async def test_slicer_cuts_chunks_small() -> None:
    sizes: list[int] = []
    done = trio.Event()

    async def sink(stream: trio.SocketStream) -> None:
        total = 0
        while total < 1000:
            data = await stream.receive_some(65536)
            sizes.append(len(data))
            total += len(data)
        done.set()

    async with proxied(sink) as proxy:
        proxy.add_toxic(
            Toxic.of("slicer", stream="upstream", average_size=50, size_variation=10, delay=2000)
        )
        client = await connect(proxy)
        await client.send_all(b"s" * 1000)
        await done.wait()
    assert sum(sizes) == 1000
    assert len(sizes) >= 1000 // 60  # a 2 ms pause between slices keeps them apart
    assert max(sizes) <= 60


async def test_limit_data_closes_after_that_many_bytes() -> None:
    async with proxied() as proxy:
        proxy.add_toxic(Toxic.of("limit_data", stream="downstream", bytes=10))
        client = await connect(proxy)
        await client.send_all(b"0123456789abcdefghij")
        got = b""
        while data := await client.receive_some(100):
            got += data
        assert got == b"0123456789"
        assert proxy.statistics().closed_by_toxic == 1


async def test_timeout_zero_holds_data_until_the_toxic_goes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with proxied() as proxy:
        proxy.add_toxic(Toxic.of("timeout", stream="upstream", timeout=0))
        client = await connect(proxy)
        await client.send_all(b"held")
        with trio.move_on_after(30) as waited:
            await client.receive_some(10)
        assert waited.cancelled_caught  # nothing for 30 s, connection still open
        proxy.remove_toxic("timeout_upstream")
        assert await receive_exactly(client, 4) == b"held"


async def test_timeout_closes_the_connection_after_its_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with proxied() as proxy:
        proxy.add_toxic(Toxic.of("timeout", timeout=2000))
        client = await connect(proxy)
        start = trio.current_time()
        await client.send_all(b"lost")
        assert await client.receive_some(10) == b""  # closed, nothing delivered
        assert trio.current_time() - start == pytest.approx(2.0, abs=0.01)


async def test_reset_peer_resets_the_connection(autojump_clock: trio.testing.MockClock) -> None:
    async with proxied() as proxy:
        proxy.add_toxic(Toxic.of("reset_peer", timeout=500))
        client = await connect(proxy)
        start = trio.current_time()
        with pytest.raises(trio.BrokenResourceError):
            await client.receive_some(10)
        assert trio.current_time() - start == pytest.approx(0.5, abs=0.01)
        assert proxy.statistics().resets == 1


async def test_slow_close_delays_the_close(autojump_clock: trio.testing.MockClock) -> None:
    async def close_at_once(stream: trio.SocketStream) -> None:
        await stream.send_all(b"bye")
        await stream.aclose()

    async with proxied(close_at_once) as proxy:
        proxy.add_toxic(Toxic.of("slow_close", delay=1500))
        client = await connect(proxy)
        start = trio.current_time()
        assert await receive_exactly(client, 3) == b"bye"
        assert await client.receive_some(10) == b""
        assert trio.current_time() - start == pytest.approx(1.5, abs=0.01)


async def test_toxicity_decides_per_connection_and_is_seeded(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def delayed_links(seed: int) -> list[bool]:
        async with proxied(seed=seed) as proxy:
            proxy.add_toxic(Toxic.of("latency", latency=1000, toxicity=0.5))
            out = []
            for _ in range(16):
                client = await connect(proxy)
                start = trio.current_time()
                await client.send_all(b"t")
                await receive_exactly(client, 1)
                out.append(trio.current_time() - start > 0.5)
                await client.aclose()
            return out

    first = await delayed_links(11)
    assert 0 < sum(first) < 16
    assert await delayed_links(11) == first


async def test_disable_closes_links_and_refuses_until_enabled() -> None:
    async with proxied() as proxy:
        client = await connect(proxy)
        await client.send_all(b"1")
        assert await receive_exactly(client, 1) == b"1"
        proxy.disable()
        assert await client.receive_some(10) == b""
        refused = await connect(proxy)
        assert await refused.receive_some(10) == b""
        proxy.enable()
        again = await connect(proxy)
        await again.send_all(b"2")
        assert await receive_exactly(again, 1) == b"2"


async def test_unix_socket_upstream(tmp_path: Path) -> None:
    path = str(tmp_path / "s")
    sock = trio.socket.socket(trio.socket.AF_UNIX)
    await sock.bind(path)
    sock.listen()
    listener = trio.SocketListener(sock)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, echo, [listener])
        proxy = Proxy("unix", path)
        await nursery.start(proxy.serve)
        client = await connect(proxy)
        await client.send_all(b"pg")
        assert await receive_exactly(client, 2) == b"pg"
        nursery.cancel_scope.cancel()


def test_toxics_are_checked_like_toxiproxy_does() -> None:
    t = Toxic.from_json({"type": "latency", "attributes": {"latency": 100}})
    assert t.to_json() == {
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
        "attributes": {"latency": 100, "jitter": 0},
    }
    bad: list[tuple[dict[str, Any], str]] = [
        ({"type": "meteor"}, "unknown toxic type"),
        ({"type": "latency", "stream": "sideways"}, "stream must be"),
        ({"type": "latency", "toxicity": 2}, "toxicity"),
        ({"type": "latency", "attributes": {"latncy": 1}}, "no attribute 'latncy'"),
        ({"type": "latency", "attributes": {"latency": -1}}, "finite number"),
        ({"type": "bandwidth", "attributes": {"rate": 0}}, "rate must be"),
        ({"type": "slicer", "attributes": {"average_size": 5, "size_variation": 5}}, "below"),
    ]
    for body, words in bad:
        with pytest.raises(ToxicError, match=words):
            Toxic.from_json(body)
