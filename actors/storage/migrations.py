"""Versioned schema migrations: ``migrations/NNNN_name.sql``, applied in order, once.

All pending files run in one transaction under a transaction-scoped advisory lock, so two
processes starting together cannot race; each applied file is recorded in
``schema_migrations`` with a checksum. A second run is a no-op. An applied file whose text
changed afterwards is an error (write a new migration instead).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from actors.storage.errors import MigrationError

MIGRATION_LOCK_KEY = 7305916450
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations() -> list[Migration]:
    """The packaged migration files, ordered by version."""
    found: list[Migration] = []
    folder = resources.files("actors.storage") / "migrations"
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match is None:
            continue
        found.append(Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions: {versions}")
    return found


async def apply_migrations(conn: Any, migrations: list[Migration] | None = None) -> list[str]:
    """Apply pending migrations on an asyncpg connection (asyncio side); return their names."""
    todo = load_migrations() if migrations is None else migrations
    applied_now: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
        done = {r["version"]: (r["name"], r["checksum"]) for r in rows}
        for mig in todo:
            if mig.version in done:
                if done[mig.version][1] != mig.checksum:
                    raise MigrationError(
                        f"migration {mig.version:04d}_{mig.name} was changed after it was "
                        "applied; add a new migration file instead of editing an applied one"
                    )
                continue
            await conn.execute(mig.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                mig.version,
                mig.name,
                mig.checksum,
            )
            applied_now.append(f"{mig.version:04d}_{mig.name}")
    return applied_now
