"""PostgreSQL for the chaos harness: the embedded server it starts once in its work
directory (``pgserver``; only a server the harness owns may be paused with SIGSTOP or
stopped and started again), or the ``--db`` server; the DSN the bot gets through the
database proxy; one-off SQL for schemas and the recorder.
"""

from __future__ import annotations

import asyncio
import os
import signal
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs


@attrs.define
class Postgres:
    """Where the database is: a server URI and, for the embedded one, its data directory."""

    uri: str  # postgresql://... of the server (any database)
    pgdata: Path | None = None  # embedded: SIGSTOP/SIGCONT are ours to send
    server: Any = None  # embedded: pgserver's handle, to stop and start it again

    @property
    def upstream(self) -> tuple[str, int] | str:
        """What the database proxy connects to: (host, port) or a Unix socket path."""
        parts = urlsplit(self.uri)
        host = parse_qs(parts.query).get("host", [parts.hostname or "127.0.0.1"])[0]
        port = parts.port or 5432
        if host.startswith("/"):
            return f"{host}/.s.PGSQL.{port}"
        return host, port

    def dsn_via(self, proxy_port: int, schema: str) -> str:
        """The DSN the bot uses: through the proxy, in ``schema``."""
        parts = urlsplit(self.uri)
        user = parts.username or "postgres"
        password = f":{parts.password}" if parts.password else ""
        dbname = parts.path.lstrip("/") or "postgres"
        return (
            f"postgresql://{user}{password}@127.0.0.1:{proxy_port}/{dbname}"
            f"?options=-csearch_path%3D{schema}"
        )

    def processes(self) -> list[int]:
        """The embedded server's postmaster and every backend (pids), for SIGSTOP/SIGCONT."""
        if self.pgdata is None:
            return []
        pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
        return [pid, *children_of(pid)]

    def stop_server(self) -> None:
        """Stop the embedded server (``pg_ctl stop -m fast``); blocking."""
        import pgserver._commands as commands  # pgserver's wrapper: runs as its own user

        pg_ctl = getattr(commands, "pg_ctl")  # noqa: B009 - made at import, one per binary
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=self.server.system_user)

    def start_server(self) -> None:
        """Start the embedded server again with pgserver's own arguments; blocking."""
        self.server.ensure_postgres_running()

    def signal_all(self, sig: signal.Signals) -> int:
        pids = self.processes()
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                continue
        return len(pids)


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc): the postmaster's backends and workers."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def start_embedded(workdir: Path) -> Postgres:
    """Start (or reuse) the harness's embedded server under ``workdir``; blocking."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        pgdata = workdir / "pg" / "data"
        pgdata.mkdir(parents=True, exist_ok=True)
        server: Any = getattr(pgserver, "get_server")(pgdata, cleanup_mode="stop")  # noqa: B009
        return Postgres(uri=server.get_uri(), pgdata=pgdata, server=server)


def run_sql(uri: str, sql: str, *args: Any) -> list[Any]:
    """One statement on a fresh connection; blocking (call it in a thread)."""
    import asyncpg

    async def go() -> list[Any]:
        conn: Any = await asyncpg.connect(uri, timeout=15)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    return asyncio.run(go())
