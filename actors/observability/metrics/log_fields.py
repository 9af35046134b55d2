"""The log pipeline's ``statistics()`` fields as metrics (:data:`LOG_FIELDS`), from
:class:`actors.observability.log_queue.LogQueueStatistics`."""

from __future__ import annotations

from actors.observability.metrics.statistics import StatField

LOG_FIELDS: tuple[StatField, ...] = (
    StatField("queued", "arbtree_log_records_queued", "Log records waiting for the writer thread."),
    StatField(
        "written",
        "arbtree_log_records_written_total",
        "Log records written by the writer thread.",
        "counter",
    ),
    StatField(
        "dropped",
        "arbtree_log_records_dropped_total",
        "Log records dropped because the writer thread's queue was full.",
        "counter",
    ),
)
