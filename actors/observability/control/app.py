"""The control endpoint's ASGI application (:class:`ControlApp`): routing, bearer-token
authorization of ``/actions/*``, the reads (metrics, health, tree, tree stream) and the
actions (restart, halt, resume, shutdown, flatten, adopt-venue). It runs inside
Hypercorn's Trio worker.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import math
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import msgspec
import trio

from actors.observability.control.asgi import (
    _JSON,
    _NDJSON,
    Receive,
    Scope,
    Send,
    _header,
    _HttpError,
    _res,
    _send,
    _send_json,
)
from actors.observability.control.faults import FaultRefused, parse_fault_action, stall_loop
from actors.observability.control.plane import ControlPlane, TreeControl
from actors.observability.metrics import CONTENT_TYPE
from protocols.config.observability import ControlConfig, is_loopback

log = logging.getLogger("arbtree.control")

_MAX_STREAM_INTERVAL_S = 3600.0


def _allowed_hosts(server: tuple[str, int]) -> frozenset[str]:
    """Host header values naming ``server`` (the local address of the connection)."""
    address, port = server[0], server[1]
    names = {f"[{address}]" if ":" in address else address}
    if is_loopback(address):
        names |= {"localhost", "127.0.0.1", "[::1]"}
    hosts = {f"{name}:{port}" for name in names}
    if port == 80:
        hosts |= names
    return frozenset(host.lower() for host in hosts)


class ControlApp:
    """The ASGI application; it runs inside Hypercorn's Trio worker."""

    def __init__(self, plane: ControlPlane, config: ControlConfig) -> None:
        self.plane = plane
        self.config = config
        self._routes: dict[tuple[str, str], Callable[[Scope, Receive, Send], Awaitable[int]]] = {
            ("GET", "/metrics"): self._metrics,
            ("GET", "/health/live"): self._live,
            ("GET", "/health/ready"): self._ready,
            ("GET", "/tree"): self._tree,
            ("GET", "/tree/stream"): self._tree_stream,
            ("POST", "/actions/restart"): self._restart,
            ("POST", "/actions/halt"): self._halt,
            ("POST", "/actions/resume"): self._resume,
            ("POST", "/actions/shutdown"): self._shutdown,
            ("POST", "/actions/fault"): self._fault,
            ("POST", "/actions/flatten"): self._flatten,
            ("POST", "/actions/adopt-venue"): self._adopt_venue,
        }
        self._paths = {path for _, path in self._routes}
        self.streams = 0  # /tree/stream responses in progress (at most config.max_streams)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method: str = scope["method"]
        path: str = scope["path"].rstrip("/") or "/"
        handler = self._routes.get((method if method != "HEAD" else "GET", path))
        route = path if path in self._paths else "other"
        try:
            self._check_host(scope)
            if handler is None:
                if path in self._paths:
                    raise _HttpError(405, f"method {method} not allowed on {path}")
                raise _HttpError(404, f"no route {path}")
            if path.startswith("/actions/"):
                self._authorize(scope, path)
            status = await handler(scope, receive, send)
        except _HttpError as err:
            status = err.status
            headers = [(b"www-authenticate", b"Bearer")] if status == 401 else []
            await _send_json(send, status, {"ok": False, "error": err.message}, headers)
        except Exception as exc:
            # The response may already have started (a stream); then the connection drops.
            log.exception("control: %s %s failed", method, path)
            status = 500
            with contextlib.suppress(Exception):
                error = f"internal error: {type(exc).__name__}: {exc}"
                await _send_json(send, 500, {"ok": False, "error": error})
        self.plane.metrics.control_requests.labels(route, str(status)).inc()

    # -- plumbing --------------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _check_host(self, scope: Scope) -> None:
        """The Host header must name the address the request came in on (or ``localhost``
        on a loopback bind): a page whose DNS name was rebound to 127.0.0.1 sends its own
        name, and is refused before any route runs."""
        host = _header(scope, b"host")
        server = scope.get("server")
        if host is not None and server is not None and host.lower() in _allowed_hosts(server):
            return
        self.plane.metrics.control_auth_failures.inc()
        raise _HttpError(421, f"Host {host!r} is not this endpoint's address")

    def _authorize(self, scope: Scope, path: str) -> None:
        header = _header(scope, b"authorization")
        client = scope.get("client")
        who = f"{client[0]}:{client[1]}" if client else "unknown client"
        if header is None:
            problem = "missing bearer token"
        else:
            scheme, _, presented = header.partition(" ")
            if scheme.lower() == "bearer" and secrets.compare_digest(
                presented.strip().encode(), self.plane.token.encode()
            ):
                return
            problem = "wrong bearer token"
        self.plane.metrics.control_auth_failures.inc()
        log.warning("control: refused %s %s from %s: %s", scope["method"], path, who, problem)
        raise _HttpError(401, f"unauthorized: {problem}")

    async def _body(self, receive: Receive) -> dict[str, Any]:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _HttpError(400, "client disconnected")
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.config.max_body_bytes:
                raise _HttpError(413, "request body too large")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        raw = b"".join(chunks).strip()
        if not raw:
            return {}
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise _HttpError(400, f"body is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise _HttpError(400, "body must be a JSON object")
        return body

    def _tree_or_503(self) -> TreeControl:
        if self.plane.tree is None:
            raise _HttpError(503, "no supervision tree attached yet")
        return self.plane.tree

    # -- reads -----------------------------------------------------------------------------

    async def _metrics(self, scope: Scope, receive: Receive, send: Send) -> int:
        body = self.plane.metrics.exposition()
        await _send(send, 200, body, CONTENT_TYPE.encode())
        return 200

    async def _live(self, scope: Scope, receive: Receive, send: Send) -> int:
        snap = self.plane.snapshot()
        await _send_json(
            send,
            200,
            {
                "live": True,
                "run_id": self.plane.run_id,
                "shutdown_phase": None if snap is None else snap.shutdown_phase,
            },
        )
        return 200

    async def _ready(self, scope: Scope, receive: Receive, send: Send) -> int:
        snap = self.plane.snapshot()
        report = self.plane.readiness.evaluate(snap)
        status = 200 if report.ready else 503
        await _send_json(send, status, report)
        return status

    async def _tree(self, scope: Scope, receive: Receive, send: Send) -> int:
        snap = self._tree_or_503().snapshot()
        await _send(send, 200, msgspec.json.encode(snap), _JSON)
        return 200

    async def _tree_stream(self, scope: Scope, receive: Receive, send: Send) -> int:
        tree = self._tree_or_503()
        interval, count = self._stream_parameters(scope)
        if self.streams >= self.config.max_streams:
            raise _HttpError(503, f"{self.streams} streams already open (max_streams)")
        self.streams += 1
        try:
            await self._stream(tree, interval, count, receive, send)
        finally:
            self.streams -= 1
        return 200

    def _stream_parameters(self, scope: Scope) -> tuple[float, int | None]:
        """``interval`` (a finite number of seconds, at least ``min_stream_interval_s``) and
        ``count`` (a positive integer, or absent: until the client leaves); else 400."""
        query = parse_qs(
            scope.get("query_string", b"").decode(errors="replace"), keep_blank_values=True
        )
        floor = self.config.min_stream_interval_s
        try:
            interval = float(query.get("interval", [self.config.stream_interval_s])[0])
            count = int(query["count"][0]) if "count" in query else None
        except ValueError:
            raise _HttpError(400, "interval must be a number and count an integer") from None
        if not (math.isfinite(interval) and floor <= interval <= _MAX_STREAM_INTERVAL_S):
            raise _HttpError(
                400, f"interval must be from {floor:g} to {_MAX_STREAM_INTERVAL_S:g} seconds"
            )
        if count is not None and count < 1:
            raise _HttpError(400, "count must be a positive integer")
        return interval, count

    async def _stream(
        self, tree: TreeControl, interval: float, count: int | None, receive: Receive, send: Send
    ) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", _NDJSON), (b"cache-control", b"no-store")],
            }
        )
        async with trio.open_nursery() as nursery:

            async def watch_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                nursery.cancel_scope.cancel()

            nursery.start_soon(watch_disconnect)
            sent = 0
            while count is None or sent < count:
                if sent:
                    await trio.sleep(interval)
                line = msgspec.json.encode(tree.snapshot()) + b"\n"
                await send({"type": "http.response.body", "body": line, "more_body": True})
                sent += 1
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            nursery.cancel_scope.cancel()

    # -- actions ---------------------------------------------------------------------------

    async def _restart(self, scope: Scope, receive: Receive, send: Send) -> int:
        body = await self._body(receive)
        path = body.get("path")
        if not isinstance(path, str) or not path:
            raise _HttpError(400, 'body must be {"path": "<node path>"}')
        tree = self._tree_or_503()
        known = {n.path for n in tree.snapshot().nodes}
        if path not in known:
            raise _HttpError(404, f"no node {path!r} in the tree")
        reason = str(body.get("reason") or "restart requested through the control API")
        log.warning("control: restart of %s requested (%s)", path, reason)
        try:
            result = await tree.restart_child(path, reason)
        except (KeyError, LookupError) as exc:
            raise _HttpError(404, f"cannot restart {path!r}: {exc}") from None
        except ValueError as exc:
            raise _HttpError(409, f"cannot restart {path!r}: {exc}") from None
        await _send_json(send, 200, {"ok": True, "action": "restart", "path": path, **_res(result)})
        return 200

    async def _trading(self, send: Send, receive: Receive, action: str) -> int:
        body = await self._body(receive)
        if action in ("halt", "resume"):
            hook = self.plane.trading_hook
            if hook is None:
                raise _HttpError(503, "no trading control registered (fund manager not running)")
            fn = hook[0] if action == "halt" else hook[1]
        else:
            named = self.plane.trading_actions.get(action)
            if named is None:
                raise _HttpError(503, f"no {action} action registered (trading not running)")
            fn = named
        reason = str(body.get("reason") or f"{action} requested through the control API")
        log.warning("control: trading %s requested (%s)", action, reason)
        result = fn(reason)
        if inspect.isawaitable(result):
            result = await result
        # A hook may answer (accepted, why): a refusal (e.g. resume while latched) is a 409.
        if (
            isinstance(result, tuple)
            and len(result) == 2
            and isinstance(result[0], bool)
            and isinstance(result[1], str)
        ):
            if not result[0]:
                raise _HttpError(409, f"{action} refused: {result[1]}")
            result = result[1]
        await _send_json(send, 200, {"ok": True, "action": action, **_res(result)})
        return 200

    async def _halt(self, scope: Scope, receive: Receive, send: Send) -> int:
        return await self._trading(send, receive, "halt")

    async def _resume(self, scope: Scope, receive: Receive, send: Send) -> int:
        return await self._trading(send, receive, "resume")

    async def _fault(self, scope: Scope, receive: Receive, send: Send) -> int:
        if not self.plane.faults_allowed:
            raise _HttpError(403, "fault injection is refused outside paper trading")
        try:
            fault, path, ms = parse_fault_action(await self._body(receive))
            if fault is None:
                log.warning("control: event-loop stall of %d ms injected", ms)
                blocked = stall_loop(ms)
                await _send_json(send, 200, {"ok": True, "action": "stall", "blocked_s": blocked})
                return 200
            tree = self._tree_or_503()
            try:
                tree.inject_fault(path, fault)
            except KeyError as exc:
                raise FaultRefused(404, f"no worker {path!r}: {exc}") from None
            except ValueError as exc:
                raise FaultRefused(409, str(exc)) from None
        except FaultRefused as exc:
            raise _HttpError(exc.status, str(exc)) from None
        await _send_json(send, 200, {"ok": True, "action": fault.value, "path": path})
        return 200

    async def _flatten(self, scope: Scope, receive: Receive, send: Send) -> int:
        return await self._trading(send, receive, "flatten")

    async def _adopt_venue(self, scope: Scope, receive: Receive, send: Send) -> int:
        return await self._trading(send, receive, "adopt-venue")

    async def _shutdown(self, scope: Scope, receive: Receive, send: Send) -> int:
        body = await self._body(receive)
        tree = self._tree_or_503()
        force = bool(body.get("force", False))
        reason = str(body.get("reason") or "shutdown requested through the control API")
        log.warning("control: shutdown requested (force=%s, %s)", force, reason)
        result = tree.request_shutdown(reason, force=force)
        if inspect.isawaitable(result):
            await result
        await _send_json(send, 202, {"ok": True, "action": "shutdown", "force": force})
        return 202
