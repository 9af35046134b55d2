"""Writing batches of records to Postgres: the table specs applied, bad rows isolated.

:class:`BatchWriter` takes a batch of ``(rid, record)`` envelopes and writes it in one
transaction. A transient failure (database unreachable, timeout) is raised to the caller,
which spills the batch to the journal. A permanent failure (constraint, bad data, a value
the driver cannot encode) is isolated by bisecting the batch; each record that fails on its
own is stored in ``dead_letters`` with the reason (or, if that insert fails too, appended
to ``dead_letters.jsonl`` next to the journal). Nothing is dropped silently.
"""

from __future__ import annotations

import datetime
import logging
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from actors.storage.database import Database, is_transient
from actors.storage.journal import encode_entry
from actors.storage.sink import WriterStats
from actors.storage.tables import DAY_MS, RecordSpec, Row, TableWrite, spec_for

log = logging.getLogger("arbtree.storage.writer")

Envelope = tuple[uuid.UUID, Any]


@dataclass(slots=True)
class _Prepared:
    rid: uuid.UUID
    record: Any
    spec: RecordSpec
    rows: tuple[Sequence[Row], ...]  # one entry per TableWrite of the spec


@dataclass(slots=True)
class DeadLetter:
    kind: str
    rid: uuid.UUID | None
    record: Any
    reason: str


def _payload_json(record: Any) -> str:
    try:
        text = msgspec.json.encode(record).decode()
    except Exception as exc:
        text = msgspec.json.encode({"unencodable": repr(record), "error": str(exc)}).decode()
    # jsonb cannot hold \u0000; keep it visible as text instead.
    return text.replace("\\u0000", "\\\\u0000")


def _reason(exc: BaseException) -> str:
    state = getattr(exc, "sqlstate", None)
    prefix = f"{type(exc).__name__}[{state}]" if state else type(exc).__name__
    return f"{prefix}: {exc}"[:2000]


class BatchWriter:
    """Stateless apart from counters and the set of tick partitions known to exist."""

    def __init__(
        self, db: Database, dead_letter_file: Path, stats: WriterStats | None = None
    ) -> None:
        self.db = db
        self.dead_letter_file = dead_letter_file
        self.stats = stats if stats is not None else WriterStats()
        self._days: set[int] = set()
        self.bisections = 0

    # ------------------------------------------------------------------ public

    async def ensure_partitions(self, days_ahead: int) -> None:
        today = int(time.time() * 1000) // DAY_MS
        days = set(range(today - 1, today + days_ahead + 1))
        await self.db.run(self._partition_work(days))
        self._days |= days

    async def write(self, batch: Sequence[Envelope], *, idempotent: bool) -> int:
        """Write a batch; return the number of records stored (the rest dead-lettered).

        Raises a transient error (see :func:`is_transient`) when the database is
        unavailable; nothing of the batch is then committed.
        """
        prepared: list[_Prepared] = []
        bad: list[DeadLetter] = []
        for rid, record in batch:
            try:
                spec = spec_for(record)
                rows = tuple(tw.rows(rid, record) for tw in spec.writes)
            except Exception as exc:
                kind = getattr(spec_for_or_none(record), "kind", type(record).__name__)
                bad.append(DeadLetter(kind, rid, record, f"cannot build rows: {_reason(exc)}"))
                continue
            prepared.append(_Prepared(rid, record, spec, rows))
        stored = await self._write_isolating(prepared, idempotent, bad)
        if bad:
            await self.dead_letter(bad)
        return stored

    async def dead_letter(self, items: Sequence[DeadLetter]) -> None:
        """Store rejected records with their reasons: table first, file as the fallback."""
        if not items:
            return
        for item in items:
            log.error("dead letter %s %s: %s", item.kind, item.rid, item.reason)
        args = [(d.kind, d.rid, d.reason, _payload_json(d.record)) for d in items]

        async def work(conn: Any) -> None:
            await conn.executemany(
                "INSERT INTO dead_letters (kind, rid, reason, payload) "
                "VALUES ($1, $2, $3, $4::jsonb)",
                args,
            )

        try:
            await self.db.run(work)
        except Exception as exc:
            log.warning("dead letters go to %s (%s)", self.dead_letter_file, exc)
            self.write_dead_letter_file(items)
            return
        self.stats.dead_letters += len(items)

    def write_dead_letter_file(self, items: Sequence[DeadLetter]) -> None:
        """Append dead letters to the JSON-lines file and fsync (blocking; tiny and rare)."""
        self.dead_letter_file.parent.mkdir(parents=True, exist_ok=True)
        now = datetime.datetime.now(datetime.UTC).isoformat()
        lines = b"".join(
            msgspec.json.encode(
                {
                    "at": now,
                    "kind": d.kind,
                    "rid": str(d.rid) if d.rid else None,
                    "reason": d.reason,
                    "payload": msgspec.json.decode(_payload_json(d.record)),
                }
            )
            + b"\n"
            for d in items
        )
        fd = os.open(self.dead_letter_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, lines)
            os.fsync(fd)
        finally:
            os.close(fd)
        self.stats.dead_letters += len(items)
        self.stats.dead_letters_to_file += len(items)

    # ------------------------------------------------------------------ internals

    async def _write_isolating(
        self, items: list[_Prepared], idempotent: bool, bad: list[DeadLetter]
    ) -> int:
        if not items:
            return 0
        try:
            await self._attempt(items, idempotent)
        except Exception as exc:
            if is_transient(exc):
                raise
            if len(items) == 1:
                only = items[0]
                bad.append(DeadLetter(only.spec.kind, only.rid, only.record, _reason(exc)))
                return 0
            self.bisections += 1
            mid = len(items) // 2
            left = await self._write_isolating(items[:mid], idempotent, bad)
            right = await self._write_isolating(items[mid:], idempotent, bad)
            return left + right
        return len(items)

    async def _attempt(self, items: list[_Prepared], idempotent: bool) -> None:
        tables: dict[str, tuple[TableWrite, list[Row]]] = {}
        new_days: set[int] = set()
        for item in items:
            for tw, rows in zip(item.spec.writes, item.rows, strict=True):
                entry = tables.get(tw.table)
                if entry is None:
                    entry = tables[tw.table] = (tw, [])
                entry[1].extend(rows)
                if tw.day_of is not None:
                    day = tw.day_of(item.record)
                    if day not in self._days:
                        new_days.add(day)
        plan = list(tables.values())
        partition_work = self._partition_sql_args(new_days)

        async def work(conn: Any) -> None:
            async with conn.transaction():
                if partition_work is not None:
                    await conn.execute(*partition_work)
                for tw, rows in plan:
                    if tw.copy_first and not idempotent:
                        await conn.copy_records_to_table(tw.table, records=rows, columns=tw.columns)
                        continue
                    stage = f"_stage_{tw.table}"
                    await conn.execute(
                        f"CREATE TEMP TABLE IF NOT EXISTS {stage} "
                        f"(LIKE {tw.table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
                    )
                    await conn.copy_records_to_table(stage, records=rows, columns=tw.columns)
                    await conn.execute(tw.upsert_sql(stage))

        await self.db.run(work)
        self._days |= new_days
        for tw, rows in plan:
            written = self.stats.rows_written
            written[tw.table] = written.get(tw.table, 0) + len(rows)

    @staticmethod
    def _partition_sql_args(days: set[int]) -> tuple[str, datetime.date, datetime.date] | None:
        if not days:
            return None
        epoch = datetime.date(1970, 1, 1)
        first = epoch + datetime.timedelta(days=min(days))
        last = epoch + datetime.timedelta(days=max(days))
        return ("SELECT arbtree_ensure_tick_partitions($1, $2)", first, last)

    def _partition_work(self, days: set[int]) -> Any:
        args = self._partition_sql_args(days)

        async def work(conn: Any) -> None:
            if args is not None:
                await conn.execute(*args)

        return work


def spec_for_or_none(record: Any) -> RecordSpec | None:
    try:
        return spec_for(record)
    except TypeError:
        return None


def journal_payloads(envs: Sequence[Envelope]) -> tuple[list[bytes], list[DeadLetter]]:
    """The journal entries for ``envs``, and a dead letter for each record storage has no
    table for (journaling it could never be replayed)."""
    payloads: list[bytes] = []
    unknown: list[DeadLetter] = []
    for rid, record in envs:
        spec = spec_for_or_none(record)
        if spec is None:
            reason = f"storage has no table for {type(record).__name__}"
            unknown.append(DeadLetter(type(record).__name__, rid, record, reason))
            continue
        payloads.append(encode_entry(spec.kind, rid, record))
    return payloads, unknown
