"""The hot-path instruments: :class:`Metrics`, every typed counter, gauge and histogram on
one private ``CollectorRegistry``, plus the bucket layouts they use.

Actors record once per batch (``metrics.feed_messages.labels(venue).inc(n)``); bind the
label child once at start to skip the label lookup. The scrape-time sources (tree,
statistics callbacks) are registered here but live in :mod:`.tree` and :mod:`.statistics`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)

from actors.observability.metrics.statistics import StatField, StatisticsCollector
from actors.observability.metrics.tree import TreeCollector
from protocols.tree import TreeSnapshot

CONTENT_TYPE: str = CONTENT_TYPE_LATEST

# In-process latencies (a channel hop is ~1-10 us, the tick->decision budget is ~1 ms p99):
# 1 us ... 100 ms, roughly 1-2.5-5 per decade.
INTERNAL_BUCKETS: tuple[float, ...] = (
    1e-6,
    2.5e-6,
    5e-6,
    1e-5,
    2.5e-5,
    5e-5,
    1e-4,
    2.5e-4,
    5e-4,
    1e-3,
    2.5e-3,
    5e-3,
    1e-2,
    2.5e-2,
    5e-2,
    1e-1,
)

# Venue round trips and network lags: 1 ms ... 10 s.
VENUE_BUCKETS: tuple[float, ...] = (
    1e-3,
    2.5e-3,
    5e-3,
    1e-2,
    2.5e-2,
    5e-2,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

# Local I/O (database batches, journal appends): 100 us ... 10 s.
IO_BUCKETS: tuple[float, ...] = (1e-4, 2.5e-4, 5e-4, *VENUE_BUCKETS)


class Metrics:
    """All of arbtree's instruments on one private ``CollectorRegistry``.

    Create one per process (the run assembler does) and hand it to the actors. The
    attributes are plain prometheus-client metrics; label values must come from small,
    fixed sets (venue names, outcome and reason codes), never order or instrument ids.
    """

    def __init__(self, *, version: str = "unknown", run_id: str = "") -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry

        # -- feeds ---------------------------------------------------------------------------
        self.feed_messages = Counter(
            "arbtree_feed_messages_total",
            "Venue messages received by the feeds (count per batch).",
            ["venue"],
            registry=r,
        )
        self.feed_lag = Histogram(
            "arbtree_feed_lag_seconds",
            "Local receive time minus the venue's timestamp (one sample per batch).",
            ["venue"],
            buckets=VENUE_BUCKETS,
            registry=r,
        )
        self.feed_reconnects = Counter(
            "arbtree_feed_reconnects_total",
            "Feed reconnections, by reason (closed, timeout, error, stale, gap, ...).",
            ["venue", "reason"],
            registry=r,
        )
        self.feed_connected = Gauge(
            "arbtree_feed_connected",
            "1 while the venue feed is connected and subscribed, else 0.",
            ["venue"],
            registry=r,
        )
        # -- books ---------------------------------------------------------------------------
        self.book_age = Histogram(
            "arbtree_book_age_seconds",
            "Age of the book used for a decision, measured at decision time.",
            ["venue"],
            buckets=VENUE_BUCKETS,
            registry=r,
        )
        self.books_stale = Gauge(
            "arbtree_books_stale",
            "Books currently marked stale (age limit, sequence gap, hash mismatch, crossed).",
            ["venue"],
            registry=r,
        )
        # -- decision and execution ----------------------------------------------------------
        self.tick_to_opportunity = Histogram(
            "arbtree_tick_to_opportunity_seconds",
            "From the feed receiving a tick to the detector emitting an opportunity.",
            buckets=INTERNAL_BUCKETS,
            registry=r,
        )
        self.opportunities = Counter(
            "arbtree_opportunities_total",
            "Opportunities emitted by the detector, by strategy.",
            ["strategy"],
            registry=r,
        )
        self.tick_to_order = Histogram(
            "arbtree_tick_to_order_seconds",
            "From the feed receiving the tick that triggered an opportunity to an order's "
            "request written to the venue's socket.",
            buckets=INTERNAL_BUCKETS,
            registry=r,
        )
        self.opportunity_to_order = Histogram(
            "arbtree_opportunity_to_order_seconds",
            "From an opportunity's detection to its first leg's request written to the socket.",
            buckets=INTERNAL_BUCKETS,
            registry=r,
        )
        self.order_round_trip = Histogram(
            "arbtree_order_round_trip_seconds",
            "From an order request written to the socket to the venue's response headers.",
            ["venue"],
            buckets=VENUE_BUCKETS,
            registry=r,
        )
        self.orders = Counter(
            "arbtree_orders_total",
            "Orders by final outcome (accepted, filled, rejected, cancelled, ambiguous).",
            ["venue", "outcome"],
            registry=r,
        )
        self.order_rejects = Counter(
            "arbtree_order_rejects_total",
            "Orders rejected, by reason (venue or pre-trade risk reason code).",
            ["venue", "reason"],
            registry=r,
        )
        self.exposure_ratio = Gauge(
            "arbtree_exposure_ratio",
            "Exposure used divided by its limit (0..1).",
            ["venue"],
            registry=r,
        )
        # -- storage -------------------------------------------------------------------------
        self.db_write = Histogram(
            "arbtree_db_write_seconds",
            "Duration of one database write batch.",
            ["table"],
            buckets=IO_BUCKETS,
            registry=r,
        )
        # -- control plane -------------------------------------------------------------------
        self.control_requests = Counter(
            "arbtree_control_requests_total",
            "Control endpoint requests by route and status code.",
            ["route", "code"],
            registry=r,
        )
        self.control_auth_failures = Counter(
            "arbtree_control_auth_failures_total",
            "Control actions refused for a missing or wrong bearer token.",
            registry=r,
        )
        self.build_info = Info("arbtree_build", "Build and run identity.", registry=r)
        self.build_info.info({"version": version, "run_id": run_id})

        self.statistics = StatisticsCollector()
        r.register(self.statistics)
        self._tree_collector: TreeCollector | None = None

    # -- scrape-time sources ---------------------------------------------------------------

    def attach_tree(self, snapshot: Callable[[], TreeSnapshot | None]) -> TreeCollector:
        """Export the supervision tree, read through ``snapshot`` at every scrape.

        ``snapshot`` may return ``None`` while no tree is attached yet. Attaching again
        replaces the previous source.
        """
        if self._tree_collector is None:
            self._tree_collector = TreeCollector(snapshot)
            self.registry.register(self._tree_collector)
        else:
            self._tree_collector.source = snapshot
        return self._tree_collector

    def register_statistics(
        self,
        source: str,
        callback: Callable[[], object],
        fields: Sequence[StatField],
        *,
        labels: Mapping[str, str] | None = None,
    ) -> Callable[[], None]:
        """Read ``callback()`` at scrape time and export ``fields`` of its result.

        Returns a function that unregisters the callback (call it when the component
        stops, so a restarted incarnation can register its own).
        """
        return self.statistics.register(source, callback, fields, labels=labels)

    def exposition(self) -> bytes:
        """The Prometheus text exposition of everything above."""
        return generate_latest(self.registry)
