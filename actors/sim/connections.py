"""Per-connection state of the sim's websocket servers and their send loop.

Each connection has a bounded queue of ready-to-send text frames drained by one task;
the publisher only does ``send_nowait``. A full queue means a slow consumer: the
connection is aborted (Kalshi calls this error 25, subscription buffer overflow).
"""

from __future__ import annotations

import math

import attrs
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection
from wsproto.events import TextMessage

from actors.sim.config import Venue

CLOSED = (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError)
BATCH_BYTES = 256 * 1024  # one socket write carries at most about this much


@attrs.define
class KalshiSub:
    """One Kalshi subscription (``sid``) with its own contiguous ``seq``."""

    sid: int
    channel: str
    tickers: set[str]
    seq: int = 0


@attrs.define(eq=False)
class Conn:
    """A live websocket client of the sim."""

    venue: Venue
    ws: WebSocketConnection
    send: trio.MemorySendChannel[str]
    receive: trio.MemoryReceiveChannel[str]
    path: str = ""
    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
    aborted: bool = False
    assets: set[str] = attrs.Factory(set)  # Polymarket market channel
    user_markets: set[str] | None = None  # Polymarket user channel (None: not subscribed)
    subs: dict[int, KalshiSub] = attrs.Factory(dict)
    next_sid: int = 1
    seq_gap: int = 0
    sent: int = 0
    pongs: int = 0  # answers to the server's websocket pings
    streams: set[str] = attrs.Factory(set)  # Binance streams this connection receives
    combined: bool = True  # Binance: ``/stream`` wraps payloads, ``/ws/<name>`` does not

    def push(self, frame: str) -> None:
        """Queue one frame; abort the connection if its consumer is too slow."""
        if self.aborted:
            return
        try:
            self.send.send_nowait(frame)
        except trio.WouldBlock:
            self.abort()

    def abort(self) -> None:
        """Abrupt close: the handler closes the TCP stream with no close frame."""
        self.aborted = True
        self.scope.cancel()


def open_conn(venue: Venue, ws: WebSocketConnection, buffer: int, path: str) -> Conn:
    send, receive = trio.open_memory_channel[str](buffer if buffer > 0 else math.inf)
    return Conn(venue, ws, send, receive, path)


async def send_loop(conn: Conn) -> None:
    """Drain the connection's queue onto the socket, in order; ends the conn when closed.

    Whatever is queued when the loop wakes goes out together: each frame is still its
    own websocket message, but the batch is one socket write (at 20k messages/s one
    syscall and one trio reschedule per message is most of the cost of sending).
    """
    ws = conn.ws
    receive = conn.receive
    try:
        async for frame in receive:
            batch = [frame]
            size = len(frame)
            while size < BATCH_BYTES:
                try:
                    frame = receive.receive_nowait()
                except trio.WouldBlock:
                    break
                batch.append(frame)
                size += len(frame)
            await send_frames(ws, batch)
            conn.sent += len(batch)
    except CLOSED:
        conn.scope.cancel()


async def send_frames(ws: WebSocketConnection, frames: list[str]) -> None:
    """Send text messages in order with one socket write (trio-websocket's own locking).

    ``WebSocketConnection`` has no public batch send, so this uses the same internals as
    its ``send_message``: wsproto encodes each message, the stream lock serializes the
    write against the reader task's pongs and close frames.
    """
    if len(frames) == 1:
        await ws.send_message(frames[0])
        return
    if ws._close_reason:
        raise ConnectionClosed(ws._close_reason)
    encode = ws._wsproto.send
    data = b"".join([encode(TextMessage(data=f)) for f in frames])
    async with ws._stream_lock:
        try:
            await ws._stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            await ws._abort_web_socket()
            assert ws._close_reason is not None
            raise ConnectionClosed(ws._close_reason) from None


async def abort_stream(conn: Conn) -> None:
    """Close the TCP stream under the websocket without a close handshake (1006 for the peer)."""
    with trio.CancelScope(shield=True):
        await trio.aclose_forcefully(conn.ws._stream)
