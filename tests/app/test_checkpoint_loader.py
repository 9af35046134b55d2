"""Which fund checkpoint `arbtree run` hands the fund manager's start-up reconciliation."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
import trio

from actors.storage.database import open_database
from arbtree.config import AppConfig
from arbtree.tree_spec import checkpoint_loader_for
from tests.storage.helpers import NOW_MS, checkpoint, fast_config, running_writer


def _config(venue: str) -> AppConfig:
    base = AppConfig()
    return msgspec.structs.replace(base, run=msgspec.structs.replace(base.run, venue=venue))


async def test_sim_runs_read_only_their_own_checkpoints(db_dsn: str, tmp_path: Path) -> None:
    cfg = fast_config()
    earlier = msgspec.structs.replace(checkpoint(1), wall_ms=NOW_MS - 60_000)
    with trio.fail_after(30):
        async with open_database(db_dsn, tmp_path, cfg) as db:
            async with running_writer(db, tmp_path / "journal", cfg) as (sink, _):
                sink.put(earlier)
                await sink.flush()
            sim_loader = checkpoint_loader_for(_config("sim"), db, NOW_MS - 1_000)
            real_loader = checkpoint_loader_for(_config("real"), db, NOW_MS - 1_000)
            assert await sim_loader() is None  # a previous run's account, not this one's
            loaded = await real_loader()
            assert loaded is not None
            assert loaded.taken_ns == 1
            mine = msgspec.structs.replace(checkpoint(2), wall_ms=NOW_MS)
            async with running_writer(db, tmp_path / "journal2", cfg) as (sink, _):
                sink.put(mine)
                await sink.flush()
            again = await sim_loader()
            assert again is not None
            assert again.taken_ns == 2


async def test_unreadable_checkpoint_fails_closed_only_for_real_venues(
    db_dsn: str, tmp_path: Path
) -> None:
    cfg = fast_config()
    with trio.fail_after(30):
        async with open_database(db_dsn, tmp_path, cfg) as db:
            await db.run(lambda c: c.execute("DROP TABLE fund_checkpoints CASCADE"))
            assert await checkpoint_loader_for(_config("sim"), db, NOW_MS)() is None
            with pytest.raises(Exception, match="fund_checkpoints"):
                await checkpoint_loader_for(_config("real"), db, NOW_MS)()
