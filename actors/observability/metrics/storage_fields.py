"""The storage writer's ``statistics()`` fields as metrics (:data:`DB_WRITER_FIELDS`): a
table of :class:`~actors.observability.metrics.statistics.StatField`, kept apart from the
collector because it describes one component (``actors.storage.sink.StorageStats``).
"""

from __future__ import annotations

from actors.observability.metrics.statistics import StatField

# The storage writer's ``statistics()`` (``actors.storage.sink.StorageStats``) as metrics;
# keys a writer does not report are skipped.
DB_WRITER_FIELDS: tuple[StatField, ...] = (
    StatField(
        "rows_written",
        "arbtree_db_rows_written_total",
        "Rows committed to the database (direct and replayed), by table.",
        "counter",
        label="table",
    ),
    StatField(
        "records_durable",
        "arbtree_db_records_durable_total",
        "Records committed to Postgres or fsynced to the journal.",
        "counter",
    ),
    StatField("batches", "arbtree_db_batches_total", "Write batches committed.", "counter"),
    StatField(
        "batch_latency_p50_s",
        "arbtree_db_batch_latency_p50_seconds",
        "Median write-batch latency, as computed by the writer.",
    ),
    StatField(
        "batch_latency_p99_s",
        "arbtree_db_batch_latency_p99_seconds",
        "99th-percentile write-batch latency, as computed by the writer.",
    ),
    StatField(
        "backlog",
        "arbtree_db_backlog_records",
        "Records not yet in Postgres (mailbox + overflow + journal).",
    ),
    StatField("mailbox_depth", "arbtree_db_mailbox_records", "Records queued in the mailbox."),
    StatField("overflow", "arbtree_db_overflow_records", "Records in the overflow buffer."),
    StatField("journal_records", "arbtree_db_journal_records", "Records held in the journal."),
    StatField("journal_bytes", "arbtree_db_journal_bytes", "Size of the journal."),
    StatField("journal_segments", "arbtree_db_journal_segments", "Journal segment files."),
    StatField(
        "spilled_records",
        "arbtree_db_spilled_records_total",
        "Records spilled to the journal.",
        "counter",
    ),
    StatField(
        "replayed_records",
        "arbtree_db_replayed_records_total",
        "Journal records replayed into Postgres.",
        "counter",
    ),
    StatField(
        "dead_letters",
        "arbtree_db_dead_letters_total",
        "Records Postgres refused for good.",
        "counter",
    ),
    StatField(
        "transient_errors",
        "arbtree_db_transient_errors_total",
        "Transient database errors (retried or spilled).",
        "counter",
    ),
    StatField(
        "mode",
        "arbtree_db_spilling",
        "1 while the writer spills to the journal first (database down or behind).",
        value=lambda mode: 1.0 if mode == "spilling" else 0.0,
    ),
)
