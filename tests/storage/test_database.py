"""Connection, migrations, pool limits, the embedded server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import trio

from actors.storage.database import open_database
from actors.storage.embedded import start_embedded
from actors.storage.errors import EmbeddedPostgresError, PoolExhausted
from actors.storage.migrations import apply_migrations, load_migrations
from tests.storage.helpers import fast_config

TABLES = {
    "runs",
    "instruments",
    "instrument_pairs",
    "ticks",
    "opportunities",
    "orders",
    "order_events",
    "fills",
    "fund_checkpoints",
    "positions",
    "supervision_events",
    "sim_windows",
    "dead_letters",
    "schema_migrations",
}


async def _tables(conn: Any) -> set[str]:
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') "
        "AND NOT c.relispartition"
    )
    return {r["relname"] for r in rows}


async def test_migrations_apply_once(db_dsn: str, tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with open_database(db_dsn, tmp_path, fast_config()) as db:
            assert await db.run(_tables) >= TABLES
            assert await db.run(apply_migrations) == []  # second run: no-op
            versions = await db.run(
                lambda c: c.fetch("SELECT version FROM schema_migrations ORDER BY version")
            )
            assert [r["version"] for r in versions] == [m.version for m in load_migrations()]
        # a second start of the process: still a no-op, the run is recorded again
        async with open_database(db_dsn, tmp_path, fast_config()) as db:
            assert await db.run(lambda c: c.fetchval("SELECT count(*) FROM runs")) == 2


async def test_concurrent_migrations_do_not_race(db_dsn: str, tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with open_database(db_dsn, tmp_path, fast_config(), migrate=False) as db:
            results: list[list[str]] = []

            async def one() -> None:
                results.append(await db.run(apply_migrations))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(one)
                nursery.start_soon(one)
            assert sorted(len(r) for r in results) == [0, len(load_migrations())]


async def test_pool_exhaustion_is_a_clear_error(db_dsn: str, tmp_path: Path) -> None:
    cfg = fast_config(pool_min_size=1, pool_max_size=1, acquire_timeout_s=0.3)
    with trio.fail_after(30):
        async with open_database(db_dsn, tmp_path, cfg) as db:

            async def hold(conn: Any) -> None:
                await asyncio.sleep(1.5)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(db.run, hold)
                await trio.sleep(0.1)
                started = trio.current_time()
                with pytest.raises(PoolExhausted, match="pool_max_size=1"):
                    await db.run(lambda c: c.fetchval("SELECT 1"))
                assert trio.current_time() - started < 1.2
            assert await db.run(lambda c: c.fetchval("SELECT 1")) == 1


async def test_hung_query_is_bounded(db_dsn: str, tmp_path: Path) -> None:
    cfg = fast_config(command_timeout_s=0.5)
    with trio.fail_after(30):
        async with open_database(db_dsn, tmp_path, cfg) as db:
            with pytest.raises(Exception, match=r"exceeded|timeout|Timeout|cancel"):
                await db.run(lambda c: c.execute("SELECT pg_sleep(30)"))
            assert await db.run(lambda c: c.fetchval("SELECT 2")) == 2


@pytest.mark.slow
async def test_embedded_server_under_run_dir_survives_restart(
    pg_run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_path = pg_run_dir
    monkeypatch.delenv("ARBTREE_DB_DSN", raising=False)
    with trio.fail_after(120):
        async with open_database(None, tmp_path, fast_config()) as db:
            assert db.embedded
            assert str(tmp_path / "postgres") in db.dsn
            await db.run(lambda c: c.execute("INSERT INTO sim_windows VALUES ('w1', '{}', now())"))
        assert (tmp_path / "postgres" / "PG_VERSION").exists()
        async with open_database(None, tmp_path, fast_config()) as db:
            assert await db.run(lambda c: c.fetchval("SELECT count(*) FROM sim_windows")) == 1
            assert await db.run(lambda c: c.fetchval("SELECT count(*) FROM runs")) == 2


async def test_embedded_failure_names_the_dsn_option(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    with pytest.raises(EmbeddedPostgresError, match="--db postgresql://"):
        await start_embedded(blocker / "postgres")
