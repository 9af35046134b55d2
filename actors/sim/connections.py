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

from actors.sim.config import Venue

CLOSED = (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError)


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
    """Drain the connection's queue onto the socket, in order; ends the conn when closed."""
    ws = conn.ws
    try:
        async for frame in conn.receive:
            await ws.send_message(frame)
            conn.sent += 1
    except CLOSED:
        conn.scope.cancel()


async def abort_stream(conn: Conn) -> None:
    """Close the TCP stream under the websocket without a close handshake (1006 for the peer)."""
    with trio.CancelScope(shield=True):
        await trio.aclose_forcefully(conn.ws._stream)
