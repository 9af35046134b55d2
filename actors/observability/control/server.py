"""Serving the control endpoint: :func:`open_control_server` (loopback check, Hypercorn
bind, the 0600 token and ``control.json`` files written and removed) and
:class:`ControlServer`, the supervised actor around it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import msgspec
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from actors.observability.control.app import ControlApp
from actors.observability.control.plane import ControlPlane
from protocols.config.observability import ControlConfig, is_loopback
from supervision.actor import Actor, ActorContext

log = logging.getLogger("arbtree.control")

CONTROL_FILE = "control.json"
TOKEN_FILE = "control.token"


class ControlInfo(msgspec.Struct, frozen=True, kw_only=True):
    """``<run_dir>/control.json``: how ``arbtree inspect`` finds a running instance."""

    url: str  # "http://127.0.0.1:40123"
    token_file: str  # absolute path, mode 0600
    pid: int
    run_id: str
    started_at: float  # wall-clock epoch seconds


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
    if not is_loopback(host) and not config.allow_non_loopback:
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
