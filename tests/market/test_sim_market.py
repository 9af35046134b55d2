"""The market path against the simulated venue over real loopback websockets.

Every test runs the real actors in a real supervision tree, guarded by ``trio.fail_after``;
waits are on conditions (polled), never fixed sleeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import attrs
import pytest
import trio

from actors.detector.actor import outbox_mailbox
from actors.market_tree import MarketHandles, build_market_path
from actors.shutdown_phases import new_shutdown
from actors.sim.config import FaultKind, SimConfig
from actors.sim.config import Venue as SimVenueKind
from actors.sim.venue import SimVenue, open_sim_venue
from protocols.config.market import CircuitBreakerConfig, LivenessConfig, MarketConfig
from protocols.messages import Opportunity, Outcome, Venue
from supervision import ChildSpec, SupervisorSpec
from supervision.tree import open_tree
from tests.market.helpers import sim_market_config

ONE = 1_000_000
pytestmark = pytest.mark.slow


async def wait_until(
    cond: Callable[[], bool], what: str | Callable[[], str], limit_s: float = 10.0
) -> None:
    """Poll a condition over state owned by other actors (no event to wait on there)."""
    with trio.move_on_after(limit_s):
        while not cond():  # noqa: ASYNC110
            await trio.sleep(0.02)
        return
    raise AssertionError(f"timed out waiting for: {what() if callable(what) else what}")


@attrs.define
class Run:
    sim: SimVenue
    cfg: MarketConfig
    h: MarketHandles
    opps: list[Opportunity]


@asynccontextmanager
async def market_run(
    sim_cfg: SimConfig, *, with_detector: bool = True, **cfg_kw: Any
) -> AsyncIterator[Run]:
    async with open_sim_venue(sim_cfg) as sim:
        cfg = sim_market_config(sim, **cfg_kw)
        out = outbox_mailbox(cfg.detector)
        feeds, market, h = build_market_path(cfg, to_fund_manager=out, seed=7)
        if not with_detector:
            market = attrs.evolve(market, children=[market.children[0]])
        root = SupervisorSpec(
            children=[ChildSpec(id="market", start=market), ChildSpec(id="feeds", start=feeds)]
        )
        opps: list[Opportunity] = []
        async with (
            open_tree(root, name="t", shutdown=new_shutdown()) as tree,
            trio.open_nursery() as nursery,
        ):

            async def collect() -> None:
                while True:
                    opps.extend(await out.receive_batch(64))

            nursery.start_soon(collect)
            yield Run(sim, cfg, h, opps)
            tree.request_shutdown("test done")
            nursery.cancel_scope.cancel()


def books_match(run: Run) -> bool:
    """Every book in the cache equals the sim's own book and none is stale."""
    reader = run.h.reader
    for m in run.sim.markets:
        for token in (m.yes_token, m.no_token):
            book = reader.store.books.get((Venue.POLYMARKET, token)) if reader.store else None
            if book is None or book.stale:
                return False
            truth = run.sim.poly_book(token)
            if list(book.bid_levels()) != list(reversed(truth.bids)):
                return False
            if list(book.ask_levels()) != list(truth.asks):
                return False
        kbook = reader.store.books.get((Venue.KALSHI, m.ticker)) if reader.store else None
        if kbook is None or kbook.stale:
            return False
        yes_bids, no_bids = run.sim.kalshi_book(m.ticker)
        if list(kbook.bid_levels()) != list(reversed(yes_bids)):
            return False
        if list(kbook.ask_levels()) != [(ONE - p, s) for p, s in reversed(no_bids)]:
            return False
    return True


def _kind(opp: Opportunity) -> str:
    if opp.strategy == "complement":
        return "poly_complement"
    a = opp.legs[0].instrument
    if a.venue is Venue.POLYMARKET and a.outcome is Outcome.YES:
        return "cross_poly_yes_kalshi_no"
    return "cross_kalshi_yes_poly_no"


def _market_of(opp: Opportunity, run: Run) -> int:
    symbols = {leg.instrument.symbol for leg in opp.legs}
    for m in run.sim.markets:
        if symbols & {m.yes_token, m.no_token, m.ticker}:
            return m.index
    raise AssertionError(f"unknown instruments {symbols}")


async def test_windows_captured_without_false_opportunities() -> None:
    sim_cfg = SimConfig(seed=11, markets=4, rate=300.0, window_rate=3.0, window_duration=0.3)
    with trio.fail_after(40):
        async with market_run(sim_cfg) as run:
            await wait_until(
                lambda: books_match(run) or run.h.reader.statistics() is not None, "cache up"
            )
            await wait_until(
                lambda: len([w for w in run.sim.windows if w.start > 0.5]) >= 12,
                "12 windows",
                limit_s=30,
            )
            last_end = max(w.end for w in run.sim.windows)
            await wait_until(lambda: run.sim.scenario.now > last_end + 0.2, "last window over")
            windows = [w for w in run.sim.windows if w.start > 0.5]
            opps = list(run.opps)
    assert opps
    # Every opportunity lies inside a window whose dislocation makes that pair profitable.
    # The end is inclusive: the closing step's frames travel on two connections, so quotes
    # stamped at the closing millisecond on one venue can still meet the other venue's
    # not-yet-closed book; a quote newer than the close never may.
    for o in opps:
        kind, market = _kind(o), _market_of(o, run)
        assert any(
            w.market == market
            and (w.kind == kind or kind in w.implied)
            and w.start_ms <= o.venue_ts_ms <= w.end_ms
            for w in run.sim.windows
        ), (
            f"false opportunity {o.opportunity_id} ({kind}, market {market}, "
            f"ts {o.venue_ts_ms}, edge {o.expected_edge}, legs {o.legs}); windows: "
            f"{[(w.kind, w.start_ms, w.end_ms) for w in run.sim.windows if w.market == market]}"
        )
    # every window that lasted >= 50 ms produced an opportunity for its own pair
    for w in windows:
        if w.end - w.start < 0.05 or w.edge_net <= 0:
            continue
        assert any(
            _kind(o) == w.kind
            and _market_of(o, run) == w.market
            and w.start_ms <= o.venue_ts_ms < w.end_ms
            for o in opps
        ), f"missed window {w.id} ({w.kind}, market {w.market}, {w.end - w.start:.3f}s)"


FAST_LIVENESS = LivenessConfig(
    first_book_s=0.5,
    no_data_s=1.0,
    resubscribes_before_reconnect=1,
    connection_silence_s=5.0,
    check_interval_s=0.1,
)


@pytest.mark.parametrize(
    ("fault", "fields", "check"),
    [
        (
            FaultKind.WS_CLOSE,
            {},
            lambda h: (
                sum(h.feed_stats["kalshi"].reconnects.values()) >= 1
                and sum(h.feed_stats["polymarket"].reconnects.values()) >= 1
            ),
        ),
        (
            FaultKind.WS_STALL,
            {"duration": 3.0},
            lambda h: (
                h.feed_stats["polymarket"].reconnects.get("no_data", 0) >= 1
                and h.feed_stats["kalshi"].reconnects.get("no_data", 0) >= 1
            ),
        ),
        (
            FaultKind.WS_MALFORMED,
            {"count": 8},
            # 2 of the sim's 4 Polymarket junk shapes are unknown event types: skipped, not errors
            lambda h: (
                h.feed_stats["polymarket"].decode_errors >= 4
                and h.feed_stats["kalshi"].decode_errors >= 8
            ),
        ),
        (
            FaultKind.KALSHI_SEQ_GAP,
            {"count": 3, "venue": SimVenueKind.KALSHI},
            lambda h: h.feed_stats["kalshi"].resyncs.get("seq_gap", 0) >= 1,
        ),
        # The feed checks the hash of each token's final state per batch (intermediate
        # entries describe states it never trades on), at most every
        # hash_check_interval_s (0.1 s) per token, so corrupt hashes for long enough that
        # two checks in a row of one token meet one.
        (
            FaultKind.POLY_BAD_HASH,
            {"count": 400, "venue": SimVenueKind.POLYMARKET},
            lambda h: (
                h.feed_stats["polymarket"].hash_mismatches >= 2
                and sum(v for k, v in h.feed_stats["polymarket"].resyncs.items() if "hash" in k)
                >= 1
            ),
        ),
    ],
    ids=["abrupt_close", "silent_stall", "malformed_burst", "seq_gap", "wrong_hash"],
)
async def test_feed_survives_fault_and_resyncs(
    fault: FaultKind, fields: dict[str, Any], check: Callable[[MarketHandles], bool]
) -> None:
    sim_cfg = SimConfig(seed=5, markets=3, rate=150.0, window_rate=0.0001)
    with trio.fail_after(30):
        async with market_run(
            sim_cfg,
            liveness=FAST_LIVENESS,
            feed={"breaker": CircuitBreakerConfig(failure_threshold=3, open_s=0.3, max_open_s=1.0)},
        ) as run:
            await wait_until(lambda: books_match(run), "books in sync before the fault")
            before = {k: attrs.evolve(v) for k, v in run.h.feed_stats.items()}
            run.sim.faults.inject(fault, **fields)
            await wait_until(
                lambda: check(run.h),
                lambda: f"{fault.value} detected and handled ({run.h.feed_stats})",
            )
            await wait_until(lambda: books_match(run), "books in sync after the fault", 15)
            if fault in (FaultKind.WS_MALFORMED, FaultKind.KALSHI_SEQ_GAP, FaultKind.POLY_BAD_HASH):
                # handled in place: no reconnect needed
                for name, stats in run.h.feed_stats.items():
                    assert stats.reconnects == before[name].reconnects, name


async def test_stalled_detector_does_not_slow_the_feed() -> None:
    sim_cfg = SimConfig(seed=3, markets=3, rate=400.0, window_rate=0.0001)
    with trio.fail_after(30):
        async with market_run(sim_cfg, with_detector=False) as run:
            inbox = run.h.detector_inbox
            await wait_until(lambda: inbox.statistics().coalesced > 200, "coalescing", 15)
            feeds = run.h.feed_stats

            def drained() -> bool:
                stats = run.h.reader.statistics()
                total = sum(s.updates for s in feeds.values())
                return stats is not None and stats.updates == total

            await wait_until(drained, "cache has applied every update the feeds received")
            n_instruments = len(run.h.reader.instruments())
            stats = inbox.statistics()
            assert stats.coalesced > 200
            assert stats.depth <= n_instruments  # at most one pending top per instrument
            assert run.h.cache_inbox.statistics().depth == 0  # feeds never backed up
            assert sum(s.reconnects.get("no_data", 0) for s in feeds.values()) == 0
