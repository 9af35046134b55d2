"""The control endpoint: metrics, health, the tree (and its live stream), and actions.

A small ASGI application (no framework) served by Hypercorn's Trio worker on loopback.

Reads are open to anyone who can reach the loopback port:

* ``GET /metrics`` — Prometheus text exposition;
* ``GET /health/live`` — 200 while the event loop answers;
* ``GET /health/ready`` — 200 or 503 with every check's result and the failed names;
* ``GET /tree`` — the current ``TreeSnapshot`` as JSON;
* ``GET /tree/stream?interval=S&count=N`` — newline-delimited JSON, one snapshot per
  interval (``count`` ends the stream after N snapshots).

Actions need ``Authorization: Bearer <token>``; the token is generated per run and written
to a file only the owner can read. A missing or wrong token gets 401, is logged (never the
token itself) and executes nothing:

* ``POST /actions/restart`` ``{"path": "arbtree/feeds/kalshi", "reason": "..."}``;
* ``POST /actions/halt`` / ``POST /actions/resume`` ``{"reason": "..."}`` — through the
  trading hook registered with :meth:`ControlPlane.set_trading_control`;
* ``POST /actions/shutdown`` ``{"reason": "...", "force": false}``.
"""

from __future__ import annotations

import contextlib
import inspect
import ipaddress
import json
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs

import attrs
import msgspec
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from actors.observability.health import ReadinessChecks
from actors.observability.logging import register_secret
from actors.observability.metrics import CONTENT_TYPE, Metrics
from protocols.config.observability import ControlConfig
from protocols.tree import TreeSnapshot
from supervision.actor import Actor, ActorContext

__all__ = [
    "CONTROL_FILE",
    "TOKEN_FILE",
    "ControlApp",
    "ControlInfo",
    "ControlPlane",
    "ControlServer",
    "ControlServerHandle",
    "TreeControl",
    "open_control_server",
]

log = logging.getLogger("arbtree.control")

CONTROL_FILE = "control.json"
TOKEN_FILE = "control.token"

Scope = Mapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
TradingAction = Callable[[str], object]  # may return an awaitable


class TreeControl(Protocol):
    """What the control endpoint needs from ``supervision``'s ``Tree``."""

    def snapshot(self) -> TreeSnapshot: ...

    async def restart_child(self, path: str, reason: str) -> Any: ...

    def request_shutdown(self, reason: str, *, force: bool = False) -> Any: ...


class ControlInfo(msgspec.Struct, frozen=True, kw_only=True):
    """``<run_dir>/control.json``: how ``arbtree inspect`` finds a running instance."""

    url: str  # "http://127.0.0.1:40123"
    token_file: str  # absolute path, mode 0600
    pid: int
    run_id: str
    started_at: float  # wall-clock epoch seconds


@attrs.define(eq=False)
class ControlPlane:
    """The per-run hub the control endpoint serves from.

    The run assembler creates one, gives it to the control actor and to the components
    that register readiness checks, statistics callbacks or the trading hook, and calls
    :meth:`attach_tree` once the tree exists. The token lives here, so a restarted
    control actor keeps serving the same token for the whole run.
    """

    metrics: Metrics
    readiness: ReadinessChecks = attrs.field(factory=ReadinessChecks)
    run_id: str = attrs.field(
        factory=lambda: time.strftime("%Y%m%dT%H%M%S-") + secrets.token_hex(3)
    )
    token: str = attrs.field(factory=lambda: secrets.token_urlsafe(32), repr=False)
    tree: TreeControl | None = None
    _halt: TradingAction | None = None
    _resume: TradingAction | None = None

    def __attrs_post_init__(self) -> None:
        register_secret(self.token)
        self.metrics.attach_tree(self.snapshot)

    def attach_tree(self, tree: TreeControl) -> None:
        self.tree = tree

    def snapshot(self) -> TreeSnapshot | None:
        return None if self.tree is None else self.tree.snapshot()

    def set_trading_control(
        self, *, halt: TradingAction, resume: TradingAction
    ) -> Callable[[], None]:
        """Route ``/actions/halt`` and ``/actions/resume`` to the fund manager.

        ``halt(reason)`` and ``resume(reason)`` may be plain or async functions; what they
        return (e.g. the new trading state) is echoed in the response as ``result``.
        Returns a function that removes the hook (call it when the fund manager stops).
        """
        self._halt, self._resume = halt, resume

        def unregister() -> None:
            if self._halt is halt:
                self._halt = self._resume = None

        return unregister

    @property
    def trading_hook(self) -> tuple[TradingAction, TradingAction] | None:
        if self._halt is None or self._resume is None:
            return None
        return self._halt, self._resume


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_JSON = b"application/json"
_NDJSON = b"application/x-ndjson"


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
        }
        self._paths = {path for _, path in self._routes}

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
        query = parse_qs(scope.get("query_string", b"").decode())
        try:
            interval = float(query.get("interval", [self.config.stream_interval_s])[0])
            count = int(query["count"][0]) if "count" in query else None
        except ValueError:
            raise _HttpError(400, "interval must be a number and count an integer") from None
        interval = max(interval, self.config.min_stream_interval_s)
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
        return 200

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
        hook = self.plane.trading_hook
        if hook is None:
            raise _HttpError(503, "no trading control registered (fund manager not running)")
        reason = str(body.get("reason") or f"{action} requested through the control API")
        log.warning("control: trading %s requested (%s)", action, reason)
        fn = hook[0] if action == "halt" else hook[1]
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


def _res(result: object) -> dict[str, Any]:
    if result is None:
        return {}
    try:
        return {"result": msgspec.to_builtins(result)}
    except TypeError:
        return {"result": str(result)}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def _send(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _send_json(
    send: Send, status: int, doc: object, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await _send(send, status, msgspec.json.encode(doc), _JSON, headers)


# ------------------------------------------------------------------------------------------
# serving
# ------------------------------------------------------------------------------------------


@attrs.frozen
class ControlServerHandle:
    url: str
    port: int
    token_file: Path
    control_file: Path


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically with mode 0600 from the first byte."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _prepare_paths(config: ControlConfig, run_dir: Path) -> tuple[Path, Path]:
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    token_file = Path(config.token_file).resolve() if config.token_file else run_dir / TOKEN_FILE
    return token_file, run_dir / CONTROL_FILE


def _check_host(config: ControlConfig) -> None:
    host = config.host
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not config.allow_non_loopback:
        raise ValueError(
            f"control endpoint host {host!r} is not a loopback address; "
            "set allow_non_loopback = true to expose it"
        )


@contextlib.asynccontextmanager
async def open_control_server(
    plane: ControlPlane, config: ControlConfig, run_dir: Path
) -> AsyncIterator[ControlServerHandle]:
    """Serve the control endpoint until the block exits; write and remove control.json.

    The bound URL (``port = 0`` picks a free port) and the token file's path go to
    ``<run_dir>/control.json``; both files are removed when the server stops.
    """
    _check_host(config)
    token_file, control_file = _prepare_paths(config, run_dir)

    hconfig = HypercornConfig()
    host = f"[{config.host}]" if ":" in config.host else config.host
    hconfig.bind = [f"{host}:{config.port}"]
    hconfig.accesslog = None
    hconfig.errorlog = logging.getLogger("arbtree.control.http")
    hconfig.graceful_timeout = config.graceful_timeout_s
    app = ControlApp(plane, config)

    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(_serve, app, hconfig)
        url = binds[0]
        port = int(url.rsplit(":", 1)[1])
        _write_private(token_file, plane.token.encode() + b"\n")
        info = ControlInfo(
            url=url,
            token_file=str(token_file),
            pid=os.getpid(),
            run_id=plane.run_id,
            started_at=time.time(),
        )
        _write_private(control_file, msgspec.json.format(msgspec.json.encode(info)) + b"\n")
        log.info("control endpoint on %s (token in %s)", url, token_file)
        try:
            yield ControlServerHandle(url, port, token_file, control_file)
        finally:
            for path in (control_file, token_file):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            nursery.cancel_scope.cancel(reason="control endpoint closing")


async def _serve(
    app: ControlApp,
    config: HypercornConfig,
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    await serve(app, config, task_status=task_status)  # type: ignore[arg-type]


@attrs.define(eq=False)
class ControlServer(Actor):
    """The supervised control endpoint (the ``control`` child of the root supervisor)."""

    plane: ControlPlane
    config: ControlConfig
    run_dir: Path

    async def run(
        self,
        ctx: ActorContext,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with open_control_server(self.plane, self.config, self.run_dir) as server:
            ctx.log.info("serving %s", server.url)
            task_status.started()
            await trio.sleep_forever()
