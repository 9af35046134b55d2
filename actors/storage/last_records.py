"""After the tree: the records nobody is left to write.

The supervision tree reports its own shutdown to the storage sink (phase ends, every
actor's ``stopped``), and most of those events come after the ``flush-storage`` phase:
the DB writer is itself among the last actors to stop. The runner calls
:func:`write_last_records` once the tree has stopped and while the database is still
open. What the sink still holds goes to Postgres; if that fails or takes longer than
``flush_timeout_s``, it goes to the journal, which the next start replays. Nothing is
dropped, and a record written twice (a commit whose reply was lost) is harmless: each
carries its ``rid``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import trio

from actors.storage.actor import RidFactory
from actors.storage.database import Database
from actors.storage.journal import Journal
from actors.storage.sink import FlushRequest, StorageSink
from actors.storage.writer import BatchWriter, Envelope, journal_payloads
from protocols.config.storage import StorageConfig

log = logging.getLogger("arbtree.storage.last_records")


async def write_last_records(
    db: Database, sink: StorageSink, config: StorageConfig, journal_dir: Path
) -> str:
    """Write what ``sink`` still holds; return where it went (``"none"``, ``"db"`` or
    ``"journal"``). Bounded by ``flush_timeout_s`` plus one fsynced journal append."""
    records: list[Any] = []
    for item in sink.mailbox.receive_batch_nowait(max(1, len(sink.mailbox))):
        if isinstance(item, FlushRequest):
            item.done.set()
        else:
            records.append(item)
    records.extend(sink.overflow)
    sink.overflow.clear()
    if not records:
        return "none"
    rid = RidFactory()
    envs: list[Envelope] = [(rid(), record) for record in records]
    stats = sink.stats
    writer = BatchWriter(db, journal_dir / "dead_letters.jsonl", stats)
    with trio.move_on_after(config.flush_timeout_s):
        try:
            await writer.write(envs, idempotent=False)
        except Exception as exc:
            log.warning(
                "%d records after the tree stopped: database write failed (%r); journaling them",
                len(envs),
                exc,
            )
        else:
            stats.batches += 1
            stats.records_durable += len(envs)
            log.info("%d records after the tree stopped written to the database", len(envs))
            return "db"
    payloads, unknown = journal_payloads(envs)
    if unknown:
        await trio.to_thread.run_sync(writer.write_dead_letter_file, unknown)
    journal = Journal(journal_dir, config.journal_segment_max_bytes)
    await trio.to_thread.run_sync(journal.open)
    try:
        await trio.to_thread.run_sync(journal.append, payloads)
        stats.journal_records = journal.pending_records
    finally:
        await trio.to_thread.run_sync(journal.close)
    stats.spilled_records += len(payloads)
    stats.records_durable += len(payloads)
    log.warning(
        "%d records after the tree stopped journaled to %s; the next start replays them",
        len(payloads),
        journal_dir,
    )
    return "journal"
