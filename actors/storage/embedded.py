"""The embedded PostgreSQL, owned by the run: its data under the run directory, started by
:func:`open_embedded` and stopped when the block exits, however it exits.

pgserver provides the binaries and the set-up (Postgres refuses to run as root: as root
pgserver creates a system user ``pgserver``, gives it the data directory and runs
``initdb``/``pg_ctl`` as that user). Its own clean-up is not used: it stops the server at
interpreter exit only, and only when no other process ever attached, so a SIGKILLed or
SIGTERMed run left servers running that every later run reused and never stopped. Here:

* a server still running in the data directory when a run starts is an orphan (the run
  directory's lock says no live run owns it): it is stopped, with one log line, and a
  fresh one started;
* the run stops its server when :func:`open_embedded` exits (clean end, exception,
  KeyboardInterrupt from SIGINT/SIGTERM);
* :class:`EmbeddedKeeper`, a supervised actor, restarts the server if it dies during the
  run (the DB writer spills to the journal meanwhile and replays it on reconnect).

The server listens only on a Unix socket in the data directory (or in a runtime directory
when that path is too long).
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import subprocess
import time
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import attrs
import psutil
import trio

from actors.storage.errors import EmbeddedPostgresError
from supervision import Actor, ActorContext

log = logging.getLogger("arbtree.storage.embedded")

EMBEDDED_DB_NAME = "arbtree"
_HINT = (
    "pass a DSN instead: `arbtree run --db postgresql://user@host:5432/dbname` "
    "or set ARBTREE_DB_DSN"
)
_STOP_TIMEOUT_S = 30.0


def _pgserver() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI): harmless here.
        warnings.simplefilter("ignore")
        import pgserver.postgres_server

        return pgserver.postgres_server


def _system_user() -> str | None:
    """The user pgserver runs Postgres as: ``pgserver`` when we are root, else ourselves."""
    return "pgserver" if hasattr(os, "geteuid") and os.geteuid() == 0 else None


def process_alive(pid: int) -> bool:
    """A running process (a zombie, dead but not yet reaped by its parent, is not)."""
    if pid <= 0:
        return False
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def is_postgres(pid: int) -> bool:
    """A live PostgreSQL server process: after a reboot (or in a new container) the pid in
    a stale ``postmaster.pid`` may belong to anything, which must not be stopped."""
    if not process_alive(pid):
        return False
    try:
        return psutil.Process(pid).name() in ("postgres", "postmaster")
    except psutil.Error:
        return False


def postmaster_pid(pgdata: Path) -> int | None:
    """The pid in ``postmaster.pid`` if that is a live PostgreSQL process, else None (also
    while ``initdb``'s standalone backend holds the file: it writes its pid negated)."""
    try:
        first = (pgdata / "postmaster.pid").read_text().split("\n", 1)[0]
        pid = int(first.strip())
    except (OSError, ValueError):
        return None
    return pid if is_postgres(pid) else None


def _remove_stale_lock_files(pgdata: Path) -> None:
    """A server that died (killed, crashed) leaves ``postmaster.pid`` and its socket's lock
    file; while its process is a zombie nobody has reaped, pgserver and Postgres take those
    for a running server. Its pid is known dead here (``postmaster_pid`` said so)."""
    pid_file = pgdata / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
    except OSError:
        return
    if len(lines) >= 5 and lines[3].strip() and lines[4].strip():
        socket = Path(lines[4].strip()) / f".s.PGSQL.{lines[3].strip()}"
        for path in (Path(f"{socket}.lock"), socket):
            with suppress(OSError):
                path.unlink()
    with suppress(OSError):
        pid_file.unlink()


def _pg_ctl_stop(pgdata: Path, pid: int) -> None:
    """Stop the server (fast: open sessions are rolled back) and wait until its process
    is gone; kill it if that fails."""
    pg_ctl = _pgserver().pg_ctl
    try:
        stop = ["-w", "-m", "fast", "stop"]
        pg_ctl(stop, pgdata=pgdata, user=_system_user(), timeout=_STOP_TIMEOUT_S)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        log.warning("pg_ctl stop failed (%s); killing the server (pid %d)", exc, pid)
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + _STOP_TIMEOUT_S
    while process_alive(pid):  # pg_ctl returns once postmaster.pid is gone: nearly exited
        if time.monotonic() > deadline:
            log.warning("embedded PostgreSQL (pid %d) still running; killing it", pid)
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.01)


@attrs.define(eq=False)
class EmbeddedPostgres:
    """One run's server: where it lives, its URI and postmaster pid while running."""

    pgdata: Path
    uri: str = ""
    pid: int | None = None
    restarts: int = 0

    def is_running(self) -> bool:
        return self.pid is not None and postmaster_pid(self.pgdata) == self.pid

    def start_blocking(self) -> None:
        """Stop an orphan found in the data directory, then start (blocking: a thread)."""
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.pgdata = self.pgdata.resolve()
        orphan = postmaster_pid(self.pgdata)
        if orphan is not None and orphan != self.pid:
            log.warning(
                "stopping the embedded PostgreSQL (pid %d) an earlier run left running in %s",
                orphan,
                self.pgdata,
            )
            _pg_ctl_stop(self.pgdata, orphan)
        elif orphan is None:
            _remove_stale_lock_files(self.pgdata)
        module = _pgserver()
        server = module.PostgresServer(self.pgdata, cleanup_mode=None)
        # Ours to stop, not pgserver's exit hook's (it would keep a stale handle too).
        atexit.unregister(server._cleanup)
        module.PostgresServer._instances.pop(self.pgdata, None)
        self.uri = server.get_uri()
        self.pid = server.get_pid()

    def stop_blocking(self) -> None:
        pid = postmaster_pid(self.pgdata)
        if pid is None:
            return
        _pg_ctl_stop(self.pgdata, pid)
        log.info("embedded PostgreSQL (pid %d) stopped", pid)

    async def start(self) -> None:
        """Start it in a worker thread; raise :class:`EmbeddedPostgresError` saying why."""
        try:
            await trio.to_thread.run_sync(self.start_blocking)
        except Exception as exc:  # pgserver raises CalledProcessError, OSError, asserts...
            raise _start_error(self.pgdata, exc) from exc


def _start_error(pgdata: Path, exc: Exception) -> EmbeddedPostgresError:
    server_log = pgdata / "log"
    if server_log.exists():
        try:
            for line in server_log.read_text(errors="replace").splitlines()[-10:]:
                log.error("embedded PostgreSQL log: %s", line)
        except OSError:
            pass
    who = "root" if _system_user() else "a normal user"
    return EmbeddedPostgresError(
        f"could not start the embedded PostgreSQL in {pgdata} (running as {who}): "
        f"{type(exc).__name__}: {exc}; its log: {server_log}; {_HINT}"
    )


@asynccontextmanager
async def open_embedded(pgdata: Path) -> AsyncIterator[EmbeddedPostgres]:
    """Start the run's server; stop it when the block exits (shielded: also on cancel)."""
    server = EmbeddedPostgres(pgdata)
    try:
        await server.start()
        yield server
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(server.stop_blocking)


def with_database(server_uri: str, dbname: str) -> str:
    """Replace the database part of a ``postgresql://`` URI."""
    parts = urlsplit(server_uri)
    return parts._replace(path="/" + quote(dbname)).geturl()


async def start_embedded(pgdata: Path) -> str:
    """Start the server in ``pgdata`` and leave it running (tests, tools); return its URI.

    Raises :class:`EmbeddedPostgresError` with the reason and how to pass a DSN instead.
    """
    server = EmbeddedPostgres(pgdata)
    await server.start()
    return server.uri


@attrs.define(eq=False)
class EmbeddedKeeper(Actor):
    """Restarts the run's embedded server if it dies (checked every ``interval_s``)."""

    server: EmbeddedPostgres
    interval_s: float = 1.0

    async def run(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        while True:
            await trio.sleep(self.interval_s)
            ctx.heartbeat()
            if self.server.is_running():
                continue
            gone = self.server.pid
            log.warning("embedded PostgreSQL (pid %s) is not running; restarting it", gone)
            await self.server.start()  # a failure crashes this actor: the supervisor retries
            self.server.restarts += 1
            log.warning("embedded PostgreSQL restarted (pid %s)", self.server.pid)
