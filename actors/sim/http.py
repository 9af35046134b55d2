"""A minimal HTTP/1.1 server on trio (h11), so REST faults can act on the raw connection.

Hypercorn would serve the same JSON, but "execute the order, then lose the reply" needs
closing the TCP connection with no response, which an ASGI app cannot express.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
import h11
import msgspec
import trio


@attrs.frozen
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes
    headers: dict[str, str] = attrs.field(factory=dict)  # names lowercased (h11)

    def json(self) -> Any:
        return msgspec.json.decode(self.body) if self.body else {}


@attrs.frozen
class Reply:
    """A JSON reply, or ``drop=True``: close the connection without answering."""

    status: int = 200
    body: Any = None
    drop: bool = False


DROP = Reply(drop=True)
Handler = Callable[[Request], Awaitable[Reply]]
_enc = msgspec.json.Encoder()
MAX_BODY = 1 << 20


async def _read(conn: h11.Connection, stream: trio.abc.Stream) -> Any:
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await stream.receive_some(65536)
            conn.receive_data(bytes(data))
            continue
        return event


async def handle_connection(stream: trio.abc.Stream, handler: Handler) -> None:
    """Serve keep-alive requests on one connection until either side closes."""
    conn = h11.Connection(h11.SERVER)
    try:
        while True:
            event = await _read(conn, stream)
            if not isinstance(event, h11.Request):
                return
            body = bytearray()
            while True:
                part = await _read(conn, stream)
                if isinstance(part, h11.Data):
                    body += part.data
                    if len(body) > MAX_BODY:
                        return
                elif isinstance(part, h11.EndOfMessage):
                    break
                else:
                    return
            url = urlsplit(event.target.decode("latin-1"))
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in event.headers}
            request = Request(
                event.method.decode(), url.path, parse_qs(url.query), bytes(body), headers
            )
            reply = await handler(request)
            if reply.drop:
                return
            payload = _enc.encode(reply.body)
            length = str(len(payload))
            reply_headers = [("content-type", "application/json"), ("content-length", length)]
            out = conn.send(h11.Response(status_code=reply.status, headers=reply_headers))
            out += conn.send(h11.Data(data=payload)) or b""
            out += conn.send(h11.EndOfMessage()) or b""
            await stream.send_all(out or b"")
            if conn.our_state is h11.MUST_CLOSE:
                return
            conn.start_next_cycle()
    except (h11.RemoteProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
        return
    finally:
        await trio.aclose_forcefully(stream)


async def serve_http(
    handler: Handler,
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen on ``host:port`` (0 = any free port); reports the bound port when started.
    With ``ssl_context``: HTTPS (the handshake runs in the connection's own task)."""
    tcp = await trio.open_tcp_listeners(port, host=host)
    bound = tcp[0].socket.getsockname()[1]
    listeners: list[trio.abc.Listener[Any]] = list(tcp)
    if ssl_context is not None:
        listeners = [trio.SSLListener(t, ssl_context, https_compatible=True) for t in tcp]

    async def one(stream: trio.abc.Stream) -> None:
        await handle_connection(stream, handler)

    async with trio.open_nursery() as nursery:
        task_status.started(int(bound))
        await trio.serve_listeners(one, listeners, handler_nursery=nursery)
