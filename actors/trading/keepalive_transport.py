"""A lean HTTP/1.1 keep-alive transport for the venue clients' httpx ``AsyncClient`` s.

Why: measured in ``arbtree bench e2e``, httpcore took an order request through four
scheduler rounds before its bytes left (pool event wait, connection lock, headers write,
body write, each a Trio checkpoint) and wrote headers and body in two ``send`` calls that
woke the venue twice. Every round let the feeds' tasks run (and, on this 2-core machine,
the venue process preempt us) in between, so an order took milliseconds to reach the
socket. Here an idle pooled connection takes the whole request (head and body) in one
non-blocking ``send`` from the calling task's own step: no checkpoint before the bytes
are written. The response is read with h11, as httpcore does.

What it keeps from httpcore: a pool per origin (``max_connections``, waiters time out with
``PoolTimeout`` after the pool timeout), keep-alive (``max_keepalive_connections`` idle
connections kept, closed after ``keepalive_expiry``, and one the server closed or wrote to
while idle is never reused), the request's connect/read/write/pool timeouts, httpcore's
trace events (``connection.connect_tcp.*``, ``http11.send_request_body.complete``,
``http11.receive_response_headers.complete``) and the exception classes the venue
clients classify: ``ConnectError``/``ConnectTimeout``/``PoolTimeout`` before anything was
written (retry is safe), ``WriteError``/``WriteTimeout``/``ReadError``/``ReadTimeout``/
``RemoteProtocolError`` once the request may have left (AMBIGUOUS).

``https``: TLS on a memory BIO (``ssl.SSLObject``, as Trio's ``SSLStream`` does). The
handshake runs when the connection is opened (a failed one is ``ConnectError``: nothing
was sent); after it, encrypting a request is synchronous, so the one-``send`` write from
the caller's step works the same over TLS: the request is encrypted into the BIO and the
ciphertext handed to the socket.

:meth:`KeepAliveTransport.take_idle` and :func:`write_now` are the same first step as
synchronous calls: take an idle connection, write a request's bytes on it (serialized by
the caller, see ``http_transport.ready_request``), and get the :class:`Exchange` that
:meth:`KeepAliveTransport.complete` finishes later, possibly from another task. The
executor uses them to write every leg of an execution, back to back, in the step that
received it; the ``httpx.Request`` is only built after that.
"""

from __future__ import annotations

import errno
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import h11
import httpx
import trio

Trace = Callable[[str, dict[str, Any]], Awaitable[None]]
Origin = tuple[bytes, bytes, int]  # (scheme, host, port)

_READ_SIZE = 65536
_BAD = frozenset(b"\r\n\x00")


@attrs.define(eq=False)
class TlsState:
    """A connection's TLS: the protocol object and its two memory buffers."""

    obj: ssl.SSLObject
    incoming: ssl.MemoryBIO
    outgoing: ssl.MemoryBIO


@attrs.define(eq=False)
class PooledConnection:
    """One TCP connection: the stdlib socket (sent to synchronously), its Trio wrapper
    (waited on), h11's view of the exchange for parsing the response, and its TLS state
    (``None``: plain http)."""

    sock: socket.socket
    tsock: trio.socket.SocketType
    parser: h11.Connection = attrs.field(factory=lambda: h11.Connection(h11.CLIENT))
    idle_since: float = 0.0
    tls: TlsState | None = None

    def close(self) -> None:
        self.tsock.close()

    def wire(self, data: memoryview) -> memoryview:
        """The bytes to put on the socket for ``data``: itself, or its TLS records."""
        tls = self.tls
        if tls is None:
            return data
        tls.obj.write(data)
        return memoryview(tls.outgoing.read())

    def stale(self) -> bool:
        """True if the server closed it (or sent something) while it sat idle. Over TLS,
        records that carry no data (TLS 1.3 session tickets) are taken and ignored."""
        tls = self.tls
        if tls is None:
            try:
                self.sock.recv(1, socket.MSG_PEEK)  # b"" (closed) or unexpected bytes
            except BlockingIOError:
                return False
            except OSError:
                pass
            return True
        while True:
            try:
                raw = self.sock.recv(_READ_SIZE)
            except BlockingIOError:
                return False
            except OSError:
                return True
            if not raw:
                return True
            tls.incoming.write(raw)
            try:
                tls.obj.read(_READ_SIZE)
            except ssl.SSLWantReadError:
                continue  # no application data: session tickets and the like
            except ssl.SSLError:
                return True
            return True  # application data (or a close) while idle


@attrs.define(eq=False)
class Exchange:
    """A request whose first ``send`` has happened: what :meth:`KeepAliveTransport.complete`
    needs to write the rest (if the socket took only part) and read the response. It owns
    its connection until then: every Exchange must be completed."""

    origin: Origin
    conn: PooledConnection
    request: Callable[[], httpx.Request]  # what was written, as httpx sees it (built late)
    body: bytes
    rest: memoryview  # what the first send did not take
    error: OSError | None  # the first send failed (the request may have left in part)
    sent_ns: int  # time.monotonic_ns() when the whole request had been written, else 0
    # h11's view of the head, when the caller already had it (else derived after the write)
    headers: list[tuple[bytes, bytes]] | None = None


def _head(request: httpx.Request, body_len: int) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """Request line and headers as written, validated as h11 would (no CR, LF or NUL).
    The body is always sent whole with a Content-Length (never chunked)."""
    method = request.method.encode("ascii")
    target = request.url.raw_path
    if _BAD.intersection(target):
        raise httpx.LocalProtocolError(f"illegal request target {target!r}")
    headers: list[tuple[bytes, bytes]] = []
    has_length = False
    for name, value in request.headers.raw:
        if _BAD.intersection(name) or _BAD.intersection(value):
            raise httpx.LocalProtocolError(f"illegal header {name!r}")
        lower = name.lower()
        if lower == b"transfer-encoding":
            continue
        if lower == b"content-length":
            has_length = True
            value = str(body_len).encode()
        headers.append((name, value))
    if not has_length and (body_len or method in (b"POST", b"PUT", b"PATCH")):
        headers.append((b"Content-Length", str(body_len).encode()))
    parts = [method, b" ", target, b" HTTP/1.1\r\n"]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts), headers


@attrs.define(eq=False)
class KeepAliveTransport(httpx.AsyncBaseTransport):
    """Pooled keep-alive HTTP/1.1 over Trio sockets; see the module docstring."""

    max_connections: int = 16
    max_keepalive_connections: int = 8
    keepalive_expiry: float = 30.0
    # (scheme, host, port) -> idle connections, most recently used last
    _idle: dict[Origin, list[PooledConnection]] = attrs.field(factory=dict)
    _open: dict[Origin, int] = attrs.field(factory=dict)
    _released: trio.lowlevel.ParkingLot = attrs.field(factory=trio.lowlevel.ParkingLot)
    _closed: bool = False
    connects: int = 0  # TCP connections opened (statistics, tests)
    # https: verifies the server with this context (None: https is refused)
    ssl_context: ssl.SSLContext | None = None

    @classmethod
    def from_limits(
        cls, limits: httpx.Limits, ssl_context: ssl.SSLContext | None = None
    ) -> KeepAliveTransport:
        """httpx's meaning: ``None`` is no limit (and no expiry)."""
        inf = float("inf")
        most = limits.max_connections
        keep = limits.max_keepalive_connections
        return cls(
            max_connections=most if most is not None else 1 << 30,
            max_keepalive_connections=keep if keep is not None else 1 << 30,
            keepalive_expiry=inf if limits.keepalive_expiry is None else limits.keepalive_expiry,
            ssl_context=ssl_context,
        )

    # ------------------------------------------------------------------ pool

    def _take_idle(self, origin: Origin) -> PooledConnection | None:
        idle = self._idle.get(origin)
        now = trio.current_time()
        while idle:
            conn = idle.pop()
            if now - conn.idle_since < self.keepalive_expiry and not conn.stale():
                return conn
            self._discard(origin, conn)
        return None

    def _discard(self, origin: Origin, conn: PooledConnection) -> None:
        conn.close()
        self._open[origin] -= 1
        self._released.unpark()

    def _release(self, origin: Origin, conn: PooledConnection) -> None:
        """Back to the pool if h11 says the connection can carry another request."""
        parser = conn.parser
        if parser.our_state is h11.DONE and parser.their_state is h11.DONE:
            parser.start_next_cycle()
            idle = self._idle.setdefault(origin, [])
            if not self._closed and len(idle) < self.max_keepalive_connections:
                conn.idle_since = trio.current_time()
                idle.append(conn)
                self._released.unpark()
                return
        self._discard(origin, conn)

    async def _acquire(
        self, origin: Origin, timeouts: dict[str, Any], trace: Trace | None
    ) -> PooledConnection:
        conn = self._take_idle(origin)
        if conn is not None:
            return conn
        if self._open.get(origin, 0) >= self.max_connections:
            with trio.move_on_after(_timeout(timeouts, "pool")) as waited:
                while self._open.get(origin, 0) >= self.max_connections:
                    await self._released.park()
                    conn = self._take_idle(origin)
                    if conn is not None:
                        return conn
            if waited.cancelled_caught:
                raise httpx.PoolTimeout("no connection free within the pool timeout")
        self._open[origin] = self._open.get(origin, 0) + 1
        try:
            return await self._connect(origin, timeouts, trace)
        except BaseException:
            self._open[origin] -= 1
            self._released.unpark()
            raise

    async def _connect(
        self, origin: Origin, timeouts: dict[str, Any], trace: Trace | None
    ) -> PooledConnection:
        host, port = origin[1].decode("ascii"), origin[2]
        if trace is not None:
            await trace("connection.connect_tcp.started", {"host": host, "port": port})
        try:
            with trio.fail_after(_timeout(timeouts, "connect")):
                infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
                error: OSError | None = None
                for family, type_, proto, _, addr in infos:
                    sock = socket.socket(family, type_, proto)
                    sock.setblocking(False)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    tsock = trio.socket.from_stdlib_socket(sock)
                    try:
                        await tsock.connect(addr)
                    except OSError as exc:
                        tsock.close()
                        error = exc
                        continue
                    except BaseException:
                        tsock.close()
                        raise
                    break
                else:
                    raise error or OSError(errno.EHOSTUNREACH, f"no address for {host}")
        except trio.TooSlowError as exc:
            raise httpx.ConnectTimeout(f"connect to {host}:{port} timed out") from exc
        except OSError as exc:
            raise httpx.ConnectError(f"connect to {host}:{port}: {exc}") from exc
        self.connects += 1
        conn = PooledConnection(sock, tsock)
        if origin[0] == b"https":
            try:
                with trio.fail_after(_timeout(timeouts, "connect")):
                    await self._handshake(conn, host)
            except BaseException as exc:
                conn.close()
                if isinstance(exc, trio.TooSlowError):
                    raise httpx.ConnectTimeout(
                        f"TLS handshake with {host}:{port} timed out"
                    ) from exc
                if isinstance(exc, (OSError, ssl.SSLError, ssl.CertificateError)):
                    raise httpx.ConnectError(f"TLS handshake with {host}:{port}: {exc}") from exc
                raise
        if trace is not None:
            try:
                await trace("connection.connect_tcp.complete", {"return_value": None})
            except BaseException:
                conn.close()
                raise
        return conn

    async def _handshake(self, conn: PooledConnection, host: str) -> None:
        """TLS over ``conn``'s socket, verified against ``host`` (nothing of a request is
        sent before it completes)."""
        assert self.ssl_context is not None
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = self.ssl_context.wrap_bio(incoming, outgoing, server_hostname=host)
        while True:
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                pending = outgoing.read()
                if pending:
                    await _send_all(conn, memoryview(pending))
                raw = await _recv(conn)
                if not raw:
                    raise OSError(errno.ECONNRESET, "closed during the TLS handshake") from None
                incoming.write(raw)
        pending = outgoing.read()
        if pending:
            await _send_all(conn, memoryview(pending))
        conn.tls = TlsState(obj, incoming, outgoing)

    # ------------------------------------------------------------- exchange

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await trio.lowlevel.checkpoint_if_cancelled()  # not a schedule point: see write_now
        origin = self._origin(request)
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        trace: Trace | None = request.extensions.get("trace")
        try:
            body = request.content
        except httpx.RequestNotRead:
            body = await request.aread()
        head, headers = _head(request, len(body))
        conn = await self._acquire(origin, timeouts, trace)
        exchange = write_now(origin, conn, memoryview(head + body), body, lambda: request)
        exchange.headers = headers
        return await self.complete(exchange)

    def take_idle(self, origin: Origin) -> PooledConnection | None:
        """An idle pooled connection to ``origin``, out of the pool, or ``None``: for a
        request :func:`write_now` writes in the same step (it must: the connection is
        only given back by :meth:`complete`)."""
        if self._closed:
            return None
        return self._take_idle(origin)

    async def complete(self, exchange: Exchange) -> httpx.Response:
        """Finish an exchange :func:`write_now` began: write what is left, read the response,
        and give the connection back to the pool (or close it if the exchange failed)."""
        request, conn = exchange.request(), exchange.conn
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        trace: Trace | None = request.extensions.get("trace")
        done = False
        try:
            if exchange.error is not None:
                raise httpx.WriteError(f"write failed: {exchange.error}")
            if exchange.rest:
                await _write(conn, exchange.rest, _timeout(timeouts, "write"))
                exchange.sent_ns = time.monotonic_ns()
            if trace is not None:
                await trace(
                    "http11.send_request_body.complete",
                    {"return_value": None, "sent_ns": exchange.sent_ns},
                )
            headers = exchange.headers
            if headers is None:
                _, headers = _head(request, len(exchange.body))
            response = await self._read_response(
                conn, request, headers, exchange.body, timeouts, trace
            )
            response.request = request
            done = True
        finally:
            if done:
                self._release(exchange.origin, conn)
            else:  # cancelled or failed mid-exchange: the connection's state is unknown
                self._discard(exchange.origin, conn)
        return response

    def _origin(self, request: httpx.Request) -> Origin:
        if self._closed:
            raise httpx.ConnectError("transport closed")
        url = request.url
        if url.scheme == "http":
            return (b"http", url.raw_host, url.port or 80)
        if url.scheme == "https" and self.ssl_context is not None:
            return (b"https", url.raw_host, url.port or 443)
        raise httpx.UnsupportedProtocol(f"KeepAliveTransport: no TLS configured for {url}")

    async def _read_response(
        self,
        conn: PooledConnection,
        request: httpx.Request,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        timeouts: dict[str, Any],
        trace: Trace | None,
    ) -> httpx.Response:
        hc = conn.parser
        try:  # h11 tracks the exchange; the bytes it would produce were already written
            hc.send(
                h11.Request(method=request.method, target=request.url.raw_path, headers=headers)
            )
            if body:
                hc.send(h11.Data(data=body))
            hc.send(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc)) from exc
        read_s = _timeout(timeouts, "read")
        head: h11.Response | None = None
        chunks: list[bytes] = []
        try:
            while True:
                event = hc.next_event()
                if event is h11.NEED_DATA:
                    hc.receive_data(await _read(conn, read_s))
                elif isinstance(event, h11.Response):
                    head = event
                    if trace is not None:
                        await trace(
                            "http11.receive_response_headers.complete", {"return_value": None}
                        )
                elif isinstance(event, h11.Data):
                    chunks.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    raise httpx.RemoteProtocolError("server closed the connection mid-response")
                # h11.InformationalResponse (1xx): skipped, the final response follows
        except h11.RemoteProtocolError as exc:
            raise httpx.RemoteProtocolError(str(exc)) from exc
        assert head is not None
        return httpx.Response(
            head.status_code,
            headers=list(head.headers.raw_items()),
            content=b"".join(chunks),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": head.reason},
        )

    async def aclose(self) -> None:
        self._closed = True
        for origin, idle in self._idle.items():
            while idle:
                self._discard(origin, idle.pop())
        await trio.lowlevel.checkpoint()


def _timeout(timeouts: dict[str, Any], key: str) -> float:
    value = timeouts.get(key)
    return float("inf") if value is None else float(value)


def write_now(
    origin: Origin,
    conn: PooledConnection,
    data: memoryview,
    body: bytes,
    request: Callable[[], httpx.Request],
) -> Exchange:
    """The request's first ``send`` of ``data`` (head + body), in the caller's step with no
    schedule point before it (an idle connection's socket buffer takes an order whole).
    Never raises: a failed send is the Exchange's ``error``."""
    error: OSError | None = None
    sent = 0
    try:
        data = conn.wire(data)
        sent = conn.sock.send(data)
    except BlockingIOError:
        pass
    except (OSError, ssl.SSLError) as exc:
        error = exc if isinstance(exc, OSError) else OSError(errno.EPROTO, str(exc))
    rest = data[sent:]
    sent_ns = time.monotonic_ns() if not rest and error is None else 0
    return Exchange(origin, conn, request, body, rest, error, sent_ns)


async def _write(conn: PooledConnection, view: memoryview, timeout_s: float) -> None:
    """Send the rest of a request, waiting for the socket to drain, up to ``timeout_s``."""
    try:
        with trio.fail_after(timeout_s):
            await _send_all(conn, view)
    except trio.TooSlowError as exc:
        raise httpx.WriteTimeout("write timed out") from exc
    except OSError as exc:
        raise httpx.WriteError(f"write failed: {exc}") from exc


async def _read(conn: PooledConnection, timeout_s: float) -> bytes:
    """The next bytes from the server (b"" when it closed), waiting up to ``timeout_s``;
    over TLS, the next decrypted bytes."""
    try:
        with trio.fail_after(timeout_s):
            tls = conn.tls
            if tls is None:
                return await _recv(conn)
            while True:
                try:
                    return tls.obj.read(_READ_SIZE)
                except ssl.SSLWantReadError:
                    pass
                except ssl.SSLZeroReturnError:
                    return b""
                raw = await _recv(conn)
                if not raw:
                    return b""
                tls.incoming.write(raw)
    except trio.TooSlowError as exc:
        raise httpx.ReadTimeout("read timed out") from exc
    except (OSError, ssl.SSLError) as exc:
        raise httpx.ReadError(f"read failed: {exc}") from exc


async def _recv(conn: PooledConnection) -> bytes:
    """The socket's next bytes (b"" when the peer closed), waiting for them."""
    while True:
        try:
            return conn.sock.recv(_READ_SIZE)
        except BlockingIOError:
            await trio.lowlevel.wait_readable(conn.sock)


async def _send_all(conn: PooledConnection, view: memoryview) -> None:
    """Put all of ``view`` on the socket, waiting for room."""
    while view:
        try:
            sent = conn.sock.send(view)
        except BlockingIOError:
            sent = 0
        view = view[sent:]
        if view:
            await trio.lowlevel.wait_writable(conn.sock)
