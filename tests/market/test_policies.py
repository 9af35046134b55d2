"""Reconnect backoff + circuit breaker, liveness, and the cache's staleness sweep."""

from __future__ import annotations

import logging
import random
from typing import Any

import trio
import trio.testing

from actors.feeds.liveness import Liveness
from actors.feeds.messages import MarkStale
from actors.feeds.reconnect import BreakerState, ReconnectPolicy
from actors.quote_cache import QuoteCache, QuoteReader, inbox_mailbox, publish_mailbox
from actors.shutdown_phases import new_shutdown
from protocols.config.market import (
    CircuitBreakerConfig,
    LivenessConfig,
    QuoteCacheConfig,
    ReconnectConfig,
)
from protocols.messages import (
    BookDelta,
    BookSide,
    BookSnapshot,
    InstrumentId,
    Level,
    MarketDataBatch,
    Venue,
)
from supervision import (
    ActorContext,
    ChildSpec,
    Mailbox,
    OverflowPolicy,
    ShutdownCoordinator,
    SupervisorSpec,
    serve_inbox,
)
from supervision.actor import NodeStatus
from supervision.tree import open_tree

ONE = 1_000_000


def _policy(threshold: int = 3) -> ReconnectPolicy:
    return ReconnectPolicy(
        ReconnectConfig(min_s=0.1, max_s=2.0, jitter=0.5, reset_after_s=5.0),
        CircuitBreakerConfig(failure_threshold=threshold, open_s=10.0, max_open_s=25.0),
        random.Random(1),
    )


def test_backoff_first_retry_fast_then_exponential_and_capped() -> None:
    p = _policy(threshold=100)
    delays = []
    for i in range(8):
        p.on_connected(float(i))
        p.on_data()
        delays.append(p.next_delay(float(i) + 0.5, had_data=True))  # up 0.5 s: no reset
    assert 0.1 <= delays[0] <= 0.15  # first retry within ~250 ms
    for n, d in enumerate(delays):
        base = min(2.0, 0.1 * 2**n)
        assert base <= d <= base * 1.5
    assert max(delays) <= 3.0


def test_backoff_resets_after_a_healthy_connection() -> None:
    p = _policy(threshold=100)
    for _ in range(4):
        p.on_connected(0.0)
        p.next_delay(0.1, had_data=True)
    assert p.attempt == 4
    p.on_connected(100.0)
    p.on_data()
    assert p.next_delay(106.0, had_data=True) < 0.16
    assert p.attempt == 1


def test_breaker_opens_after_consecutive_failures_and_doubles() -> None:
    p = _policy(threshold=3)
    assert p.next_delay(0.0, had_data=False) < 1
    assert p.next_delay(1.0, had_data=False) < 1
    assert p.next_delay(2.0, had_data=False) == 10.0  # third failure opens it
    assert p.state is BreakerState.OPEN
    assert p.breaker_trips == 1
    p.on_connected(12.0)
    assert p.state.value == "half_open"
    assert p.next_delay(12.5, had_data=False) == 20.0  # failed trial: re-open, doubled
    p.on_connected(33.0)
    assert p.next_delay(33.5, had_data=False) == 25.0  # capped at max_open_s
    p.on_connected(60.0)
    p.on_data()  # a trial with data closes it
    assert p.state.value == "closed"
    assert p.opens == 0
    assert p.next_delay(61.0, had_data=True) < 3.0


def test_liveness_first_book_then_no_data_then_reconnect() -> None:
    cfg = LivenessConfig(
        first_book_s=2.0, no_data_s=5.0, resubscribes_before_reconnect=1, connection_silence_s=100.0
    )
    lv = Liveness(cfg)
    lv.subscribed(["a", "b"], 0.0)
    lv.got_book("a", 0.5)
    lv.last_frame = 2.5
    v = lv.check(2.5)
    assert v.resubscribe == ("b",)
    assert not v.reconnect
    lv.got_book("b", 3.0)
    lv.seen("a", 4.0)
    lv.last_frame = 9.5
    assert lv.check(9.5).resubscribe == ("a", "b")  # silent for > 5 s
    lv.seen("b", 10.0)  # b came back after its resubscribe; a did not
    lv.last_frame = 15.0
    v = lv.check(15.0)
    assert v.reconnect.startswith("a: no data")
    assert "1 resubscribe" in v.reconnect


def test_liveness_connection_silence() -> None:
    lv = Liveness(LivenessConfig(connection_silence_s=3.0))
    lv.subscribed(["a"], 0.0)
    assert lv.check(2.0).reconnect == ""
    assert lv.check(3.5).reconnect == "no frame for 3s"


INST = InstrumentId(venue=Venue.POLYMARKET, symbol="tok")


def _snap(bid: int, ask: int) -> BookSnapshot:
    return BookSnapshot(
        instrument=INST, bids=(Level(bid, ONE),), asks=(Level(ask, ONE),), venue_ts_ms=1, recv_ns=1
    )


async def test_cache_publishes_after_apply_and_sweeps_stale(autojump_clock: trio.abc.Clock) -> None:
    qc = QuoteCacheConfig(staleness_limit_s=5.0, sweep_interval_s=1.0, depth_levels=3)
    inbox = inbox_mailbox(qc)
    publish = publish_mailbox(qc)
    reader = QuoteReader()
    spec = SupervisorSpec(
        children=[
            ChildSpec(
                id="qc",
                start=lambda: QuoteCache(config=qc, inbox=inbox, publish=publish, reader=reader),
                mailboxes=[inbox],
            )
        ]
    )
    with trio.fail_after(60):
        async with open_tree(spec, name="t", shutdown=new_shutdown()) as tree:
            delta = BookDelta(
                instrument=INST,
                side=BookSide.BID,
                price=410_000,
                size=2 * ONE,
                venue_ts_ms=2,
                recv_ns=2,
            )
            await inbox.send(
                MarketDataBatch(
                    venue=Venue.POLYMARKET, updates=(_snap(400_000, 500_000), delta), recv_ns=2
                )
            )
            top = await publish.receive()
            assert (top.bid, top.bid_size, top.ask, top.stale) == (410_000, 2 * ONE, 500_000, False)
            assert len(publish) == 0  # one publication per changed instrument per batch
            await trio.sleep(4.5)
            assert len(publish) == 0  # not stale yet
            top = await publish.receive()  # swept at 6 s
            assert top.stale
            assert top.stale_reason == "no update for 5s"
            assert trio.current_time() >= 5.0
            # a feed-side stale mark is published with its reason; a snapshot clears it
            await inbox.send(
                MarketDataBatch(
                    venue=Venue.POLYMARKET, updates=(_snap(400_000, 500_000),), recv_ns=3
                )
            )
            assert not (await publish.receive()).stale
            await inbox.send(
                MarkStale(venue=Venue.POLYMARKET, instruments=(), reason="feed closed", at_ns=4)
            )
            top = await publish.receive()
            assert top.stale_reason == "feed closed"
            tree.request_shutdown("done")


async def test_a_batch_and_the_stale_mark_its_checks_raised_are_applied_together() -> None:
    """The feed sends a batch's data and the stale marks its checks raised as one message:
    with direct dispatch the cache applies both in one delivery, so what it publishes for
    a book the checks found bad is stale, never fresh first."""
    qc = QuoteCacheConfig(depth_levels=3)
    inbox = inbox_mailbox(qc)
    published: list[Any] = []
    publish: Mailbox[Any] = Mailbox("detector", 64, OverflowPolicy.DROP_OLDEST)
    cache = QuoteCache(config=qc, inbox=inbox, publish=publish, reader=QuoteReader())
    ctx = ActorContext(
        path="qc",
        log=logging.LoggerAdapter(logging.getLogger("qc")),
        mailboxes={"inbox": inbox},
        shutdown=ShutdownCoordinator(()),
        node=NodeStatus(),
    )

    async def detector(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await serve_inbox(publish, published.append)

    async with trio.open_nursery() as nursery:
        await nursery.start(detector)
        await nursery.start(cache.run, ctx)
        await trio.testing.wait_all_tasks_blocked()
        crossed = MarketDataBatch(
            venue=Venue.POLYMARKET, updates=(_snap(520_000, 500_000),), recv_ns=5
        )
        mark = MarkStale(venue=Venue.POLYMARKET, instruments=(INST,), reason="crossed", at_ns=6)
        inbox.send_nowait((crossed, mark))  # as the feed sends them: one message
        assert inbox.statistics().direct == 1  # applied in this step
        assert [(t.stale, t.stale_reason) for t in published] == [(True, "crossed")]
        nursery.cancel_scope.cancel()
