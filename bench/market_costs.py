"""In-process costs for ``arbtree bench market`` (section 2, and the decode figure of
section 3): the detector engine per update at a given number of watched markets, and the
Polymarket decoder per frame. See :mod:`bench.market_bench`.
"""

from __future__ import annotations

import random
import time

from actors.detector.actor import Engine
from bench.market_frames import Frames
from protocols.config.market import DetectorConfig, PolymarketMarket
from protocols.messages import InstrumentId, Level, TopOfBook, Venue
from protocols.venues.polymarket import MarketDecoder

ONE = 1_000_000


def _top(inst: InstrumentId, ask: int) -> TopOfBook:
    lv = tuple(Level(ask + i * 10_000, 100 * ONE) for i in range(5))
    bl = tuple(Level(ask - 20_000 - i * 10_000, 100 * ONE) for i in range(5))
    return TopOfBook(
        instrument=inst,
        bid=bl[0].price,
        bid_size=bl[0].size,
        ask=lv[0].price,
        ask_size=lv[0].size,
        bids=bl,
        asks=lv,
        venue_ts_ms=1,
        recv_ns=1,
    )


def detector_cost(
    n_markets: int, n_updates: int = 20_000, crossing: bool = False, active: int = 0
) -> float:
    """µs per update for an engine watching ``n_markets`` complement pairs. Default:
    non-crossing books (the common case, evaluated down to the O(1) pre-check);
    ``crossing``: every update opens a new dislocation (depth walk, sizing and emission):
    update ``i`` crosses market ``i``'s YES book, so ``n_markets`` must be at least
    ``n_updates`` (a pair that emitted is disarmed until its tops stop crossing, and a
    disarmed pair is not planned again). ``active``:
    updates go to the first ``active`` markets only (0 = all), which separates the
    algorithm's cost from CPU-cache misses on a working set of all markets."""
    markets = [
        PolymarketMarket(name=f"m{i}", yes_token=f"Y{i}", no_token=f"N{i}")
        for i in range(n_markets)
    ]
    eng = Engine(
        DetectorConfig(
            strategies=["complement"], polymarket=markets, cooldown_s=0.0, max_quote_age_s=1e9
        ),
        clock_ns=lambda: 1,
    )
    insts = {
        sym: InstrumentId(venue=Venue.POLYMARKET, symbol=sym)
        for i in range(n_markets)
        for sym in (f"Y{i}", f"N{i}")
    }
    first = [
        _top(insts[f"{side}{i}"], 520_000 if side == "Y" else 500_000)
        for i in range(n_markets)
        for side in "YN"
    ]
    eng.update(first, 0.0)
    rng = random.Random(1)
    base = 300_000 if crossing else 500_000
    if crossing:
        assert n_markets >= n_updates, (n_markets, n_updates)
        batch = [[_top(insts[f"Y{i}"], base + rng.randrange(5) * 10_000)] for i in range(n_updates)]
    else:
        batch = [
            [
                _top(
                    insts[f"{rng.choice('YN')}{rng.randrange(active or n_markets)}"],
                    base + rng.randrange(5) * 10_000,
                )
            ]
            for _ in range(n_updates)
        ]
    t0 = time.perf_counter()
    for b in batch:
        eng.update(b, 1.0)
    dt = time.perf_counter() - t0
    if crossing:
        assert eng.stats.emitted == n_updates, eng.stats
    return dt / n_updates * 1e6


def decode_cost(frames: Frames) -> float:
    dec = MarketDecoder()
    for b in frames.books:
        dec.decode(b, 0)
    t0 = time.perf_counter()
    for f in frames.changes:
        dec.decode(f, 0)
    return (time.perf_counter() - t0) / len(frames.changes) * 1e6
