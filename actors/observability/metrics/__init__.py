"""Prometheus metrics for arbtree, on a private registry.

Three sources feed one exposition:

* **Hot-path instruments** — typed attributes of :class:`Metrics`. Actors record once per
  batch (``metrics.feed_messages.labels(venue).inc(n)``); bind the label child once at
  start (``self._msgs = metrics.feed_messages.labels("kalshi")``) to skip the label lookup.
* **The supervision tree** — :class:`TreeCollector` reads a ``TreeSnapshot`` at scrape
  time: restarts, lifecycle states, mailbox counters, heartbeat ages, trading state.
  Nothing about the tree is counted on the hot path.
* **Statistics callbacks** — a component registers its ``statistics()`` with
  :meth:`Metrics.register_statistics`; the callback is called at scrape time and its fields
  are exported as gauges or counters.

Naming follows the Prometheus conventions: ``arbtree_`` prefix, base units (seconds,
ratio 0..1), ``_total`` on counters, no per-order or per-instrument labels.

The modules: :mod:`.instruments` (:class:`Metrics`, buckets), :mod:`.statistics`
(:class:`StatField`, :class:`StatisticsCollector`), :mod:`.storage_fields`
(``DB_WRITER_FIELDS``), :mod:`.log_fields` (``LOG_FIELDS``), :mod:`.tree`
(:class:`TreeCollector`, :func:`tree_metrics`).
Every name below is re-exported here.
"""

from actors.observability.metrics.instruments import (
    CONTENT_TYPE,
    INTERNAL_BUCKETS,
    IO_BUCKETS,
    VENUE_BUCKETS,
    Metrics,
)
from actors.observability.metrics.log_fields import LOG_FIELDS
from actors.observability.metrics.statistics import StatField, StatisticsCollector
from actors.observability.metrics.storage_fields import DB_WRITER_FIELDS
from actors.observability.metrics.tree import TRADING_STATES, TreeCollector, tree_metrics

__all__ = [
    "CONTENT_TYPE",
    "DB_WRITER_FIELDS",
    "INTERNAL_BUCKETS",
    "IO_BUCKETS",
    "LOG_FIELDS",
    "TRADING_STATES",
    "VENUE_BUCKETS",
    "Metrics",
    "StatField",
    "StatisticsCollector",
    "TreeCollector",
    "tree_metrics",
]
