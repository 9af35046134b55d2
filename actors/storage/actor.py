"""The DB writer actor: drains its mailbox in batches into Postgres, spilling to the journal.

Modes:

* **direct**: the writer takes what its mailbox holds every ``batch_max_age_s`` (up to
  ``batch_max_rows`` at a time, back to back while batches come full; at once for a flush
  request) and writes it straight to Postgres (COPY for append tables, upserts for keyed
  ones). Records do not wake it one by one (see ``actors.storage.sink``).
* **spilling**: entered when a write fails transiently, when the mailbox passes
  ``spill_watermark``, or at start-up when journal segments exist (a previous crash or
  outage). Batches are appended to the fsynced journal instead; a replay task seals the
  active segment and replays sealed segments in order (idempotently, on ``rid``), retrying
  with a two-tier backoff (``retry_fast_interval_s`` during ``retry_fast_window_s``, then
  ``retry_slow_interval_s``). When the journal is empty it switches back to direct.

A record is *durable* (counted in ``records_durable``) once committed or fsynced. Every
record gets its ``rid`` before it is written or journaled, so writing it again (a retry
after an ambiguous commit, a replay, a shutdown fallback) never duplicates it.

Wiring::

    mailbox = Mailbox("db_writer", capacity=cfg.mailbox_capacity)
    sink = StorageSink(mailbox)                # give `sink` (or sink.put) to producers
    child = db_writer_child(db, sink, cfg, journal_dir)   # a ChildSpec for the storage supervisor
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import msgspec
import trio
import trio.lowlevel

from actors.shutdown_phases import Phase
from actors.storage.database import Database, is_transient
from actors.storage.journal import Journal, decode_entry
from actors.storage.sink import FlushRequest, StorageSink, StorageStats
from actors.storage.tables import SPEC_BY_KIND
from actors.storage.writer import BatchWriter, DeadLetter, Envelope, journal_payloads
from protocols.config.storage import StorageConfig
from supervision import Actor, ActorContext, ChildSpec, Restart

log = logging.getLogger("arbtree.storage.actor")

DurableHook = Callable[[Sequence[Envelope], str], None]


class RidFactory:
    """Record ids: time-ordered 128-bit values (boot microseconds, 12 random bits, then a
    counter), so the unique indexes on ``rid`` take appends, not random inserts."""

    def __init__(self) -> None:
        boot = (time.time_ns() // 1000) << 12 | random.getrandbits(12)
        self._prefix = (boot & ((1 << 64) - 1)) << 64
        self._counter = 0

    def __call__(self) -> uuid.UUID:
        self._counter += 1
        return uuid.UUID(int=self._prefix | self._counter)


@attrs.define(eq=False)
class DbWriter(Actor):
    """See the module docstring. One instance per incarnation; ``sink`` persists."""

    db: Database
    sink: StorageSink
    config: StorageConfig
    journal_dir: Path
    on_durable: DurableHook | None = None

    _journal: Journal | None = attrs.field(init=False, default=None)
    _writer: BatchWriter | None = attrs.field(init=False, default=None)
    _jlock: trio.Lock = attrs.field(init=False, factory=trio.Lock)
    _wake: trio.Event = attrs.field(init=False, factory=trio.Event)
    _drained: trio.Event = attrs.field(init=False, factory=trio.Event)
    _spilling: bool = attrs.field(init=False, default=False)
    _inflight: list[Envelope] = attrs.field(init=False, factory=list)
    _rid: RidFactory = attrs.field(init=False, factory=RidFactory)

    def statistics(self) -> StorageStats:
        return self.sink.statistics()

    # ------------------------------------------------------------------ lifecycle

    async def run(
        self,
        ctx: ActorContext,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        cfg = self.config
        stats = self.sink.stats
        journal = Journal(self.journal_dir, cfg.journal_segment_max_bytes)
        await trio.to_thread.run_sync(journal.open)
        self._journal = journal
        self._writer = BatchWriter(self.db, self.journal_dir / "dead_letters.jsonl", stats)
        self._sync_journal_stats()
        if journal.segments:
            ctx.log.warning(
                "journal holds %d records from an earlier run or outage; replaying",
                journal.pending_records,
            )
            self._set_spilling(True)
        try:
            await self._writer.ensure_partitions(cfg.partition_days_ahead)
        except Exception as exc:
            if not is_transient(exc):
                raise
            self._note_error(exc)
            self._set_spilling(True)
        unregister = ctx.shutdown.add_task(Phase.FLUSH_STORAGE, f"{ctx.path}:flush", self.flush_all)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._replay_loop, ctx)
                task_status.started()
                await self._consume_loop(ctx)
        finally:
            unregister()
            with trio.CancelScope(shield=True):
                async with self._jlock:
                    await trio.to_thread.run_sync(journal.close)

    # ------------------------------------------------------------------ consuming

    async def _consume_loop(self, ctx: ActorContext) -> None:
        """Poll the mailbox every ``batch_max_age_s`` (at once while batches come full, or
        when ``sink.urgent`` says a flush or an overflow is waiting). Records never wake the
        writer one by one: its step stays out of the trading path's scheduler rounds."""
        cfg = self.config
        sink = self.sink
        while True:
            if sink.overflow:
                await self._drain_overflow()
            items: list[Any] = sink.mailbox.receive_batch_nowait(cfg.batch_max_rows)
            if items:
                await self._write_items(items)
            ctx.heartbeat()
            if len(items) == cfg.batch_max_rows:
                await trio.lowlevel.checkpoint()
                continue
            if not sink.urgent.is_set():
                with trio.move_on_after(cfg.batch_max_age_s):
                    await sink.urgent.wait()
            sink.urgent = trio.Event()

    async def _write_items(self, items: list[Any]) -> None:
        envs: list[Envelope] = []
        for item in items:
            if isinstance(item, FlushRequest):
                await self._flush(envs)
                envs = []
                if self.sink.overflow:
                    await self._drain_overflow()
                item.done.set()
            else:
                envs.append((self._rid(), item))
        await self._flush(envs)

    async def _drain_overflow(self) -> None:
        overflow = self.sink.overflow
        envs = [(self._rid(), overflow.popleft()) for _ in range(len(overflow))]
        await self._spill(envs)

    async def _flush(self, envs: list[Envelope]) -> None:
        if not envs:
            return
        cfg = self.config
        mailbox = self.sink.mailbox
        assert self._writer is not None
        self._inflight = envs
        try:
            if self._spilling or len(mailbox) >= cfg.spill_watermark * mailbox.capacity:
                await self._spill(envs)
                return
            started = trio.current_time()
            try:
                await self._writer.write(envs, idempotent=False)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                self._note_error(exc)
                await self._spill(envs)
                return
            stats = self.sink.stats
            stats.latencies.append(trio.current_time() - started)
            stats.batches += 1
            stats.records_durable += len(envs)
            if self.on_durable is not None:
                self.on_durable(envs, "db")
        finally:
            self._inflight = []

    async def _spill(self, envs: list[Envelope]) -> None:
        """Append to the journal (fsynced) and switch to spilling."""
        if not envs:
            return
        assert self._journal is not None
        assert self._writer is not None
        payloads, unknown = journal_payloads(envs)
        if unknown:
            await trio.to_thread.run_sync(self._writer.write_dead_letter_file, unknown)
        journal = self._journal
        with trio.CancelScope(shield=True):
            async with self._jlock:
                await trio.to_thread.run_sync(journal.append, payloads)
        stats = self.sink.stats
        stats.spilled_batches += 1
        stats.spilled_records += len(payloads)
        stats.records_durable += len(payloads)
        self._sync_journal_stats()
        self._set_spilling(True)
        if self.on_durable is not None:
            self.on_durable(envs, "journal")

    # ------------------------------------------------------------------ replaying

    async def _replay_loop(self, ctx: ActorContext) -> None:
        cfg = self.config
        failing_since: float | None = None
        while True:
            if not self._spilling:
                await self._wake.wait()
                self._wake = trio.Event()
                continue
            try:
                await self._replay_once()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                self._note_error(exc)
                now = trio.current_time()
                if failing_since is None:
                    failing_since = now
                    ctx.set_degraded(f"database unavailable, spilling to journal: {exc}")
                fast = now - failing_since < cfg.retry_fast_window_s
                await trio.sleep(cfg.retry_fast_interval_s if fast else cfg.retry_slow_interval_s)
                continue
            if failing_since is not None:
                failing_since = None
                ctx.set_healthy()
            await trio.lowlevel.checkpoint()

    async def _replay_once(self) -> None:
        journal = self._journal
        writer = self._writer
        assert journal is not None
        assert writer is not None
        async with self._jlock:
            if journal.active_records:
                await trio.to_thread.run_sync(journal.seal)
        for path in journal.sealed():
            payloads = await trio.to_thread.run_sync(journal.read_all, path)
            envs: list[Envelope] = []
            undecodable: list[DeadLetter] = []
            for payload in payloads:
                try:
                    entry = decode_entry(payload)
                    spec = SPEC_BY_KIND[entry.kind]
                    record = _decode_record(spec.record_type, entry.data)
                    envs.append((uuid.UUID(bytes=entry.rid), record))
                except Exception as exc:
                    reason = f"undecodable journal record: {type(exc).__name__}: {exc}"
                    undecodable.append(DeadLetter("journal", None, payload.hex(), reason))
            if undecodable:
                await trio.to_thread.run_sync(writer.write_dead_letter_file, undecodable)
            step = self.config.replay_batch_rows
            for i in range(0, len(envs), step):
                chunk = envs[i : i + step]
                await writer.write(chunk, idempotent=True)
                self.sink.stats.replayed_records += len(chunk)
            async with self._jlock:
                await trio.to_thread.run_sync(journal.remove, path)
            self._sync_journal_stats()
        async with self._jlock:
            if journal.pending_records == 0:
                self._set_spilling(False)

    # ------------------------------------------------------------------ shutdown

    async def flush_all(self) -> None:
        """The ``flush-storage`` task: everything queued goes to Postgres (or the journal),
        then the journal is replayed while time remains. Bounded; never hangs."""
        cfg = self.config
        request = FlushRequest()
        with trio.move_on_after(cfg.flush_timeout_s * 0.6):
            await self.sink.send_flush_request(request)
            await request.done.wait()
        if not request.done.is_set():
            await self._emergency_journal()
            return
        with trio.move_on_after(cfg.flush_timeout_s * 0.4):
            if self._spilling:
                await self._drained.wait()

    async def _emergency_journal(self) -> None:
        """The writer did not get through its mailbox in time: journal what is queued.
        Records may also reach the database via the writer; ``rid`` makes that harmless."""
        mailbox = self.sink.mailbox
        envs = list(self._inflight)
        while True:
            try:
                item = mailbox.receive_nowait()
            except trio.WouldBlock:
                break
            if isinstance(item, FlushRequest):
                item.done.set()
            else:
                envs.append((self._rid(), item))
        overflow = self.sink.overflow
        envs.extend((self._rid(), overflow.popleft()) for _ in range(len(overflow)))
        log.warning("flush-storage: writer busy; journaling %d queued records", len(envs))
        await self._spill(envs)

    # ------------------------------------------------------------------ helpers

    def _set_spilling(self, on: bool) -> None:
        self._spilling = on
        self.sink.stats.mode = "spilling" if on else "direct"
        if on:
            self._wake.set()
            if self._drained.is_set():
                self._drained = trio.Event()
        else:
            self._drained.set()

    def _note_error(self, exc: BaseException) -> None:
        stats = self.sink.stats
        stats.transient_errors += 1
        stats.last_error = f"{type(exc).__name__}: {exc}"[:500]
        log.warning("database write failed (%s); records go to the journal", stats.last_error)

    def _sync_journal_stats(self) -> None:
        journal = self._journal
        if journal is None:
            return
        stats = self.sink.stats
        stats.journal_records = journal.pending_records
        stats.journal_bytes = journal.pending_bytes
        stats.journal_segments = journal.segments


def _decode_record(record_type: type, data: Any) -> Any:
    return msgspec.msgpack.decode(data, type=record_type)


def db_writer_child(
    db: Database,
    sink: StorageSink,
    config: StorageConfig,
    journal_dir: Path,
    *,
    child_id: str = "db_writer",
    on_durable: DurableHook | None = None,
) -> ChildSpec:
    """The ChildSpec for the storage supervisor: permanent, its mailbox is ``sink.mailbox``,
    its shutdown bound covers the flush."""

    def start() -> Actor:
        return DbWriter(
            db=db, sink=sink, config=config, journal_dir=journal_dir, on_durable=on_durable
        )

    return ChildSpec(
        id=child_id,
        start=start,
        restart=Restart.PERMANENT,
        shutdown=config.flush_timeout_s + 2 * config.command_timeout_s,
        mailboxes=[sink.mailbox],
    )
