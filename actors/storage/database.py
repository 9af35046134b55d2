"""The connection: an asyncpg pool driven from Trio through trio-asyncio.

Every call goes through :meth:`Database.run`, which

* acquires a connection with the configured acquire timeout (a clear
  :class:`PoolExhausted` instead of a hang when the pool is used up),
* runs the unit of work on the asyncio side bounded by a timeout,
* is shielded from Trio cancellation once started (a transaction is never abandoned
  half-way by a cancelled caller; it commits, rolls back or times out), and
* has a watchdog: if the unit has not finished shortly after its bound (asyncpg #1265:
  a cancelled query can hang), the pool is terminated, which closes every socket and so
  unblocks it. The next call builds a fresh pool.

Closing is shielded and bounded the same way, falling back to ``pool.terminate()``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import attrs
import trio
import trio_asyncio

from actors.storage.embedded import (
    EMBEDDED_DB_NAME,
    EmbeddedPostgres,
    open_embedded,
    with_database,
)
from actors.storage.errors import DatabaseTimeout, DatabaseUnavailable, PoolExhausted
from actors.storage.migrations import apply_migrations
from protocols.config.storage import StorageConfig

T = TypeVar("T")
Work = Callable[[Any], Awaitable[T]]

log = logging.getLogger("arbtree.storage")

# Grace added to a unit's own bound before the watchdog terminates the pool.
_WATCHDOG_GRACE_S = 1.0

# SQLSTATE classes that mean "try again later": connection exceptions, insufficient
# resources, operator intervention (admin shutdown, query cancelled), system errors,
# transaction rollback (serialization, deadlock), object not in prerequisite state (locks).
_TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "53", "57", "58", "40", "55", "XX"})


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` says the database is unreachable/slow, not that the data is bad."""
    if isinstance(exc, DatabaseUnavailable | OSError | TimeoutError | trio.TooSlowError):
        return True
    if isinstance(exc, asyncpg.PostgresConnectionError | asyncpg.InterfaceError):
        return True
    if isinstance(exc, asyncpg.PostgresError):
        state = getattr(exc, "sqlstate", None) or ""
        return state[:2] in _TRANSIENT_SQLSTATE_CLASSES
    return False


def redact(dsn: str) -> str:
    """The DSN with any password replaced by ``***`` (safe for logs), even in a DSN too
    malformed to parse (then anything between ``user:`` and ``@`` is masked)."""
    try:
        parts = urlsplit(dsn)
        _ = parts.port, parts.password  # both parse lazily and may raise ValueError
    except ValueError:
        return re.sub(r"(//[^/:@]*):[^@]*@", r"\1:***@", dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))


@attrs.define(eq=False)
class Database:
    """An open asyncpg pool plus the facts about it. Build it with :func:`open_database`."""

    dsn: str
    config: StorageConfig
    embedded: bool
    run_id: uuid.UUID
    _loop: Any
    _pool: Any = None
    terminations: int = 0
    server: EmbeddedPostgres | None = None  # the run's embedded server, if embedded

    @property
    def pool(self) -> Any:
        """The current ``asyncpg.Pool`` (rebuilt after a termination)."""
        return self._pool

    # ------------------------------------------------------------------ lifecycle

    async def connect(self) -> None:
        if self._pool is not None:
            return
        cfg = self.config

        async def create() -> Any:
            return await asyncpg.create_pool(
                self.dsn,
                min_size=cfg.pool_min_size,
                max_size=cfg.pool_max_size,
                max_queries=cfg.max_queries,
                max_inactive_connection_lifetime=cfg.idle_timeout_s,
                timeout=cfg.connect_timeout_s,
                command_timeout=cfg.command_timeout_s,
                server_settings={"application_name": "arbtree"},
            )

        bound = cfg.connect_timeout_s * (cfg.pool_min_size + 1)
        try:
            self._pool = await self._bounded(create, bound, what="connect")
        except (
            OSError,
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
            TimeoutError,
            ValueError,  # a DSN the driver cannot use (a bad port, a bad parameter)
            OverflowError,  # a port beyond 65535: the socket refuses it
        ) as exc:
            raise DatabaseUnavailable(
                f"cannot connect to {redact(self.dsn)}: {type(exc).__name__}: {exc}"
            ) from exc

    async def aclose(self) -> None:
        """Close the pool gracefully within ``close_timeout_s``, else terminate it."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        with trio.CancelScope(shield=True):
            try:
                await self._bounded(pool.close, self.config.close_timeout_s, what="close")
            except Exception as exc:
                log.warning("pool close failed (%s); terminating connections", exc)
                pool.terminate()

    def terminate(self, reason: str) -> None:
        """Drop every connection now (sync, cannot hang); the next call reconnects."""
        pool, self._pool = self._pool, None
        if pool is not None:
            log.warning("terminating the database pool: %s", reason)
            self.terminations += 1
            pool.terminate()

    # ------------------------------------------------------------------ calls

    async def run(self, work: Work[T], *, bound_s: float | None = None) -> T:
        """Run ``work(conn)`` (an asyncio coroutine function) on a pooled connection.

        Raises :class:`PoolExhausted`, :class:`DatabaseTimeout`, :class:`DatabaseUnavailable`
        or whatever asyncpg raised for the statement.
        """
        if self._pool is None:
            await self.connect()
        pool = self._pool
        cfg = self.config
        bound = cfg.command_timeout_s if bound_s is None else bound_s

        async def unit() -> T:
            try:
                conn = await pool.acquire(timeout=cfg.acquire_timeout_s)
            except TimeoutError:
                raise PoolExhausted(
                    f"no database connection free within {cfg.acquire_timeout_s:g} s "
                    f"(pool_max_size={cfg.pool_max_size}); raise storage.pool_max_size or "
                    "look for a stuck query"
                ) from None
            try:
                return await asyncio.wait_for(work(conn), bound)
            except TimeoutError:
                conn.terminate()  # its state after a cancelled statement is unknown
                raise DatabaseTimeout(f"database call exceeded {bound:g} s") from None
            finally:
                try:
                    await asyncio.wait_for(pool.release(conn), cfg.close_timeout_s)
                except Exception:
                    conn.terminate()

        return await self._bounded(unit, cfg.acquire_timeout_s + bound, what="call")

    async def _bounded(self, fn: Callable[[], Awaitable[T]], bound: float, *, what: str) -> T:
        """Run an asyncio coroutine function from Trio: shielded, with a pool-terminating
        watchdog ``_WATCHDOG_GRACE_S`` after ``bound``."""
        result: list[T] = []
        error: list[BaseException] = []
        fired = False

        async def watchdog() -> None:
            nonlocal fired
            await trio.sleep(bound + _WATCHDOG_GRACE_S)
            fired = True
            self.terminate(f"{what} still running {bound + _WATCHDOG_GRACE_S:g} s after start")

        with trio.CancelScope(shield=True):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(watchdog)
                try:
                    result.append(await trio_asyncio.aio_as_trio(fn, loop=self._loop)())
                except Exception as exc:
                    error.append(exc)
                nursery.cancel_scope.cancel()
        if error:
            if fired and not isinstance(error[0], DatabaseUnavailable):
                raise DatabaseTimeout(f"database {what} hung; pool terminated") from error[0]
            raise error[0]
        return result[0]


def resolve_dsn(dsn: str | None, config: StorageConfig | None = None) -> str | None:
    """The DSN to use: the explicit one (``--db``), else ``ARBTREE_DB_DSN``, else the
    config file's; None means embedded."""
    return dsn or os.environ.get("ARBTREE_DB_DSN") or (config.dsn if config else None) or None


async def _ensure_database(loop: Any, server_uri: str, dbname: str, limit_s: float) -> None:
    async def work() -> None:
        conn = await asyncpg.connect(server_uri, timeout=limit_s)
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", dbname)
            if not exists:
                await conn.execute(f'CREATE DATABASE "{dbname}"')
        finally:
            await conn.close(timeout=limit_s)

    with trio.CancelScope(shield=True), trio.fail_after(limit_s * 3):
        await trio_asyncio.aio_as_trio(work, loop=loop)()


@asynccontextmanager
async def open_database(
    dsn: str | None,
    run_dir: Path,
    config: StorageConfig | None = None,
    *,
    migrate: bool = True,
) -> AsyncIterator[Database]:
    """Open the database for this run: yield a :class:`Database` (``.dsn``, ``.pool``).

    ``dsn`` None (and no ``ARBTREE_DB_DSN``/config DSN) starts the embedded PostgreSQL with
    its data in ``run_dir/postgres``. Pending migrations are applied and the run recorded.
    """
    cfg = config or StorageConfig()
    effective = resolve_dsn(dsn, cfg)
    try:
        async with _open_database(effective, Path(run_dir), cfg, migrate) as db:
            yield db
    except BaseExceptionGroup as group:
        # trio-asyncio's loop nursery wraps whatever crosses it in (nested) groups; give
        # callers the single error they would have seen without it.
        leaf = single_leaf(group)
        if leaf is None:
            raise
        raise leaf from None


def single_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one exception inside (nested) single-member groups; None if there are more."""
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        if len(exc.exceptions) != 1:
            return None
        exc = exc.exceptions[0]
    return exc


@asynccontextmanager
async def _open_database(
    effective: str | None, run_dir: Path, cfg: StorageConfig, migrate: bool
) -> AsyncIterator[Database]:
    embedded = effective is None
    async with AsyncExitStack() as stack:
        server: EmbeddedPostgres | None = None
        if effective is None:  # stopped when this block exits, after the pool is closed
            server = await stack.enter_async_context(open_embedded(run_dir / "postgres"))
        loop = await stack.enter_async_context(trio_asyncio.open_loop())
        # asyncpg can leave a background future failed and unretrieved (e.g. the pool
        # refilling its minimum while the server is gone); trio-asyncio would re-raise that
        # at loop exit and turn a handled outage into a crash. Log it instead.
        loop.set_exception_handler(_log_asyncio_error)
        if server is not None:
            await _ensure_database(loop, server.uri, EMBEDDED_DB_NAME, cfg.connect_timeout_s)
            effective = with_database(server.uri, EMBEDDED_DB_NAME)
        assert effective is not None
        db = Database(dsn=effective, config=cfg, embedded=embedded, run_id=uuid.uuid4(), loop=loop)
        db.server = server
        try:
            await db.connect()
            if migrate:
                applied = await db.run(apply_migrations, bound_s=max(60.0, cfg.command_timeout_s))
                if applied:
                    log.info("applied migrations: %s", ", ".join(applied))
                await db.run(_record_run(db.run_id))
            yield db
        finally:
            await db.aclose()


class OneLineRetries(logging.Filter):
    """asyncpg's pool logs each failed retry (``Failed to restore the pool connection
    floor; retrying``) with a full traceback, ~30 lines a second while the server is down:
    keep the record, as one line ending with the exception's type and message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.msg = f"{record.getMessage()} ({type(exc).__name__}: {exc})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


_ONE_LINE_RETRIES = OneLineRetries()
logging.getLogger("asyncpg.pool").addFilter(_ONE_LINE_RETRIES)


def _log_asyncio_error(loop: Any, context: dict[str, Any]) -> None:
    exc = context.get("exception")
    log.warning("asyncio background error: %s %r", context.get("message", ""), exc)


def _record_run(run_id: uuid.UUID) -> Work[None]:
    async def work(conn: Any) -> None:
        await conn.execute(
            "INSERT INTO runs (run_id, pid, host) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            run_id,
            os.getpid(),
            socket.gethostname(),
        )

    return work
