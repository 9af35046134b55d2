"""KeepAliveTransport: pooling, keep-alive, timeouts, and the error classes the venue
clients turn into NotSent (retry is safe) or Ambiguous (resolve by lookup), against a
loopback server whose behaviour each test chooses."""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import h11
import httpx
import pytest
import trio
import trio.testing
import trustme

from actors.trading.http_transport import request
from actors.trading.keepalive_transport import KeepAliveTransport
from actors.trading.venue_clients import Ambiguous, NotSent
from tests.step_counter import StepCounter
from tests.trading.http_server import Handler, Server, echo, read_request, serve


def client(base: str, **limits: Any) -> tuple[httpx.AsyncClient, KeepAliveTransport]:
    transport = KeepAliveTransport.from_limits(httpx.Limits(**{"max_connections": 4, **limits}))
    http = httpx.AsyncClient(
        base_url=base, transport=transport, timeout=httpx.Timeout(5.0, read=30.0, pool=0.5)
    )
    return http, transport


async def test_requests_share_one_keep_alive_connection() -> None:
    async with serve(echo) as (base, server):
        http, transport = client(base)
        for i in range(3):
            resp = await request(
                http,
                "POST",
                "/orders",
                content=b"order %d" % i,
                headers={"content-type": "application/json"},
            )
            assert resp.status_code == 200
            assert resp.content == b"order %d" % i
        resp = await request(http, "GET", "/balance")
        assert resp.content == b""
        assert server.bodies == [b"order 0", b"order 1", b"order 2", b""]
        assert transport.connects == server.connections == 1
        await http.aclose()


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    async def close_after_one(stream: trio.SocketStream, server: Server) -> None:
        await echo(stream, server, close_after=1)

    async with serve(close_after_one) as (base, server):
        http, transport = client(base)
        assert (await request(http, "POST", "/o", content=b"a")).content == b"a"
        await server.closed.wait()
        assert (await request(http, "POST", "/o", content=b"b")).content == b"b"
        assert transport.connects == 2
        await http.aclose()


async def test_idle_connections_expire(autojump_clock: trio.testing.MockClock) -> None:
    async with serve(echo) as (base, _):
        http, transport = client(base, keepalive_expiry=5.0)
        await request(http, "POST", "/o", content=b"a")
        await trio.sleep(1.0)
        await request(http, "POST", "/o", content=b"b")
        assert transport.connects == 1
        await trio.sleep(6.0)
        await request(http, "POST", "/o", content=b"c")
        assert transport.connects == 2
        await http.aclose()


async def hang(stream: trio.SocketStream, server: Server) -> None:
    """Read the request, then never answer."""
    body = await read_request(stream, h11.Connection(h11.SERVER))
    server.bodies.append(body or b"")
    await server.hold.wait()


async def test_pool_timeout_is_not_sent(autojump_clock: trio.testing.MockClock) -> None:
    async with serve(hang) as (base, server):
        http, _ = client(base, max_connections=1)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(request, http, "POST", "/o", content=b"first"))
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(NotSent, match="PoolTimeout"):
                await request(http, "POST", "/o", content=b"second")
            nursery.cancel_scope.cancel()
        assert server.bodies == [b"first"]  # the second never left
        await http.aclose()


async def test_read_timeout_after_sending_is_ambiguous(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with serve(hang) as (base, server):
        http, _ = client(base)
        with pytest.raises(Ambiguous, match="ReadTimeout"):
            await request(http, "POST", "/o", content=b"order")
        assert server.bodies == [b"order"]  # it did reach the venue
        await http.aclose()


async def test_closed_without_a_reply_is_ambiguous() -> None:
    async def close_at_once(stream: trio.SocketStream, server: Server) -> None:
        server.bodies.append(await read_request(stream, h11.Connection(h11.SERVER)) or b"")

    async with serve(close_at_once) as (base, server):
        http, _ = client(base)
        with pytest.raises(Ambiguous, match="RemoteProtocolError"):
            await request(http, "POST", "/o", content=b"order")
        assert server.bodies == [b"order"]
        await http.aclose()


async def test_connection_refused_is_not_sent() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    http, _ = client(f"http://127.0.0.1:{port}")
    with pytest.raises(NotSent, match="ConnectError"):
        await request(http, "POST", "/o", content=b"order")
    await http.aclose()


async def test_request_is_written_whole_before_any_schedule_point() -> None:
    """On a pooled connection the order leaves in the caller's own task step (httpcore took
    four scheduler rounds), and the trace reports it, then the answer."""
    async with serve(echo) as (base, _):
        http, _ = client(base)
        await request(http, "GET", "/warm")
        counter = StepCounter.of(trio.lowlevel.current_task())
        events: list[tuple[str, int]] = []

        async def trace(event: str, info: dict[str, Any]) -> None:
            events.append((event, counter.steps))

        trio.lowlevel.add_instrument(counter)
        try:
            await request(http, "POST", "/o", content=b"order", trace=trace)
        finally:
            trio.lowlevel.remove_instrument(counter)
        assert [e for e, _ in events] == [
            "http11.send_request_body.complete",
            "http11.receive_response_headers.complete",
        ]
        assert events[0][1] == 0  # written before this task yielded even once
        await http.aclose()


async def test_a_new_connection_is_traced() -> None:
    async with serve(echo) as (base, _):
        http, _ = client(base)
        events: list[str] = []

        async def trace(event: str, info: dict[str, Any]) -> None:
            events.append(event)

        await request(http, "POST", "/o", content=b"a", trace=trace)
        await request(http, "POST", "/o", content=b"b", trace=trace)
        assert events.count("connection.connect_tcp.started") == 1
        assert events.count("http11.send_request_body.complete") == 2
        await http.aclose()


@asynccontextmanager
async def serve_tls(handler: Handler) -> AsyncIterator[tuple[str, Server, trustme.CA]]:
    """``serve`` over TLS, with a certificate for 127.0.0.1 from a CA made for the test."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    server = Server()

    async def handle(stream: trio.SocketStream) -> None:
        server.connections += 1
        tls = trio.SSLStream(stream, server_context, server_side=True)
        try:
            await handler(tls, server)  # type: ignore[arg-type]  # the same Stream calls
        except trio.BrokenResourceError:
            pass
        finally:
            await trio.aclose_forcefully(tls)

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handle, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        yield f"https://127.0.0.1:{port}", server, ca
        nursery.cancel_scope.cancel()


def tls_client(base: str, ca: trustme.CA | None) -> tuple[httpx.AsyncClient, KeepAliveTransport]:
    context = ssl.create_default_context()
    if ca is not None:
        ca.configure_trust(context)
    transport = KeepAliveTransport.from_limits(httpx.Limits(max_connections=4), context)
    http = httpx.AsyncClient(
        base_url=base, transport=transport, timeout=httpx.Timeout(5.0, read=30.0, pool=0.5)
    )
    return http, transport


async def test_tls_requests_share_one_verified_keep_alive_connection() -> None:
    async with serve_tls(echo) as (base, server, ca):
        http, transport = tls_client(base, ca)
        for i in range(3):
            resp = await request(http, "POST", "/orders", content=b"order %d" % i)
            assert resp.content == b"order %d" % i
            await trio.testing.wait_all_tasks_blocked()  # the server's late records arrive
        assert server.bodies == [b"order 0", b"order 1", b"order 2"]
        assert (transport.connects, server.connections) == (1, 1)
        await http.aclose()


async def test_an_untrusted_tls_server_gets_nothing_and_the_order_is_not_sent() -> None:
    async with serve_tls(echo) as (base, server, _):
        http, _transport = tls_client(base, None)  # the test CA is not trusted
        with pytest.raises(NotSent, match="CERTIFICATE_VERIFY_FAILED"):
            await request(http, "POST", "/orders", content=b"order")
        assert server.bodies == []
        await http.aclose()


async def test_an_http_url_only_transport_refuses_https() -> None:
    http, _transport = client("https://127.0.0.1:9")  # no TLS context given
    with pytest.raises(httpx.UnsupportedProtocol, match="no TLS configured"):
        await http.post("/orders", content=b"order")
    await http.aclose()
