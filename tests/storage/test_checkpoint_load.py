"""The fund checkpoint through Postgres: fees paid and the daily-loss counters are stored
(migration 0002) and read back by ``tables.load_fund_checkpoint``; rows written before the
migration read as "no fees, no day"."""

from __future__ import annotations

from pathlib import Path

import msgspec
import trio

from actors.storage.checkpoint_load import instrument_from_key, load_fund_checkpoint
from actors.storage.database import open_database
from actors.storage.migrations import apply_migrations, load_migrations
from protocols.messages import FundCheckpointRecord
from tests.storage.helpers import INSTR, INSTR2, NOW_MS, checkpoint, fast_config, running_writer


def full_checkpoint(taken_ns: int, wall_ms: int = NOW_MS) -> FundCheckpointRecord:
    cp = checkpoint(taken_ns)
    positions = tuple(sorted(cp.positions, key=lambda p: p.instrument.key()))
    return msgspec.structs.replace(
        cp,
        positions=positions,
        wall_ms=wall_ms,
        fees_paid=1_234_567,
        day_fees=234_000,
        day_realized=-5_000_000,
        loss_day=wall_ms // 86_400_000,
    )


def test_instrument_keys_round_trip() -> None:
    assert instrument_from_key(INSTR.key()) == INSTR
    assert instrument_from_key(INSTR2.key()) == INSTR2


async def test_checkpoint_round_trip_keeps_fees_and_daily_loss(db_dsn: str, tmp_path: Path) -> None:
    cfg = fast_config()
    older = full_checkpoint(1, NOW_MS - 10_000)
    newer = full_checkpoint(2)
    with trio.fail_after(30):
        async with open_database(db_dsn, tmp_path, cfg) as db:
            assert await db.run(load_fund_checkpoint) is None
            async with running_writer(db, tmp_path / "journal", cfg) as (sink, _):
                sink.put(older)
                sink.put(newer)
                await sink.flush()
            loaded = await db.run(load_fund_checkpoint)
    assert loaded == newer


async def test_rows_from_before_the_migration_read_as_no_fees(db_dsn: str, tmp_path: Path) -> None:
    migrations = load_migrations()
    assert [m.name for m in migrations][:2] == ["initial", "fund_checkpoint_loss"]
    with trio.fail_after(30):
        async with open_database(db_dsn, tmp_path, fast_config(), migrate=False) as db:
            await db.run(lambda c: apply_migrations(c, migrations[:1]))
            await db.run(
                lambda c: c.execute(
                    "INSERT INTO fund_checkpoints (rid, taken_ns, at, balances, open_orders)"
                    " VALUES (gen_random_uuid(), 3, now(),"
                    ' \'[{"venue": "kalshi", "cash": 7, "reserved": 0}]\', \'{}\')'
                )
            )
            await db.run(apply_migrations)
            loaded = await db.run(load_fund_checkpoint)
    assert loaded is not None
    assert loaded.balances[0].cash == 7
    assert (loaded.fees_paid, loaded.day_fees, loaded.day_realized, loaded.loss_day) == (
        0,
        0,
        0,
        -1,
    )


async def test_since_ignores_an_earlier_runs_checkpoints(db_dsn: str, tmp_path: Path) -> None:
    cfg = fast_config()
    earlier_run = full_checkpoint(1, NOW_MS - 60_000)
    with trio.fail_after(30):
        async with open_database(db_dsn, tmp_path, cfg) as db:
            async with running_writer(db, tmp_path / "journal", cfg) as (sink, _):
                sink.put(earlier_run)
                await sink.flush()
            assert await db.run(lambda c: load_fund_checkpoint(c, NOW_MS - 1_000)) is None
            this_run = full_checkpoint(2)
            async with running_writer(db, tmp_path / "journal2", cfg) as (sink, _):
                sink.put(this_run)
                await sink.flush()
            assert await db.run(lambda c: load_fund_checkpoint(c, NOW_MS - 1_000)) == this_run
            assert await db.run(load_fund_checkpoint) == this_run
