"""The feed's websocket client against a loopback server whose every frame the test
chooses (``websockets``' server-side sans-I/O protocol driven by Trio)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial

import pytest
import trio
import trio.testing
import trustme
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol

from actors.feeds.websocket import (
    FeedWebSocket,
    HandshakeFailed,
    WebSocketClosed,
    open_feed_websocket,
)

Handler = Callable[[trio.SocketStream, ServerProtocol], Awaitable[None]]


async def _flush(stream: trio.abc.Stream, protocol: ServerProtocol) -> None:
    data = b"".join(protocol.data_to_send())
    if data:
        await stream.send_all(data)


async def _read_frames(stream: trio.SocketStream, protocol: ServerProtocol) -> list[Frame]:
    """The next frames the client sent (at least one, unless it closed the stream)."""
    while True:
        data = await stream.receive_some(65536)
        if not data:
            protocol.receive_eof()
        else:
            protocol.receive_data(data)
        frames = [e for e in protocol.events_received() if isinstance(e, Frame)]
        await _flush(stream, protocol)
        if frames or not data:
            return frames


async def _accept(stream: trio.abc.Stream, protocol: ServerProtocol) -> None:
    while True:
        protocol.receive_data(await stream.receive_some(65536))
        requests = [e for e in protocol.events_received() if isinstance(e, Request)]
        if requests:
            protocol.send_response(protocol.accept(requests[0]))
            await _flush(stream, protocol)
            return


@asynccontextmanager
async def serving(handler: Handler, *, refuse: int = 0) -> AsyncIterator[str]:
    """A websocket server on loopback running ``handler`` for its one connection; yields
    its URL. ``refuse``: answer the upgrade with this HTTP status instead."""

    async def connection(stream: trio.SocketStream) -> None:
        protocol = ServerProtocol()
        if refuse:
            protocol.receive_data(await stream.receive_some(65536))
            protocol.events_received()
            protocol.send_response(protocol.reject(refuse, "go away\n"))
            await _flush(stream, protocol)
            await stream.aclose()
            return
        await _accept(stream, protocol)
        await handler(stream, protocol)

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, connection, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ws/market"
        nursery.cancel_scope.cancel()


async def _all_messages(url: str, n: int) -> tuple[list[bytes], list[int]]:
    """Read ``n`` messages; also return how many each receive_messages call gave."""
    got: list[bytes] = []
    per_call: list[int] = []
    async with open_feed_websocket(url, connect_timeout=5) as ws:
        while len(got) < n:
            msgs = await ws.receive_messages()
            got.extend(msgs)
            per_call.append(len(msgs))
    return got, per_call


async def _read_until_closed(ws: FeedWebSocket, got: list[bytes]) -> None:
    while True:
        got.extend(await ws.receive_messages())


async def test_every_message_one_read_delivers_comes_back_from_one_call() -> None:
    sent = trio.Event()

    async def handler(stream: trio.SocketStream, protocol: ServerProtocol) -> None:
        for i in range(50):
            protocol.send_text(b'{"n":%d}' % i)
        await _flush(stream, protocol)  # one write: 50 frames
        sent.set()
        await trio.sleep_forever()

    async with serving(handler) as url, open_feed_websocket(url, connect_timeout=5) as ws:
        await sent.wait()
        msgs = await ws.receive_messages()
    assert msgs == [b'{"n":%d}' % i for i in range(50)]


async def test_frames_sent_with_the_handshake_response_are_not_lost() -> None:
    # Accept and send the first frames in the same write as the 101 response.
    async def connection(stream: trio.SocketStream) -> None:
        protocol = ServerProtocol()
        while True:
            protocol.receive_data(await stream.receive_some(65536))
            requests = [e for e in protocol.events_received() if isinstance(e, Request)]
            if requests:
                break
        protocol.send_response(protocol.accept(requests[0]))
        protocol.send_text(b"first")
        protocol.send_text(b"second")
        await _flush(stream, protocol)
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, connection, 0, host="127.0.0.1"))
        url = f"ws://127.0.0.1:{listeners[0].socket.getsockname()[1]}/"
        got, _ = await _all_messages(url, 2)
        nursery.cancel_scope.cancel()
    assert got == [b"first", b"second"]


async def test_fragmented_message_is_reassembled() -> None:
    async def handler(stream: trio.SocketStream, protocol: ServerProtocol) -> None:
        protocol.send_text(b'{"par', fin=False)
        await _flush(stream, protocol)
        await trio.testing.wait_all_tasks_blocked()
        protocol.send_continuation(b"ts", fin=False)
        protocol.send_continuation(b'":2}', fin=True)
        protocol.send_binary(b"\x00\x01")
        await _flush(stream, protocol)
        await trio.sleep_forever()

    async with serving(handler) as url:
        got, _ = await _all_messages(url, 2)
    assert got == [b'{"parts":2}', b"\x00\x01"]


async def test_server_ping_is_answered_and_our_ping_waits_for_its_pong() -> None:
    seen: list[Frame] = []
    all_seen = trio.Event()

    async def handler(stream: trio.SocketStream, protocol: ServerProtocol) -> None:
        protocol.send_ping(b"srv1")
        protocol.send_text(b"data")
        await _flush(stream, protocol)
        while len(seen) < 3:  # our pong, the client's ping, its text frame
            seen.extend(await _read_frames(stream, protocol))  # (the protocol pongs pings)
        all_seen.set()
        await trio.sleep_forever()

    async with serving(handler) as url, open_feed_websocket(url, connect_timeout=5) as ws:
        assert await ws.receive_messages() == [b"data"]

        async def read_forever() -> None:
            while True:
                await ws.receive_messages()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_forever)
            with trio.fail_after(5):
                await ws.ping()  # answered by the server's automatic pong
            ws.send_text_nowait(b'{"op":"x"}')
            await all_seen.wait()
            nursery.cancel_scope.cancel()
    assert (seen[0].opcode, seen[0].data) == (Opcode.PONG, b"srv1")
    assert seen[1].opcode is Opcode.PING
    assert (seen[2].opcode, seen[2].data) == (Opcode.TEXT, b'{"op":"x"}')  # text, not binary


async def test_close_frame_ends_the_connection_after_the_data_before_it() -> None:
    async def handler(stream: trio.SocketStream, protocol: ServerProtocol) -> None:
        protocol.send_text(b"last words")
        protocol.send_close(4001, "maintenance")
        await _flush(stream, protocol)
        await _read_frames(stream, protocol)  # the client's close reply
        await stream.aclose()

    got: list[bytes] = []
    async with serving(handler) as url, open_feed_websocket(url, connect_timeout=5) as ws:
        with pytest.raises(WebSocketClosed) as info:
            await _read_until_closed(ws, got)
    assert got == [b"last words"]
    assert (info.value.code, info.value.reason) == (4001, "maintenance")


async def test_abrupt_tcp_close_is_1006() -> None:
    async def handler(stream: trio.SocketStream, protocol: ServerProtocol) -> None:
        protocol.send_text(b"x")
        await _flush(stream, protocol)
        await stream.aclose()

    async with serving(handler) as url, open_feed_websocket(url, connect_timeout=5) as ws:
        with pytest.raises(WebSocketClosed) as info:
            await _read_until_closed(ws, [])
    assert info.value.code == 1006


async def test_oversized_message_fails_the_connection_with_1009() -> None:
    async def handler(stream: trio.SocketStream, protocol: ServerProtocol) -> None:
        protocol.send_text(b"y" * 2000)
        await _flush(stream, protocol)
        await trio.sleep_forever()

    async with (
        serving(handler) as url,
        open_feed_websocket(url, connect_timeout=5, max_message_bytes=1000) as ws,
    ):
        with pytest.raises(WebSocketClosed) as info:
            await _read_until_closed(ws, [])
    assert info.value.code == 1009
    assert "protocol error" in info.value.reason


async def test_refused_upgrade_is_handshake_failed_with_its_status() -> None:
    async def handler(stream: trio.SocketStream, protocol: ServerProtocol) -> None:
        raise AssertionError("never accepted")

    async with serving(handler, refuse=429) as url:
        with pytest.raises(HandshakeFailed) as info:
            async with open_feed_websocket(url, connect_timeout=5):
                pass
    assert info.value.status == 429


async def test_a_server_that_never_answers_the_upgrade_times_out(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def mute(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, mute, 0, host="127.0.0.1"))
        url = f"ws://127.0.0.1:{listeners[0].socket.getsockname()[1]}/"
        start = trio.current_time()
        with pytest.raises(trio.TooSlowError):
            async with open_feed_websocket(url, connect_timeout=3.0):
                pass
        assert trio.current_time() - start == pytest.approx(3.0)
        nursery.cancel_scope.cancel()


async def test_leaving_the_block_sends_a_normal_close() -> None:
    frames: list[Frame] = []
    done = trio.Event()

    async def handler(stream: trio.SocketStream, protocol: ServerProtocol) -> None:
        frames.extend(await _read_frames(stream, protocol))
        done.set()

    async with serving(handler) as url:
        async with open_feed_websocket(url, connect_timeout=5):
            pass
        await done.wait()
    assert frames
    assert frames[0].opcode is Opcode.CLOSE
    assert frames[0].data[:2] == (1000).to_bytes(2, "big")


def test_a_malformed_url_is_a_clear_error() -> None:
    async def main() -> None:
        async with open_feed_websocket("http://127.0.0.1:1/", connect_timeout=1):
            pass

    with pytest.raises(ValueError, match="not a websocket URL"):
        trio.run(main)


async def test_wss_verifies_the_server_and_works_over_tls() -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)

    async def connection(tcp: trio.SocketStream) -> None:
        stream = trio.SSLStream(tcp, server_ctx, server_side=True)
        protocol = ServerProtocol()
        await _accept(stream, protocol)
        protocol.send_text(b"secure")
        await _flush(stream, protocol)
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, connection, 0, host="127.0.0.1"))
        url = f"wss://127.0.0.1:{listeners[0].socket.getsockname()[1]}/ws"
        async with open_feed_websocket(url, connect_timeout=5, ssl_context=client_ctx) as ws:
            assert await ws.receive_messages() == [b"secure"]
        # The system trust store does not know this CA: the connection is refused.
        with pytest.raises(trio.BrokenResourceError) as info:
            async with open_feed_websocket(url, connect_timeout=5):
                pass
        assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
        nursery.cancel_scope.cancel()


async def test_sending_after_the_peer_closed_is_websocket_closed() -> None:
    async def handler(stream: trio.SocketStream, protocol: ServerProtocol) -> None:
        protocol.send_close(1001, "going away")
        await _flush(stream, protocol)
        await trio.sleep_forever()

    async with serving(handler) as url, open_feed_websocket(url, connect_timeout=5) as ws:
        with pytest.raises(WebSocketClosed):
            await _read_until_closed(ws, [])
        with pytest.raises(WebSocketClosed) as info:
            ws.send_text_nowait('{"op":"late"}')  # e.g. a resubscribe racing the close
        assert info.value.code == 1001
        with pytest.raises(WebSocketClosed):
            await ws.ping()
