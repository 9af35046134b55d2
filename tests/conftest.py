"""Shared fixtures. Postgres for tests:

* ``pg_dsn`` (session, sync): a server DSN. ``ARBTREE_TEST_DSN`` when set (CI points it at
  the machine's Postgres), otherwise an embedded pgserver started once for the session.
* ``db_dsn`` (function, sync): a DSN whose ``search_path`` is a fresh, empty schema created
  for this test and dropped after it (~3 ms, against ~35 ms+ for a database per test).
  Use it with asyncpg or ``actors.storage.database.open_database``.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.postgres import dsn_with_schema


def _run_sql(dsn: str, sql: str) -> None:
    import asyncpg

    async def go() -> None:
        conn: Any = await asyncpg.connect(dsn, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(go())


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    env = os.environ.get("ARBTREE_TEST_DSN")
    if env:
        return env
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        # Not under tmp_path_factory: as root, pgserver runs Postgres as a `pgserver` user
        # and needs every parent directory traversable; pytest resets its
        # /tmp/pytest-of-<user> to 0700 at each session start, which would lock it out.
        pgdata = Path(tempfile.mkdtemp(prefix="arbtree-test-pg-")) / "data"
        server: Any = getattr(pgserver, "get_server")(pgdata, cleanup_mode="delete")  # noqa: B009
        uri: str = server.get_uri()
    return uri


@pytest.fixture
def pg_run_dir() -> Path:
    """A run directory for an embedded server (outside pytest's 0700 temp root)."""
    return Path(tempfile.mkdtemp(prefix="arbtree-test-run-"))


@pytest.fixture
def db_dsn(pg_dsn: str) -> Iterator[str]:
    schema = f"t_{uuid.uuid4().hex[:16]}"
    _run_sql(pg_dsn, f'CREATE SCHEMA "{schema}"')
    try:
        yield dsn_with_schema(pg_dsn, schema)
    finally:
        _run_sql(pg_dsn, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
