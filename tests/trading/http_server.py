"""A loopback HTTP/1.1 server for the transport tests: a handler per request."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial

import h11
import trio
import trio.testing

Handler = Callable[[trio.SocketStream, "Server"], Awaitable[None]]


class Server:
    """A loopback HTTP/1.1 server (h11) that records what it received."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.connections = 0
        self.hold = trio.Event()  # handlers that hang wait on this
        self.closed = trio.Event()  # set when a handler closed its connection


async def read_request(stream: trio.SocketStream, conn: h11.Connection) -> bytes | None:
    """One request's body, or None when the client closed."""
    body = b""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await stream.receive_some(65536)
            conn.receive_data(data)
            if not data and conn.their_state is not h11.SEND_BODY:
                return None
        elif isinstance(event, h11.Data):
            body += bytes(event.data)
        elif isinstance(event, h11.EndOfMessage):
            return body
        elif isinstance(event, h11.ConnectionClosed):
            return None


async def echo(stream: trio.SocketStream, server: Server, *, close_after: int = 0) -> None:
    """Answer every request with its body; after ``close_after`` answers (0 = never) close
    the connection without saying so."""
    conn = h11.Connection(h11.SERVER)
    answered = 0
    while True:
        body = await read_request(stream, conn)
        if body is None:
            return
        server.bodies.append(body)
        out = conn.send(h11.Response(status_code=200, headers=[("content-length", str(len(body)))]))
        out += conn.send(h11.Data(data=body)) or b""
        out += conn.send(h11.EndOfMessage()) or b""
        await stream.send_all(out)
        answered += 1
        if answered == close_after:
            await stream.aclose()
            server.closed.set()
            return
        conn.start_next_cycle()


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[tuple[str, Server]]:
    server = Server()

    async def handle(stream: trio.SocketStream) -> None:
        server.connections += 1
        try:
            await handler(stream, server)
        except trio.BrokenResourceError:
            pass
        finally:
            await stream.aclose()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handle, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        yield f"http://127.0.0.1:{port}", server
        nursery.cancel_scope.cancel()
