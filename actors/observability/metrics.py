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
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

import attrs
import msgspec
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from protocols.tree import LifecycleState, TreeSnapshot

__all__ = [
    "CONTENT_TYPE",
    "DB_WRITER_FIELDS",
    "INTERNAL_BUCKETS",
    "IO_BUCKETS",
    "TRADING_STATES",
    "VENUE_BUCKETS",
    "Metrics",
    "StatField",
    "StatisticsCollector",
    "TreeCollector",
    "tree_metrics",
]

log = logging.getLogger("arbtree.observability.metrics")

CONTENT_TYPE: str = CONTENT_TYPE_LATEST

# In-process latencies (a channel hop is ~1-10 us, the tick->decision budget is ~1 ms p99):
# 1 us ... 100 ms, roughly 1-2.5-5 per decade.
INTERNAL_BUCKETS: tuple[float, ...] = (
    1e-6, 2.5e-6, 5e-6,
    1e-5, 2.5e-5, 5e-5,
    1e-4, 2.5e-4, 5e-4,
    1e-3, 2.5e-3, 5e-3,
    1e-2, 2.5e-2, 5e-2,
    1e-1,
)  # fmt: skip

# Venue round trips and network lags: 1 ms ... 10 s.
VENUE_BUCKETS: tuple[float, ...] = (
    1e-3, 2.5e-3, 5e-3,
    1e-2, 2.5e-2, 5e-2,
    0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

# Local I/O (database batches, journal appends): 100 us ... 10 s.
IO_BUCKETS: tuple[float, ...] = (1e-4, 2.5e-4, 5e-4, *VENUE_BUCKETS)

TRADING_STATES: tuple[str, ...] = ("active", "reducing", "halted")


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
        self.opportunity_to_order = Histogram(
            "arbtree_opportunity_to_order_seconds",
            "From an opportunity's creation to its first order leaving for the venue.",
            buckets=INTERNAL_BUCKETS,
            registry=r,
        )
        self.order_round_trip = Histogram(
            "arbtree_order_round_trip_seconds",
            "From sending an order to the venue's acknowledgement or rejection.",
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


# ------------------------------------------------------------------------------------------
# statistics callbacks
# ------------------------------------------------------------------------------------------


@attrs.frozen
class StatField:
    """One field of a component's ``statistics()`` result, exported as one metric.

    ``key`` names the field (mapping key or attribute). Its value is a number, or a
    mapping ``{label_value: number}`` when ``label`` is set (e.g. rows written per table,
    ``label="table"``). Counters must be named ``..._total`` and must never decrease.
    """

    key: str
    name: str
    doc: str
    kind: Literal["gauge", "counter"] = "gauge"
    label: str | None = None
    value: Callable[[Any], float] | None = None  # converts a non-numeric value (e.g. a mode)

    def __attrs_post_init__(self) -> None:
        if self.kind == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"counter {self.name!r} must end in _total")
        if not self.name.startswith("arbtree_"):
            raise ValueError(f"metric {self.name!r} must start with arbtree_")


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


@attrs.define(eq=False)
class _Registration:
    source: str
    callback: Callable[[], object]
    fields: tuple[StatField, ...]
    labels: tuple[tuple[str, str], ...]


class StatisticsCollector(Collector):
    """Calls registered ``statistics()`` callbacks at scrape time."""

    def __init__(self) -> None:
        self._registrations: list[_Registration] = []
        self._shapes: dict[str, tuple[str, tuple[str, ...], str]] = {}
        self._errors: dict[str, int] = {}

    def describe(self) -> Iterable[Metric]:
        return ()

    def register(
        self,
        source: str,
        callback: Callable[[], object],
        fields: Sequence[StatField],
        *,
        labels: Mapping[str, str] | None = None,
    ) -> Callable[[], None]:
        const = tuple(sorted((labels or {}).items()))
        for field in fields:
            names = tuple(k for k, _ in const) + ((field.label,) if field.label else ())
            shape = (field.kind, names, field.doc)
            known = self._shapes.setdefault(field.name, shape)
            if known[:2] != shape[:2]:
                raise ValueError(
                    f"{source}: metric {field.name!r} already registered as {known[0]} with "
                    f"labels {known[1]}, not {field.kind} with {names}"
                )
        reg = _Registration(source, callback, tuple(fields), const)
        self._registrations.append(reg)

        def unregister() -> None:
            if reg in self._registrations:
                self._registrations.remove(reg)

        return unregister

    def collect(self) -> Iterator[Metric]:
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
        for reg in list(self._registrations):
            try:
                stats = reg.callback()
            except Exception:
                self._errors[reg.source] = self._errors.get(reg.source, 0) + 1
                log.exception("statistics callback of %s failed at scrape time", reg.source)
                continue
            values = _as_mapping(stats)
            const_names = [k for k, _ in reg.labels]
            const_values = [v for _, v in reg.labels]
            for field in reg.fields:
                if field.key not in values:
                    continue
                family = families.get(field.name)
                if family is None:
                    label_names = const_names + ([field.label] if field.label else [])
                    family = (
                        CounterMetricFamily(field.name, field.doc, labels=label_names)
                        if field.kind == "counter"
                        else GaugeMetricFamily(field.name, field.doc, labels=label_names)
                    )
                    families[field.name] = family
                value = values[field.key]
                convert = field.value or _number
                try:
                    if field.label is not None and isinstance(value, Mapping):
                        for label_value, number in value.items():
                            family.add_metric([*const_values, str(label_value)], convert(number))
                    elif field.label is None:
                        family.add_metric(const_values, convert(value))
                except (TypeError, ValueError):
                    self._errors[reg.source] = self._errors.get(reg.source, 0) + 1
                    log.warning("%s: statistics field %s is not a number", reg.source, field.key)
        yield from families.values()
        errors = CounterMetricFamily(
            "arbtree_statistics_errors_total",
            "Statistics callbacks that raised at scrape time, by source.",
            labels=["source"],
        )
        for source, count in sorted(self._errors.items()):
            errors.add_metric([source], count)
        yield errors


def _as_mapping(stats: object) -> Mapping[str, Any]:
    if isinstance(stats, Mapping):
        return stats
    if isinstance(stats, msgspec.Struct):
        return msgspec.structs.asdict(stats)
    if attrs.has(type(stats)):
        return attrs.asdict(stats, recurse=False)  # type: ignore[arg-type]
    return {k: v for k, v in vars(stats).items() if not k.startswith("_")}


def _number(value: object) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    raise TypeError(f"statistics value {value!r} is not a number")


# ------------------------------------------------------------------------------------------
# the supervision tree
# ------------------------------------------------------------------------------------------


class TreeCollector(Collector):
    """Exports a supervision-tree snapshot, taken at scrape time."""

    def __init__(self, source: Callable[[], TreeSnapshot | None]) -> None:
        self.source = source
        self._errors = 0

    def describe(self) -> Iterable[Metric]:
        return ()

    def collect(self) -> Iterator[Metric]:
        errors = CounterMetricFamily(
            "arbtree_tree_snapshot_errors_total", "Tree snapshots that failed at scrape time."
        )
        try:
            snap = self.source()
        except Exception:
            self._errors += 1
            log.exception("tree snapshot failed at scrape time")
            snap = None
        errors.add_metric([], self._errors)
        yield errors
        if snap is not None:
            yield from tree_metrics(snap)


def tree_metrics(snap: TreeSnapshot) -> Iterator[Metric]:
    """The metric families describing one snapshot (used by :class:`TreeCollector`)."""
    state = GaugeMetricFamily(
        "arbtree_actor_state",
        "Lifecycle state of each tree node: 1 for the current state, 0 for the others.",
        labels=["path", "state"],
    )
    restarts = CounterMetricFamily(
        "arbtree_actor_restarts_total", "Restarts of each tree node.", labels=["path"]
    )
    in_window = GaugeMetricFamily(
        "arbtree_actor_restarts_in_window",
        "Restarts counted in the supervisor's current intensity window.",
        labels=["path"],
    )
    uptime = GaugeMetricFamily(
        "arbtree_actor_uptime_seconds",
        "Time since the node's current incarnation started.",
        labels=["path"],
    )
    heartbeat = GaugeMetricFamily(
        "arbtree_actor_heartbeat_age_seconds",
        "Time since the node's last heartbeat.",
        labels=["path"],
    )
    degraded = GaugeMetricFamily(
        "arbtree_actor_degraded", "1 while the node reports itself degraded.", labels=["path"]
    )
    mb_labels = ["path", "mailbox", "policy"]
    depth = GaugeMetricFamily("arbtree_mailbox_depth", "Messages queued now.", labels=mb_labels)
    capacity = GaugeMetricFamily(
        "arbtree_mailbox_capacity", "Mailbox capacity (messages).", labels=mb_labels
    )
    peak = GaugeMetricFamily(
        "arbtree_mailbox_peak", "Highest depth seen since start.", labels=mb_labels
    )
    counters = {
        name: CounterMetricFamily(f"arbtree_mailbox_{name}_total", doc, labels=mb_labels)
        for name, doc in (
            ("sent", "Messages accepted into the mailbox."),
            ("received", "Messages taken out of the mailbox."),
            ("dropped", "Messages dropped by the overflow policy."),
            ("coalesced", "Messages replaced by a newer one with the same key."),
        )
    }
    for node in snap.nodes:
        for s in LifecycleState:
            state.add_metric([node.path, s.value], 1.0 if node.state is s else 0.0)
        restarts.add_metric([node.path], node.restarts_total)
        in_window.add_metric([node.path], node.restarts_in_window)
        if node.uptime_s is not None:
            uptime.add_metric([node.path], node.uptime_s)
        if node.heartbeat_age_s is not None:
            heartbeat.add_metric([node.path], node.heartbeat_age_s)
        degraded.add_metric([node.path], 1.0 if node.degraded_reason else 0.0)
        for mb in node.mailboxes:
            labels = [node.path, mb.name, mb.policy]
            depth.add_metric(labels, mb.depth)
            cap = float(mb.capacity)
            capacity.add_metric(labels, cap if math.isfinite(cap) else math.inf)
            peak.add_metric(labels, mb.peak)
            counters["sent"].add_metric(labels, mb.sent)
            counters["received"].add_metric(labels, mb.received)
            counters["dropped"].add_metric(labels, mb.dropped)
            counters["coalesced"].add_metric(labels, mb.coalesced)
    yield from (state, restarts, in_window, uptime, heartbeat, degraded, depth, capacity, peak)
    yield from counters.values()

    trading = GaugeMetricFamily(
        "arbtree_trading_state",
        "Trading state ladder: 1 for the current state (active, reducing, halted).",
        labels=["state"],
    )
    current = snap.extra.get("trading_state")
    if current is not None:
        current = current.lower()
        for name in (*TRADING_STATES, *([current] if current not in TRADING_STATES else [])):
            trading.add_metric([name], 1.0 if name == current else 0.0)
    yield trading
    shutdown = GaugeMetricFamily(
        "arbtree_shutdown_in_progress", "1 while an ordered shutdown is running."
    )
    shutdown.add_metric([], 1.0 if snap.shutdown_phase else 0.0)
    yield shutdown
