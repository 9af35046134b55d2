"""What the sink holds after the tree has stopped (its last supervision events) goes to
Postgres, or to the journal when the database is gone; nothing is dropped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

from actors.storage.database import open_database
from actors.storage.journal import Journal
from actors.storage.last_records import write_last_records
from actors.storage.sink import FlushRequest, StorageSink
from supervision import Mailbox
from tests.storage.helpers import Proxy, event, fast_config, running_writer, wait_until


def _count(sql: str) -> Any:
    return lambda c: c.fetchval(sql)


def _sink(capacity: int) -> StorageSink:
    return StorageSink(Mailbox("db_writer", capacity=capacity))


async def test_last_records_go_to_the_database(db_dsn: str, tmp_path: Path) -> None:
    cfg = fast_config(mailbox_capacity=4)
    sink = _sink(cfg.mailbox_capacity)
    stale_request = FlushRequest()  # a flush nobody served: released, not stored
    sink.mailbox.send_nowait(stale_request)
    for i in range(5):  # 3 more in the mailbox, 2 in the overflow
        sink.put(event(i))
    assert len(sink.overflow) == 2
    with trio.fail_after(20):
        async with open_database(db_dsn, tmp_path, cfg) as db:
            where = await write_last_records(db, sink, cfg, tmp_path / "journal")
            assert where == "db"
            assert await db.run(_count("SELECT count(*) FROM supervision_events")) == 5
            assert stale_request.done.is_set()
            assert (len(sink.mailbox), len(sink.overflow), sink.statistics().backlog) == (0, 0, 0)
            assert await write_last_records(db, sink, cfg, tmp_path / "journal") == "none"


async def test_last_records_are_journaled_when_the_database_is_gone(
    db_dsn: str, tmp_path: Path
) -> None:
    cfg = fast_config(connect_timeout_s=0.5, command_timeout_s=1.0, flush_timeout_s=2.0)
    proxy = Proxy(db_dsn)
    journal_dir = tmp_path / "journal"
    with trio.fail_after(45):
        async with trio.open_nursery() as nursery:
            await nursery.start(proxy.serve)
            async with open_database(proxy.dsn, tmp_path, cfg) as db:
                sink = _sink(cfg.mailbox_capacity)
                for i in range(5):
                    sink.put(event(i))
                proxy.cut_all()
                assert await write_last_records(db, sink, cfg, journal_dir) == "journal"
                assert sink.statistics().backlog == 5  # durable in the journal, not in Postgres
                journal = Journal(journal_dir)
                journal.open()
                assert journal.pending_records == 5
                journal.close()
                proxy.restore()
                # The next start replays them.
                async with running_writer(db, journal_dir, cfg) as (next_sink, _):
                    await wait_until(lambda: next_sink.statistics().mode == "direct")
                assert await db.run(_count("SELECT count(*) FROM supervision_events")) == 5
            nursery.cancel_scope.cancel()
