"""Storage configuration: the Postgres connection, the DB writer's batching, its journal."""

from __future__ import annotations

from typing import Annotated

import msgspec

from protocols.config.limits import Bytes, Capacity, Count, Fraction, Seconds, SecondsOrOff


class StorageConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How arbtree persists records.

    ``dsn`` None means "start the embedded PostgreSQL (pgserver) under the run directory".
    Durations are seconds. Every database call is bounded by a timeout, so a hung server can
    slow the writer down but never hang shutdown.
    """

    dsn: str | None = None

    # -- connection pool
    pool_min_size: Annotated[int, msgspec.Meta(ge=0, le=100)] = 1
    pool_max_size: Annotated[int, msgspec.Meta(ge=1, le=100)] = 4
    connect_timeout_s: Seconds = 5.0
    acquire_timeout_s: Seconds = 5.0
    command_timeout_s: Seconds = 10.0  # one statement / one batch transaction
    idle_timeout_s: Seconds = 300.0  # asyncpg max_inactive_connection_lifetime
    max_queries: Count = 50_000  # recycle a connection after this many queries
    close_timeout_s: Seconds = 5.0  # graceful pool close; then pool.terminate()

    # -- batching
    mailbox_capacity: Capacity = 100_000
    batch_max_rows: Count = 1_000
    batch_max_age_s: Seconds = 0.05
    spill_watermark: Fraction = 0.8  # mailbox fill fraction at which batches go to the journal

    # -- journal (None = <run_dir>/journal)
    journal_dir: str | None = None
    journal_segment_max_bytes: Bytes = 64 * 1024 * 1024
    replay_batch_rows: Count = 5_000

    # -- two-tier retry while the database is unreachable
    retry_fast_interval_s: Seconds = 0.1
    retry_fast_window_s: SecondsOrOff = 3.0
    retry_slow_interval_s: Seconds = 2.0

    # -- shutdown
    flush_timeout_s: Seconds = 10.0

    # -- tick partitions: days created ahead of today
    partition_days_ahead: Annotated[int, msgspec.Meta(ge=0, le=366)] = 2

    def __post_init__(self) -> None:
        if self.pool_min_size < 0 or self.pool_max_size < 1:
            raise ValueError("storage pool sizes must be pool_min_size >= 0, pool_max_size >= 1")
        if self.pool_min_size > self.pool_max_size:
            raise ValueError("storage.pool_min_size must not exceed storage.pool_max_size")
        if self.batch_max_rows < 1 or self.replay_batch_rows < 1:
            raise ValueError("storage batch sizes must be >= 1")
        if not 0.0 < self.spill_watermark <= 1.0:
            raise ValueError("storage.spill_watermark must be in (0, 1]")
        for name in (
            "connect_timeout_s",
            "acquire_timeout_s",
            "command_timeout_s",
            "close_timeout_s",
            "batch_max_age_s",
            "retry_fast_interval_s",
            "retry_slow_interval_s",
            "flush_timeout_s",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"storage.{name} must be > 0")
