"""The producer side: hand a record to the DB writer without ever waiting.

``StorageSink`` wraps the writer's mailbox. ``sink.put(record)`` is a plain function call:
``send_nowait`` into the mailbox and, when the mailbox is full (the writer is behind or
the database is slow), an append to an in-memory overflow list instead. The writer drains
the overflow first and straight to the fsynced journal, so a producer never blocks and a
record is never dropped. The sink outlives writer restarts and carries the statistics.

A record does not wake the writer: it polls the mailbox on its own clock (every
``batch_max_age_s``), so persisting an order record never puts the writer's step between
the fund manager and the executor in the same scheduler round. Only what cannot wait wakes
it, through ``urgent``: a flush request, or an overflow.
"""

from __future__ import annotations

import collections
from typing import Any

import attrs
import msgspec
import trio

from supervision import Mailbox


class StorageStats(msgspec.Struct, frozen=True, kw_only=True):
    """What the metrics engineer reads (``DbWriter.statistics()`` / ``StorageSink``)."""

    mode: str  # "direct" (straight to Postgres) or "spilling" (journal first)
    rows_written: dict[str, int]  # per table, committed (direct and replayed)
    records_durable: int  # committed to Postgres or fsynced to the journal
    batches: int
    batch_latency_p50_s: float
    batch_latency_p99_s: float
    backlog: int  # mailbox depth + overflow + journal records not yet in Postgres
    mailbox_depth: int
    overflow: int
    journal_records: int
    journal_bytes: int
    journal_segments: int
    spilled_batches: int
    spilled_records: int
    replayed_records: int
    dead_letters: int
    dead_letters_to_file: int
    transient_errors: int
    last_error: str


@attrs.define(eq=False)
class FlushRequest:
    """Sent through the mailbox: the writer flushes everything before it, then sets done."""

    done: trio.Event = attrs.field(factory=trio.Event)
    durable: bool = False


@attrs.define(eq=False)
class WriterStats:
    """Mutable counters shared by every writer incarnation."""

    records_durable: int = 0
    batches: int = 0
    latencies: collections.deque[float] = attrs.field(
        factory=lambda: collections.deque(maxlen=4096)
    )
    spilled_batches: int = 0
    spilled_records: int = 0
    replayed_records: int = 0
    transient_errors: int = 0
    last_error: str = ""
    mode: str = "direct"
    rows_written: dict[str, int] = attrs.field(factory=dict)
    dead_letters: int = 0
    dead_letters_to_file: int = 0
    journal_records: int = 0
    journal_bytes: int = 0
    journal_segments: int = 0

    def quantile(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@attrs.define(eq=False)
class StorageSink:
    """Producers' handle on the DB writer. Create once, share with the writer's ChildSpec."""

    mailbox: Mailbox[Any]
    overflow: collections.deque[Any] = attrs.field(factory=collections.deque)
    stats: WriterStats = attrs.field(factory=WriterStats)
    overflowed: int = 0
    urgent: trio.Event = attrs.field(factory=trio.Event)

    def put(self, record: Any) -> None:
        """Queue ``record`` for storage. Never blocks, never raises on a full mailbox."""
        try:
            self.mailbox.send_nowait(record)
        except trio.WouldBlock:
            self.overflow.append(record)
            self.overflowed += 1
            self.urgent.set()

    __call__ = put  # usable directly as a callback, e.g. open_tree(on_event=sink)

    @property
    def writable(self) -> bool:
        """True while records go straight to Postgres; False while they spill to the journal."""
        return self.stats.mode == "direct"

    async def flush(self) -> None:
        """Wait until everything put before this call is durable (tests, benchmarks,
        shutdown of a producer). Waits on a full mailbox; not for the hot path."""
        request = FlushRequest()
        await self.send_flush_request(request)
        await request.done.wait()

    async def send_flush_request(self, request: FlushRequest) -> None:
        """Queue ``request`` behind everything put so far and wake the writer for it."""
        await self.mailbox.send(request)
        self.urgent.set()

    def statistics(self) -> StorageStats:
        s = self.stats
        depth = len(self.mailbox)
        return StorageStats(
            mode=s.mode,
            rows_written=dict(s.rows_written),
            records_durable=s.records_durable,
            batches=s.batches,
            batch_latency_p50_s=s.quantile(0.50),
            batch_latency_p99_s=s.quantile(0.99),
            backlog=depth + len(self.overflow) + s.journal_records,
            mailbox_depth=depth,
            overflow=len(self.overflow),
            journal_records=s.journal_records,
            journal_bytes=s.journal_bytes,
            journal_segments=s.journal_segments,
            spilled_batches=s.spilled_batches,
            spilled_records=s.spilled_records,
            replayed_records=s.replayed_records,
            dead_letters=s.dead_letters,
            dead_letters_to_file=s.dead_letters_to_file,
            transient_errors=s.transient_errors,
            last_error=s.last_error,
        )


def persist(sink: StorageSink, record: Any) -> None:
    """Module-level spelling of ``sink.put(record)``."""
    sink.put(record)
