"""The metrics exposition: names, types, scrape-time sources, and promtool's lint."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from actors.observability.metrics import (
    DB_WRITER_FIELDS,
    INTERNAL_BUCKETS,
    VENUE_BUCKETS,
    Metrics,
    StatField,
)
from actors.storage.sink import StorageStats
from tests.observability.helpers import open_stack, sample_snapshot


def record_some(metrics: Metrics) -> None:
    metrics.feed_messages.labels("kalshi").inc(128)
    metrics.feed_lag.labels("kalshi").observe(0.012)
    metrics.feed_reconnects.labels("kalshi", "timeout").inc()
    metrics.feed_connected.labels("kalshi").set(1)
    metrics.book_age.labels("polymarket").observe(0.4)
    metrics.books_stale.labels("polymarket").set(2)
    metrics.tick_to_opportunity.observe(85e-6)
    metrics.opportunities.labels("complement").inc()
    metrics.opportunity_to_order.observe(140e-6)
    metrics.order_round_trip.labels("kalshi").observe(0.09)
    metrics.orders.labels("kalshi", "filled").inc()
    metrics.order_rejects.labels("kalshi", "insufficient_balance").inc()
    metrics.exposure_ratio.labels("kalshi").set(0.25)
    metrics.db_write.labels("fills").observe(0.003)


def storage_stats(**changes: object) -> StorageStats:
    base = StorageStats(
        mode="direct",
        rows_written={"fills": 10, "orders": 4},
        records_durable=14,
        batches=3,
        batch_latency_p50_s=0.002,
        batch_latency_p99_s=0.02,
        backlog=7,
        mailbox_depth=7,
        overflow=0,
        journal_records=0,
        journal_bytes=0,
        journal_segments=0,
        spilled_batches=0,
        spilled_records=0,
        replayed_records=0,
        dead_letters=0,
        dead_letters_to_file=0,
        transient_errors=0,
        last_error="",
    )
    return msgspec.structs.replace(base, **changes)


def families(text: str) -> dict[str, object]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_buckets_cover_microseconds_and_venue_round_trips() -> None:
    assert INTERNAL_BUCKETS[0] == 1e-6
    assert INTERNAL_BUCKETS[-1] == 0.1
    assert VENUE_BUCKETS[0] == 1e-3
    assert VENUE_BUCKETS[-1] == 10.0
    assert list(INTERNAL_BUCKETS) == sorted(INTERNAL_BUCKETS)


def test_hot_path_instruments_and_statistics_callbacks_are_exposed() -> None:
    metrics = Metrics(version="1.2.3", run_id="r1")
    record_some(metrics)
    stats = [storage_stats()]
    unregister = metrics.register_statistics("db_writer", lambda: stats[-1], DB_WRITER_FIELDS)
    metrics.register_statistics(
        "quote_cache",
        lambda: {"books": 12},
        [StatField("books", "arbtree_books_tracked", "Books held by the quote cache.")],
        labels={"venue": "kalshi"},
    )
    text = metrics.exposition().decode()
    fams = families(text)
    for name, kind in {
        "arbtree_feed_messages": "counter",
        "arbtree_feed_lag_seconds": "histogram",
        "arbtree_feed_reconnects": "counter",
        "arbtree_book_age_seconds": "histogram",
        "arbtree_tick_to_opportunity_seconds": "histogram",
        "arbtree_opportunity_to_order_seconds": "histogram",
        "arbtree_order_round_trip_seconds": "histogram",
        "arbtree_orders": "counter",
        "arbtree_order_rejects": "counter",
        "arbtree_exposure_ratio": "gauge",
        "arbtree_db_write_seconds": "histogram",
        "arbtree_db_rows_written": "counter",
        "arbtree_db_backlog_records": "gauge",
        "arbtree_db_batch_latency_p99_seconds": "gauge",
        "arbtree_db_journal_records": "gauge",
        "arbtree_db_spilling": "gauge",
        "arbtree_db_dead_letters": "counter",
        "arbtree_books_tracked": "gauge",
        "arbtree_build_info": "gauge",  # an Info in text format
    }.items():
        assert name in fams, name
        assert fams[name].type == kind, name  # type: ignore[attr-defined]

    reg = metrics.registry
    assert reg.get_sample_value("arbtree_feed_messages_total", {"venue": "kalshi"}) == 128
    assert reg.get_sample_value("arbtree_db_rows_written_total", {"table": "fills"}) == 10
    assert reg.get_sample_value("arbtree_db_backlog_records") == 7
    assert reg.get_sample_value("arbtree_db_spilling") == 0
    assert reg.get_sample_value("arbtree_books_tracked", {"venue": "kalshi"}) == 12
    # a 85 us tick->opportunity lands in the 100 us bucket, not the first one
    bucket = reg.get_sample_value("arbtree_tick_to_opportunity_seconds_bucket", {"le": "0.0001"})
    assert bucket == 1
    assert reg.get_sample_value("arbtree_tick_to_opportunity_seconds_bucket", {"le": "5e-05"}) == 0

    # read at scrape time: a change is visible at the next scrape without any recording
    stats.append(storage_stats(backlog=99, mode="spilling", journal_records=92))
    assert reg.get_sample_value("arbtree_db_backlog_records") == 99
    assert reg.get_sample_value("arbtree_db_spilling") == 1
    assert reg.get_sample_value("arbtree_db_journal_records") == 92
    unregister()
    assert reg.get_sample_value("arbtree_db_backlog_records") is None


def test_a_failing_statistics_callback_is_counted_not_fatal() -> None:
    metrics = Metrics()

    def broken() -> dict[str, int]:
        raise RuntimeError("writer gone")

    metrics.register_statistics("db_writer", broken, DB_WRITER_FIELDS)
    reg = metrics.registry
    assert reg.get_sample_value("arbtree_db_backlog_records") is None
    value = reg.get_sample_value("arbtree_statistics_errors_total", {"source": "db_writer"})
    assert value == 2  # one per collect(): the two get_sample_value scrapes


def test_conflicting_registrations_are_rejected() -> None:
    metrics = Metrics()
    metrics.register_statistics("a", dict, [StatField("x", "arbtree_x", "x")])
    with pytest.raises(ValueError, match="already registered"):
        metrics.register_statistics("b", dict, [StatField("x", "arbtree_x", "x", label="venue")])
    with pytest.raises(ValueError, match="_total"):
        StatField("x", "arbtree_x", "x", kind="counter")


def test_tree_collector_reads_the_snapshot_at_scrape_time() -> None:
    metrics = Metrics()
    snaps = [sample_snapshot()]
    metrics.attach_tree(lambda: snaps[-1])
    reg = metrics.registry
    p = "arbtree/feeds/kalshi"
    assert reg.get_sample_value("arbtree_actor_restarts_total", {"path": p}) == 3
    assert reg.get_sample_value("arbtree_actor_state", {"path": p, "state": "failed"}) == 1
    assert reg.get_sample_value("arbtree_actor_state", {"path": p, "state": "running"}) == 0
    mb = {"path": "arbtree/feeds/polymarket", "mailbox": "commands", "policy": "block"}
    assert reg.get_sample_value("arbtree_mailbox_dropped_total", mb) == 7
    assert reg.get_sample_value("arbtree_mailbox_peak", mb) == 16
    qc = {"path": "arbtree/market/quote_cache", "mailbox": "books", "policy": "block"}
    assert reg.get_sample_value("arbtree_mailbox_depth", qc) == 40
    assert reg.get_sample_value("arbtree_trading_state", {"state": "reducing"}) == 1
    assert reg.get_sample_value("arbtree_trading_state", {"state": "active"}) == 0
    assert reg.get_sample_value("arbtree_shutdown_in_progress") == 0


async def test_real_tree_metrics_over_http_pass_promtool(tmp_path: Path) -> None:
    async with open_stack(tmp_path, crasher=True) as stack, stack.client() as client:
        stack.tree.extra["trading_state"] = "active"
        record_some(stack.plane.metrics)
        stack.plane.metrics.register_statistics(
            "db_writer",
            storage_stats,
            DB_WRITER_FIELDS,
        )
        r = await client.get("/metrics")
        assert r.status_code == 200
        text = r.text
    fams = families(text)
    restarts = {s.labels["path"]: s.value for s in fams["arbtree_actor_restarts"].samples}  # type: ignore[attr-defined]
    assert restarts["arbtree/workers/crasher"] >= 1
    assert restarts["arbtree/workers/idle"] == 0
    states = {
        (s.labels["path"], s.labels["state"]): s.value
        for s in fams["arbtree_actor_state"].samples  # type: ignore[attr-defined]
    }
    assert states[("arbtree/workers/crasher", "backoff")] == 1
    assert states[("arbtree/control", "running")] == 1
    depth = fams["arbtree_mailbox_depth"].samples  # type: ignore[attr-defined]
    assert [(s.labels["path"], s.labels["mailbox"]) for s in depth] == [
        ("arbtree/workers/idle", "inbox")
    ]
    # every metric name carries the prefix; counters end in _total
    for fam in fams.values():
        assert fam.name.startswith("arbtree_"), fam.name  # type: ignore[attr-defined]
    assert "_total" not in "".join(
        n
        for n, f in fams.items()
        if f.type != "counter"  # type: ignore[attr-defined]
    )
    promtool_check(text)


def promtool_check(text: str) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (apt-get install -y prometheus provides it)")
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
