"""The feed's websocket client: the ``websockets`` sans-I/O protocol driven by Trio in the
feed's own task.

Why not trio-websocket here: its reader task hands the feed one message per scheduler
round (each queued message is an ``await`` on a channel), so however many frames one
socket read delivers, the feed wakes once per frame and every frame pays the hops behind
it in full. Here the feed task itself reads the socket: one ``receive_some`` of up to
``read_bytes`` becomes every complete message in it, handled as one batch. The protocol
work (framing, fragmentation, ping/pong, the closing handshake, size limits) stays in a
well-kept library: ``websockets``' :class:`~websockets.client.ClientProtocol`, whose
parser is also faster per frame than wsproto's (``arbtree bench market`` measures both).

Writes never block the reader: everything the protocol wants sent (our messages, its
automatic pong replies, close frames) goes through one bounded queue to one sender task,
the only task that writes to the stream. A full queue is :class:`SendBacklogFull`.
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import trio
from websockets.client import ClientProtocol
from websockets.exceptions import InvalidStatus, InvalidURI
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

_DATA = (Opcode.TEXT, Opcode.BINARY)


class HandshakeFailed(Exception):
    """The server refused the upgrade (``status`` is its HTTP status; 0 if it sent no
    valid response)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"handshake failed ({status}): {detail}" if status else detail)
        self.status = status


class WebSocketClosed(Exception):
    """The connection ended: a close frame (its code and reason), a protocol error we
    failed the connection for (1002/1007/1009...), or the TCP stream ending (1006)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code} {reason}".rstrip())
        self.code = code
        self.reason = reason


class SendBacklogFull(Exception):
    """More frames queued for sending than the sender can write: the peer is not reading."""


class FeedWebSocket:
    """One open client connection. :meth:`receive_messages` belongs to one task (the
    feed's read loop); the ``send_*``/``ping`` methods may be called from any task."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        protocol: ClientProtocol,
        read_bytes: int,
        send_backlog: int,
    ) -> None:
        self._stream = stream
        self._protocol = protocol
        self._read_bytes = read_bytes
        self._tx, self._rx = trio.open_memory_channel[bytes](send_backlog)
        self._fragments: list[bytes] = []
        self._pongs: dict[bytes, trio.Event] = {}
        self._eof = False
        # When the last socket read returned (``time.monotonic_ns``), before the websocket
        # parse: a frame's receive time (the tick clock starts when its bytes were read).
        self.read_ns = time.monotonic_ns()
        # Frames that arrived in the same read as the handshake response.
        self._pending = self._collect()
        self._flush()

    # ---------------------------------------------------------------- reading

    async def receive_messages(self) -> list[bytes]:
        """Wait for the next socket read and return every data message it completed
        (text and binary alike, as bytes; possibly none: a read may hold only part of a
        frame, or only control frames). Raises :class:`WebSocketClosed` once the
        connection is over."""
        if self._pending:
            out, self._pending = self._pending, []
            return out
        protocol = self._protocol
        if self._over():
            raise self._closed()
        data = await self._stream.receive_some(self._read_bytes)
        self.read_ns = time.monotonic_ns()
        if data:
            protocol.receive_data(data)
        else:
            self._eof = True
            protocol.receive_eof()
        out = self._collect()
        self._flush()
        if not out and self._over():
            raise self._closed()
        return out

    def _over(self) -> bool:
        """No more data will come: the peer closed, the stream ended, or we failed the
        connection for a protocol error."""
        p = self._protocol
        return p.state is State.CLOSED or p.close_rcvd is not None or p.parser_exc is not None

    def _collect(self) -> list[bytes]:
        out: list[bytes] = []
        for frame in self._protocol.events_received():
            if not isinstance(frame, Frame):
                continue  # the handshake Response
            opcode = frame.opcode
            if opcode in _DATA:
                if frame.fin:
                    out.append(bytes(frame.data))  # bytes already: no copy
                else:
                    self._fragments = [bytes(frame.data)]
            elif opcode is Opcode.CONT:
                self._fragments.append(bytes(frame.data))
                if frame.fin:
                    out.append(b"".join(self._fragments))
                    self._fragments = []
            elif opcode is Opcode.PONG:
                event = self._pongs.pop(bytes(frame.data), None)
                if event is not None:
                    event.set()
            # PING: the protocol queued the pong itself; CLOSE: see receive_messages.
        return out

    def _closed(self) -> WebSocketClosed:
        protocol = self._protocol
        if protocol.close_rcvd is not None:
            return WebSocketClosed(protocol.close_rcvd.code, protocol.close_rcvd.reason)
        if self._eof:
            return WebSocketClosed(1006, "connection lost")
        if protocol.parser_exc is not None:  # we failed the connection: our close code
            sent = protocol.close_sent
            code = sent.code if sent is not None else 1002
            return WebSocketClosed(code, f"protocol error: {protocol.parser_exc}")
        return WebSocketClosed(1006, "connection lost")

    # ---------------------------------------------------------------- writing

    def _flush(self) -> None:
        for chunk in self._protocol.data_to_send():
            try:
                self._tx.send_nowait(chunk)
            except trio.WouldBlock:
                raise SendBacklogFull(f"{self._tx.statistics().max_buffer_size} frames") from None

    def send_text_nowait(self, text: str | bytes) -> None:
        """Queue a text message (``bytes``: already UTF-8; never blocks;
        :class:`SendBacklogFull` if the sender is that far behind)."""
        self._check_open()
        self._protocol.send_text(text.encode() if isinstance(text, str) else text)
        self._flush()

    def _check_open(self) -> None:
        """Sending after the close started is :class:`WebSocketClosed`, like receiving
        (the library would raise its own ``InvalidState``)."""
        if self._protocol.state is not State.OPEN:
            raise self._closed()

    async def ping(self) -> None:
        """Send a ping and wait for its pong (bound it with a timeout)."""
        payload = os.urandom(4)
        self._check_open()
        event = self._pongs[payload] = trio.Event()
        try:
            self._protocol.send_ping(payload)
            self._flush()
            await event.wait()
        finally:
            self._pongs.pop(payload, None)

    async def _sender(self) -> None:
        async for chunk in self._rx:
            if chunk:
                await self._stream.send_all(chunk)
            # b"": the protocol's end-of-stream; the stream is closed on exit.

    async def _close(self, grace_s: float) -> None:
        """Best effort within ``grace_s``, also when cancelled: send what is still queued
        (e.g. the reply to the peer's close) and our close frame; then close the stream."""
        with trio.CancelScope(shield=True), trio.move_on_after(grace_s):
            chunks: list[bytes] = []
            while True:
                try:
                    chunks.append(self._rx.receive_nowait())
                except (trio.WouldBlock, trio.ClosedResourceError, trio.EndOfChannel):
                    break
            if self._protocol.state is State.OPEN:
                self._protocol.send_close(1000)
            chunks.extend(self._protocol.data_to_send())
            data = b"".join(chunks)
            if data:
                with suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    await self._stream.send_all(data)
        await trio.aclose_forcefully(self._stream)


@asynccontextmanager
async def open_feed_websocket(
    url: str,
    *,
    connect_timeout: float,
    read_bytes: int = 65_536,
    max_message_bytes: int = 4 << 20,
    send_backlog: int = 256,
    close_timeout: float = 1.0,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[FeedWebSocket]:
    """Connect and upgrade within ``connect_timeout`` (:class:`trio.TooSlowError`),
    yield the open connection, and close it on exit. A refused upgrade is
    :class:`HandshakeFailed`; a malformed URL a :class:`ValueError`. ``wss://`` verifies
    the server with ``ssl_context`` (default: the system's trust store)."""
    try:
        uri = parse_uri(url)
    except InvalidURI as exc:
        raise ValueError(f"not a websocket URL: {url!r} ({exc})") from None
    protocol = ClientProtocol(uri, max_size=max_message_bytes)
    with trio.fail_after(connect_timeout):
        stream: trio.abc.Stream
        if uri.secure:
            context = ssl_context or ssl.create_default_context()
            stream = await trio.open_ssl_over_tcp_stream(uri.host, uri.port, ssl_context=context)
        else:
            stream = await trio.open_tcp_stream(uri.host, uri.port)
        try:
            await _handshake(stream, protocol, read_bytes)
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
    ws = FeedWebSocket(stream, protocol, read_bytes, send_backlog)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ws._sender)
            try:
                yield ws
            finally:
                nursery.cancel_scope.cancel()
    finally:
        await ws._close(close_timeout)


async def _handshake(stream: trio.abc.Stream, protocol: ClientProtocol, read_bytes: int) -> None:
    """Send the upgrade request and read until the response (frames that arrive with it
    stay in the protocol's event queue)."""
    protocol.send_request(protocol.connect())
    await stream.send_all(b"".join(protocol.data_to_send()))
    while True:
        data = await stream.receive_some(read_bytes)
        if data:
            protocol.receive_data(data)
        else:
            protocol.receive_eof()
        if protocol.handshake_exc is not None:
            exc = protocol.handshake_exc
            status = exc.response.status_code if isinstance(exc, InvalidStatus) else 0
            raise HandshakeFailed(status, str(exc))
        if protocol.state is not State.CONNECTING:
            return  # OPEN, or already CLOSING/CLOSED from frames that came with it
        if not data:
            raise HandshakeFailed(0, "connection closed during the handshake")
