"""``arbtree bench storage``: the DB writer against raw asyncpg COPY, in the same run.

* throughput: N tick rows through the actor (producer ``sink.put`` -> mailbox -> batches ->
  COPY) versus raw ``copy_records_to_table`` of the same pre-built rows in the same batch
  size, into the same partitioned, indexed ``ticks`` table. Reports rows/s and the ratio.
* latency: ticks offered at a steady rate (default 1k and 10k rows/s); each record's time
  from ``put`` to its batch's commit, p50/p99.

DSN: ``--db``, else ARBTREE_TEST_DSN / ARBTREE_DB_DSN, else an embedded pgserver in a
temporary directory. Runs in a fresh schema that is dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import msgspec
import trio
import trio.lowlevel

from actors.shutdown_phases import new_shutdown
from actors.storage.actor import DbWriter, RidFactory
from actors.storage.database import open_database
from actors.storage.sink import StorageSink
from actors.storage.tables import SPEC_BY_TYPE
from protocols.config.storage import StorageConfig
from protocols.messages import InstrumentId, Outcome, TickRecord, Venue
from supervision import Mailbox
from supervision.actor import ActorContext, NodeStatus


def with_schema(dsn: str, schema: str) -> str:
    parts = urlsplit(dsn)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema}"))
    return parts._replace(query=urlencode(query, quote_via=quote)).geturl()


def _ticks(n: int, start: int = 0) -> list[TickRecord]:
    now = int(time.time() * 1000)
    instruments = [
        InstrumentId(venue=Venue.KALSHI, symbol=f"KX-{k}", outcome=Outcome.YES) for k in range(50)
    ]
    return [
        TickRecord(
            instrument=instruments[i % 50],
            bid=400_000,
            bid_size=1_000_000,
            ask=410_000,
            ask_size=2_000_000,
            venue_ts_ms=now,
            recv_ns=start + i,
            wall_ms=now,
        )
        for i in range(n)
    ]


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class _Harness:
    def __init__(self, db: Any, cfg: StorageConfig, journal: Path) -> None:
        self.sink = StorageSink(Mailbox("db_writer", capacity=cfg.mailbox_capacity))
        self.latencies: list[float] = []
        self.measure = False
        self.actor = DbWriter(
            db=db, sink=self.sink, config=cfg, journal_dir=journal, on_durable=self._durable
        )
        self.ctx = ActorContext(
            path="bench/db_writer",
            log=__import__("logging").LoggerAdapter(__import__("logging").getLogger("bench")),
            mailboxes={"db_writer": self.sink.mailbox},
            shutdown=new_shutdown(),
            node=NodeStatus(),
        )

    def _durable(self, envs: Any, via: str) -> None:
        if self.measure:
            now = time.perf_counter_ns()
            self.latencies.extend((now - rec.recv_ns) / 1e9 for _, rec in envs)


class StorageFigures(msgspec.Struct, frozen=True):
    """Rows/s of raw asyncpg COPY and of the DbWriter actor on the same rows, and per
    offered rate the put -> commit latency (p50, p99), seconds."""

    raw_rows_per_s: float
    actor_rows_per_s: float
    latency_s: dict[int, tuple[float, float]]


async def measure(dsn: str | None, rows: int, rates: list[int], seconds: float) -> StorageFigures:
    """The whole benchmark in a fresh schema that is dropped afterwards (printed as it
    goes, and returned)."""
    cfg = StorageConfig(mailbox_capacity=max(rows, 100_000), spill_watermark=1.0)
    tmp = Path(tempfile.mkdtemp(prefix="arbtree-bench-storage-"))
    async with open_database(dsn, tmp, cfg, migrate=False) as admin:
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        await admin.run(lambda c: c.execute(f'CREATE SCHEMA "{schema}"'))
        try:
            async with open_database(with_schema(admin.dsn, schema), tmp, cfg) as db:
                return await _run_all(db, cfg, tmp, rows, rates, seconds)
        finally:
            await admin.run(lambda c: c.execute(f'DROP SCHEMA "{schema}" CASCADE'))


async def _run_all(
    db: Any, cfg: StorageConfig, tmp: Path, rows: int, rates: list[int], seconds: float
) -> StorageFigures:
    spec = SPEC_BY_TYPE[TickRecord].writes[0]
    print(f"database: {'embedded pgserver' if db.embedded else 'external'}; rows={rows}")
    records = _ticks(rows)
    rid = RidFactory()
    prebuilt = [spec.rows(rid(), r)[0] for r in records]
    h = _Harness(db, cfg, tmp / "journal")

    async def raw_copy() -> float:
        step = cfg.batch_max_rows
        t0 = time.perf_counter()
        for i in range(0, len(prebuilt), step):
            chunk = prebuilt[i : i + step]

            async def work(c: Any, chunk: list[Any] = chunk) -> None:
                async with c.transaction():
                    await c.copy_records_to_table("ticks", records=chunk, columns=spec.columns)

            await db.run(work)
        return time.perf_counter() - t0

    async with trio.open_nursery() as nursery:
        await nursery.start(h.actor.run, h.ctx)
        # warm up both paths, then measure raw and actor alternately (2 rounds each)
        for r in _ticks(2_000, 10**12):
            h.sink.put(r)
        await h.sink.flush()
        raw_times: list[float] = []
        actor_times: list[float] = []
        for _ in range(2):
            await db.run(lambda c: c.execute("TRUNCATE ticks"))
            raw_times.append(await raw_copy())
            await db.run(lambda c: c.execute("TRUNCATE ticks"))
            t0 = time.perf_counter()
            put = h.sink.put
            for k, r in enumerate(records):
                put(r)
                if k % 5_000 == 4_999:
                    await trio.lowlevel.checkpoint()
            await h.sink.flush()
            actor_times.append(time.perf_counter() - t0)
        raw_rate = rows / min(raw_times)
        actor_rate = rows / min(actor_times)
        print(f"raw asyncpg COPY   : {raw_rate:12,.0f} rows/s (batches of {cfg.batch_max_rows})")
        print(f"DbWriter actor     : {actor_rate:12,.0f} rows/s")
        print(f"ratio actor / raw  : {actor_rate / raw_rate:12.2f}  (goal >= 0.5)")
        latency: dict[int, tuple[float, float]] = {}

        for rate in rates:
            await db.run(lambda c: c.execute("TRUNCATE ticks"))
            h.latencies.clear()
            h.measure = True
            tick_s = 0.005
            per_tick = max(1, int(rate * tick_s))
            sent = 0
            start = time.perf_counter()
            next_at = start
            base = _ticks(per_tick)
            while time.perf_counter() - start < seconds:
                now_ns = time.perf_counter_ns()
                for r in base:
                    h.sink.put(
                        TickRecord(
                            instrument=r.instrument,
                            bid=r.bid,
                            bid_size=r.bid_size,
                            ask=r.ask,
                            ask_size=r.ask_size,
                            venue_ts_ms=r.venue_ts_ms,
                            recv_ns=now_ns,
                            wall_ms=r.wall_ms,
                        )
                    )
                sent += per_tick
                next_at += tick_s
                await trio.sleep(max(0.0, next_at - time.perf_counter()))
            await h.sink.flush()
            h.measure = False
            lat = h.latencies
            latency[rate] = (_pct(lat, 0.5), _pct(lat, 0.99))
            achieved = sent / (time.perf_counter() - start)
            print(
                f"latency @ {rate:>6,} rows/s (achieved {achieved:,.0f}): "
                f"p50 {_pct(lat, 0.5) * 1e3:6.1f} ms  p99 {_pct(lat, 0.99) * 1e3:6.1f} ms  "
                f"mean {statistics.fmean(lat) * 1e3 if lat else float('nan'):6.1f} ms  "
                f"(batch_max_age {cfg.batch_max_age_s * 1e3:.0f} ms)"
            )
        stats = h.sink.statistics()
        print(
            f"writer: batches={stats.batches} batch p50={stats.batch_latency_p50_s * 1e3:.1f} ms "
            f"p99={stats.batch_latency_p99_s * 1e3:.1f} ms spills={stats.spilled_batches}"
        )
        nursery.cancel_scope.cancel()
    return StorageFigures(raw_rate, actor_rate, latency)


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="arbtree bench storage", description=__doc__)
    parser.add_argument("--db", default=None, help="postgresql:// DSN (default: env or embedded)")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rates", default="1000,10000", help="comma-separated rows/s")
    parser.add_argument("--seconds", type=float, default=3.0, help="per latency rate")
    args = parser.parse_args(argv)
    dsn = args.db or os.environ.get("ARBTREE_TEST_DSN") or os.environ.get("ARBTREE_DB_DSN")
    rates = [int(x) for x in args.rates.split(",") if x]
    trio.run(measure, dsn, args.rows, rates, args.seconds)
    return 0
