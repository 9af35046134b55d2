"""The supervision tree as metrics: :class:`TreeCollector` reads a ``TreeSnapshot`` at
scrape time (restarts, lifecycle states, mailbox counters, heartbeat ages, trading
state); :func:`tree_metrics` turns one snapshot into metric families.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from protocols.tree import LifecycleState, TreeSnapshot

log = logging.getLogger("arbtree.observability.metrics")


TRADING_STATES: tuple[str, ...] = ("active", "reducing", "halted")


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
