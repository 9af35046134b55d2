"""The DB writer against real Postgres: round trips, idempotent replay, dead letters,
a database outage through a cut proxy, and the tree wiring."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio
import trio.testing

from actors.shutdown_phases import new_shutdown
from actors.storage.actor import db_writer_child
from actors.storage.database import open_database
from actors.storage.sink import StorageSink
from actors.storage.writer import BatchWriter, Envelope
from protocols.messages import FillStatus, OrderState
from supervision import Mailbox, Strategy, SupervisorSpec, open_tree
from tests.storage.helpers import (
    NOW_MS,
    Proxy,
    checkpoint,
    event,
    fast_config,
    fill,
    opportunity,
    order,
    running_writer,
    tick,
    wait_until,
)


def _count(sql: str) -> Any:
    return lambda c: c.fetchval(sql)


async def test_round_trip_every_record_type(db_dsn: str, tmp_path: Path) -> None:
    cfg = fast_config()
    with trio.fail_after(30):
        async with open_database(db_dsn, tmp_path, cfg) as db:
            async with running_writer(db, tmp_path / "journal", cfg) as (sink, _):
                for i in range(50):
                    sink.put(tick(i))
                sink.put(opportunity(1))
                sink.put(opportunity(2))
                sink.put(order("arb-1", OrderState.SENT, 0, NOW_MS))
                sink.put(order("arb-1", OrderState.FILLED, 2_000_000, NOW_MS + 5))
                sink.put(order("arb-1", OrderState.OPEN, 0, NOW_MS + 1))  # late, older
                sink.put(fill("f-1"))
                sink.put(fill("f-1", FillStatus.CONFIRMED, NOW_MS + 10))
                sink.put(checkpoint(7))
                sink.put(event(1))
                await sink.flush()
                stats = sink.statistics()
            assert stats.records_durable == 59
            assert stats.mode == "direct"
            assert stats.rows_written["ticks"] == 50

            tick_row = await db.run(lambda c: c.fetchrow("SELECT * FROM ticks WHERE recv_ns = 3"))
            assert tick_row["instrument"] == "kalshi:KXBTC-25:yes"
            assert tick_row["bid"] == 400_003
            assert int(tick_row["ts"].timestamp() * 1000) == NOW_MS
            opp = await db.run(
                lambda c: c.fetchrow("SELECT * FROM opportunities WHERE opportunity_id='opp-1'")
            )
            assert opp["decision"] == "rejected"
            assert opp["reject_reason"] == "stale"
            assert '"side": "buy"' in opp["legs"]
            o = await db.run(lambda c: c.fetchrow("SELECT * FROM orders"))
            assert o["state"] == "filled"  # the late, older OPEN did not win
            assert o["filled_size"] == 2_000_000
            assert await db.run(_count("SELECT count(*) FROM order_events")) == 3
            f = await db.run(lambda c: c.fetchrow("SELECT * FROM fills"))
            assert (f["venue"], f["fill_id"], f["status"]) == ("kalshi", "f-1", "confirmed")
            assert await db.run(_count("SELECT count(*) FROM fills")) == 1
            cp = await db.run(lambda c: c.fetchrow("SELECT * FROM fund_checkpoints"))
            assert cp["taken_ns"] == 7
            assert cp["open_orders"] == ["arb-1"]
            positions = await db.run(
                lambda c: c.fetch("SELECT * FROM positions ORDER BY instrument")
            )
            assert [p["size"] for p in positions] == [2_000_000, -1_000_000]
            ev = await db.run(lambda c: c.fetchrow("SELECT * FROM supervision_events"))
            assert (ev["kind"], ev["path"]) == ("started", "arbtree/x1")


async def test_replay_is_idempotent(db_dsn: str, tmp_path: Path) -> None:
    cfg = fast_config()
    with trio.fail_after(30):
        async with open_database(db_dsn, tmp_path, cfg) as db:
            writer = BatchWriter(db, tmp_path / "dl.jsonl")
            await writer.ensure_partitions(1)
            from actors.storage.actor import RidFactory

            rid = RidFactory()
            batch: list[Envelope] = [(rid(), tick(i)) for i in range(100)]
            batch += [(rid(), order("arb-9", OrderState.OPEN, 0, NOW_MS)), (rid(), fill("f-9"))]
            batch += [(rid(), opportunity(3)), (rid(), checkpoint(1)), (rid(), event(2))]
            assert await writer.write(batch, idempotent=False) == 105
            for _ in range(2):  # a replay of the same records, twice
                assert await writer.write(batch, idempotent=True) == 105
            for table, n in [
                ("ticks", 100),
                ("orders", 1),
                ("order_events", 1),
                ("fills", 1),
                ("opportunities", 1),
                ("fund_checkpoints", 1),
                ("positions", 2),
                ("supervision_events", 1),
            ]:
                assert await db.run(_count(f"SELECT count(*) FROM {table}")) == n, table


async def test_bad_rows_are_dead_lettered_not_dropped(db_dsn: str, tmp_path: Path) -> None:
    cfg = fast_config()
    with trio.fail_after(30):
        async with open_database(db_dsn, tmp_path, cfg) as db:
            async with running_writer(db, tmp_path / "journal", cfg) as (sink, _):
                for i in range(64):
                    sink.put(tick(i, symbol="bad\x00sym" if i in (5, 40) else "KXBTC-25"))
                sink.put(tick(1000))
                sink.put(tick(1001))
                sink.put(tick(1002))
                sink.put(object())  # not a storage record at all
                await sink.flush()
                stats = sink.statistics()
            assert await db.run(_count("SELECT count(*) FROM ticks")) == 65
            letters = await db.run(lambda c: c.fetch("SELECT * FROM dead_letters ORDER BY id"))
            assert len(letters) == 3
            assert {r["kind"] for r in letters} == {"tick", "object"}
            assert all(r["reason"] for r in letters)
            assert stats.dead_letters == 3


async def test_outage_spills_to_journal_and_replays(db_dsn: str, tmp_path: Path) -> None:
    cfg = fast_config(connect_timeout_s=1.0, command_timeout_s=2.0)
    proxy = Proxy(db_dsn)
    with trio.fail_after(45):
        async with trio.open_nursery() as nursery:
            await nursery.start(proxy.serve)
            async with open_database(proxy.dsn, tmp_path, cfg) as db:
                async with running_writer(db, tmp_path / "journal", cfg) as (sink, _):
                    for i in range(200):
                        sink.put(tick(i))
                    sink.put(order("arb-2", OrderState.SENT, 0, NOW_MS))
                    await sink.flush()
                    assert sink.statistics().mode == "direct"

                    proxy.cut_all()
                    for i in range(200, 700):
                        sink.put(tick(i))
                        if i % 100 == 0:
                            await trio.sleep(0.01)
                    sink.put(order("arb-2", OrderState.FILLED, 2_000_000, NOW_MS + 1))
                    sink.put(fill("f-2"))
                    await sink.flush()
                    stats = sink.statistics()
                    assert stats.mode == "spilling"
                    assert stats.journal_records > 0
                    assert stats.records_durable == 703

                    await trio.sleep(0.3)  # a few failed retries
                    proxy.restore()
                    await wait_until(lambda: sink.statistics().mode == "direct")
                    stats = sink.statistics()
                    assert stats.journal_records == 0
                    assert stats.replayed_records >= 500
                    assert stats.transient_errors >= 1
                assert await db.run(_count("SELECT count(*) FROM ticks")) == 700
                assert await db.run(_count("SELECT count(DISTINCT recv_ns) FROM ticks")) == 700
                assert await db.run(_count("SELECT state FROM orders")) == "filled"
                assert await db.run(_count("SELECT count(*) FROM fills")) == 1
            assert list((tmp_path / "journal").glob("*.seg")) == []
            nursery.cancel_scope.cancel()


async def test_flush_storage_shutdown_with_database_down(db_dsn: str, tmp_path: Path) -> None:
    cfg = fast_config(connect_timeout_s=0.5, command_timeout_s=1.0, flush_timeout_s=3.0)
    proxy = Proxy(db_dsn)
    with trio.fail_after(45):
        async with trio.open_nursery() as nursery:
            await nursery.start(proxy.serve)
            async with open_database(proxy.dsn, tmp_path, cfg) as db:
                async with running_writer(db, tmp_path / "journal", cfg) as (sink, writer):
                    proxy.cut_all()
                    for i in range(300):
                        sink.put(tick(i))
                    started = trio.current_time()
                    await writer.flush_all()  # bounded although the DB is gone
                    assert trio.current_time() - started < cfg.flush_timeout_s + 1
                    assert sink.statistics().records_durable == 300
                proxy.restore()
                # next start: the journal is replayed
                async with running_writer(db, tmp_path / "journal", cfg) as (sink2, _):
                    await wait_until(lambda: sink2.statistics().mode == "direct")
                assert await db.run(_count("SELECT count(DISTINCT recv_ns) FROM ticks")) == 300
                assert await db.run(_count("SELECT count(*) FROM ticks")) == 300
            nursery.cancel_scope.cancel()


async def test_mailbox_overflow_goes_to_the_journal(db_dsn: str, tmp_path: Path) -> None:
    cfg = fast_config(mailbox_capacity=50)
    with trio.fail_after(30):
        async with open_database(db_dsn, tmp_path, cfg) as db:
            async with running_writer(db, tmp_path / "journal", cfg) as (sink, _):
                for i in range(500):  # no checkpoint: the writer cannot drain meanwhile
                    sink.put(tick(i))
                assert sink.overflowed >= 400  # the rest fit in the mailbox
                await sink.flush()
                await wait_until(lambda: sink.statistics().mode == "direct")
            assert await db.run(_count("SELECT count(DISTINCT recv_ns) FROM ticks")) == 500
            assert await db.run(_count("SELECT count(*) FROM ticks")) == 500


async def test_records_wait_for_the_writers_clock_and_a_flush_wakes_it(
    db_dsn: str, tmp_path: Path
) -> None:
    """A record does not wake the writer (its step must stay out of the trading path's
    scheduler rounds): it waits in the mailbox for the writer's next poll. A flush request
    wakes the writer at once."""
    cfg = fast_config(batch_max_age_s=30.0)  # the writer's clock: one poll per 30 s
    durable: list[int] = []
    with trio.fail_after(20):
        async with open_database(db_dsn, tmp_path, cfg) as db:
            hook = lambda envs, via: durable.append(len(envs))  # noqa: E731
            async with running_writer(db, tmp_path / "journal", cfg, on_durable=hook) as (
                sink,
                _,
            ):
                await trio.testing.wait_all_tasks_blocked()  # the writer's first poll is done
                for i in range(3):
                    sink.put(tick(i))
                await trio.testing.wait_all_tasks_blocked()
                assert len(sink.mailbox) == 3  # nobody took them: the writer slept on
                assert durable == []
                await sink.flush()  # under fail_after(20): it did not wait for the 30 s poll
                assert (len(sink.mailbox), sum(durable)) == (0, 3)
            assert await db.run(_count("SELECT count(*) FROM ticks")) == 3


async def test_writer_in_a_tree_flushes_at_shutdown(db_dsn: str, tmp_path: Path) -> None:
    cfg = fast_config(batch_max_age_s=5.0, batch_max_rows=100_000)  # nothing flushes by itself
    with trio.fail_after(30):
        async with open_database(db_dsn, tmp_path, cfg) as db:
            sink = StorageSink(Mailbox("db_writer", capacity=cfg.mailbox_capacity))
            spec = SupervisorSpec(
                children=[db_writer_child(db, sink, cfg, tmp_path / "journal")],
                strategy=Strategy.ONE_FOR_ONE,
            )
            async with open_tree(
                spec, name="arbtree", on_event=sink, shutdown=new_shutdown()
            ) as tree:
                for i in range(120):
                    sink.put(tick(i))
                await trio.sleep(0.1)
                tree.request_shutdown("test over")
                await tree.wait_stopped()
            assert await db.run(_count("SELECT count(*) FROM ticks")) == 120
            assert await db.run(_count("SELECT count(*) FROM supervision_events")) >= 1


async def test_same_millisecond_order_states_keep_the_later_one(
    db_dsn: str, tmp_path: Path
) -> None:
    """Two states of one order in the same wall-clock millisecond: the later (by the
    process's monotonic ns) wins, within one batch and across batches, in any arrival order."""
    import msgspec

    def at(coid: str, state: OrderState, filled: int, ns: int) -> Any:
        return msgspec.structs.replace(order(coid, state, filled, NOW_MS), updated_ns=ns)

    cfg = fast_config()
    with trio.fail_after(30):
        async with open_database(db_dsn, tmp_path, cfg) as db:
            async with running_writer(db, tmp_path / "journal", cfg) as (sink, _):
                # one batch, older state arriving last
                sink.put(at("arb-a", OrderState.FILLED, 2_000_000, 20))
                sink.put(at("arb-a", OrderState.SENT, 0, 10))
                await sink.flush()
                # separate batches, older state second
                sink.put(at("arb-b", OrderState.REJECTED, 0, 20))
                await sink.flush()
                sink.put(at("arb-b", OrderState.PENDING, 0, 10))
                await sink.flush()
            rows = await db.run(
                lambda c: c.fetch("SELECT client_order_id, state FROM orders ORDER BY 1")
            )
            assert [(r["client_order_id"], r["state"]) for r in rows] == [
                ("arb-a", "filled"),
                ("arb-b", "rejected"),
            ]


async def test_failed_settlement_in_the_same_millisecond_as_its_match_wins(
    db_dsn: str, tmp_path: Path
) -> None:
    """A Polymarket trade MATCHED then FAILED within one wall-clock millisecond (the sim's
    and the venue's usual timing): the row ends ``failed`` in one batch and across batches,
    and a late replay of the MATCHED record never brings it back."""
    cfg = fast_config()
    with trio.fail_after(30):
        async with open_database(db_dsn, tmp_path, cfg) as db:
            async with running_writer(db, tmp_path / "journal", cfg) as (sink, _):
                sink.put(fill("t-1", FillStatus.MATCHED, NOW_MS))
                sink.put(fill("t-1", FillStatus.FAILED, NOW_MS))
                await sink.flush()
                sink.put(fill("t-2", FillStatus.MATCHED, NOW_MS))
                await sink.flush()
                sink.put(fill("t-2", FillStatus.FAILED, NOW_MS))
                await sink.flush()
                sink.put(fill("t-2", FillStatus.MATCHED, NOW_MS))
                await sink.flush()
            rows = await db.run(lambda c: c.fetch("SELECT fill_id, status FROM fills ORDER BY 1"))
            assert [(r["fill_id"], r["status"]) for r in rows] == [
                ("t-1", "failed"),
                ("t-2", "failed"),
            ]
