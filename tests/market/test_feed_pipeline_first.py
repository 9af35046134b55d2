"""After handing a read's batch to the quote cache, the feed lets the market path run
before its next socket read (``FeedConfig.pipeline_first``), and reads anyway when the
loop never goes idle."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

import actors.feeds.base as feed_base
from actors.feeds.base import Feed, FeedStats, VenueAdapter
from actors.shutdown_phases import new_shutdown
from protocols.config.market import FeedConfig, LivenessConfig
from protocols.messages import BookDelta, BookSide, InstrumentId, MarketDataBatch, Venue
from supervision import ChildSpec, Mailbox, SupervisorSpec
from supervision.tree import open_tree

INST = InstrumentId(venue=Venue.POLYMARKET, symbol="tok")
READS = 5
# read 1, its decision, read 2, ..., read READS, its decision, the read that waits
IN_TURN = ["read", *(x for i in range(1, READS + 1) for x in (f"decided {i}", "read"))]


class _Adapter(VenueAdapter):
    """Each frame is one level change of one book."""

    venue = Venue.POLYMARKET

    def subscribe(self) -> None:
        pass

    def handle(self, frame: bytes, recv_ns: int, now: float) -> int:
        self.session.updates.append(
            BookDelta(
                instrument=INST,
                side=BookSide.BID,
                price=int(frame),
                size=1,
                venue_ts_ms=1,
                recv_ns=recv_ns,
            )
        )
        return 1


class _WebSocket:
    """One frame per read, READS reads, then nothing more; every read is logged."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.reads = 0
        self.read_ns = 0  # when the last read returned (FeedWebSocket.read_ns)

    async def receive_messages(self) -> list[bytes]:
        self.log.append("read")
        await trio.lowlevel.checkpoint()  # a socket read is a checkpoint
        if self.reads == READS:
            await trio.sleep_forever()
        self.reads += 1
        self.read_ns = time.monotonic_ns()
        return [str(self.reads).encode()]

    def send_text_nowait(self, text: str | bytes) -> None:
        pass


async def _hop(src: Mailbox[Any], dst: Mailbox[Any]) -> None:
    while True:
        for item in await src.receive_batch():
            await dst.send(item)


async def _read_and_decide(
    monkeypatch: pytest.MonkeyPatch, first: bool, spin: trio.testing.MockClock | None = None
) -> tuple[list[str], FeedStats]:
    """The log of a feed's reads and of a three-hop market path's decisions (a stand-in for
    cache -> detector -> fund manager), and the feed's stats. ``spin``: a task that stays
    runnable (and advances this mock clock 1 ms a round) keeps the loop from going idle."""
    log: list[str] = []

    @asynccontextmanager
    async def open_ws(url: str, **kwargs: Any) -> AsyncIterator[_WebSocket]:
        yield _WebSocket(log)

    monkeypatch.setattr(feed_base, "open_feed_websocket", open_ws)
    cfg = FeedConfig(
        name="feed",
        venue=Venue.POLYMARKET,
        url="ws://127.0.0.1:9",
        instruments=["tok"],
        pipeline_first=first,
        liveness=LivenessConfig(check_interval_s=0.01),
    )
    boxes: list[Mailbox[Any]] = [Mailbox(f"h{i}", 64) for i in range(3)]
    stats = FeedStats()

    async def decide() -> None:
        while True:
            for item in await boxes[-1].receive_batch():
                assert isinstance(item, MarketDataBatch)
                update = item.updates[0]
                assert isinstance(update, BookDelta)
                log.append(f"decided {update.price}")

    async def spinner(clock: trio.testing.MockClock) -> None:
        while True:
            clock.jump(0.001)
            await trio.lowlevel.checkpoint()

    def start() -> Feed:
        return Feed(config=cfg, out=boxes[0], adapter=_Adapter, stats=stats)

    spec = SupervisorSpec(children=[ChildSpec(id="feed", start=start)])
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_hop, boxes[0], boxes[1])
            nursery.start_soon(_hop, boxes[1], boxes[2])
            nursery.start_soon(decide)
            if spin is not None:
                nursery.start_soon(spinner, spin)
            async with open_tree(spec, name="t", shutdown=new_shutdown()) as tree:
                while len(log) < 2 * READS + 1:
                    if spin is not None:
                        await trio.sleep(0.001)
                    else:
                        await trio.testing.wait_all_tasks_blocked()
                tree.request_shutdown("done")
            nursery.cancel_scope.cancel()
    return log, stats


async def test_feed_reads_again_only_after_the_market_path_decided(
    monkeypatch: pytest.MonkeyPatch, mock_clock: trio.testing.MockClock
) -> None:
    # On a clock that stands still, the liveness check cannot cut a wait: what holds the
    # next read back is the loop going idle alone, however loaded the machine is.
    log, stats = await _read_and_decide(monkeypatch, True)
    assert log == IN_TURN
    assert stats.idle_waits_cut == 0


async def test_without_pipeline_first_the_feed_reads_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The behaviour before (and with False): the next read is not held back, so reads run
    ahead of the decisions (this is what makes the test above able to fail)."""
    log, _ = await _read_and_decide(monkeypatch, False)
    assert sorted(log) == sorted(IN_TURN)
    assert log[:2] == ["read", "read"]


async def test_a_loop_that_never_goes_idle_does_not_hold_the_feed_back(
    monkeypatch: pytest.MonkeyPatch, mock_clock: trio.testing.MockClock
) -> None:
    """With a task that is always runnable the loop never goes idle: the liveness check
    cuts each wait once it is a check interval old, and the feed reads on."""
    log, stats = await _read_and_decide(monkeypatch, True, spin=mock_clock)
    assert log == IN_TURN  # the path still ran first: the wait lasted a check interval
    assert stats.idle_waits_cut == READS
