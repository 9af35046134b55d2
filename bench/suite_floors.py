"""Floors for ``arbtree bench`` rows whose area benchmark compares against no floor of
its own: the least work a complement detector must do per update."""

from __future__ import annotations

import random
import time

from protocols.messages import InstrumentId, TopOfBook, Venue

ONE = 1_000_000
MIN_EDGE = 5_000  # 1e-6 USD, the detector's default


def complement_floor(n_markets: int, n_updates: int) -> float:
    """µs per update of a bare complement check over ``n_markets`` YES/NO pairs: store the
    update's ask under its (interned) instrument, look up the pair's other ask, compare
    the sum with $1 less the edge. The same number and shape of updates as
    ``market_costs.detector_cost`` (non-crossing tops to random markets); no fees, depth,
    staleness or cooldown, no emission."""
    insts = [
        (
            InstrumentId(venue=Venue.POLYMARKET, symbol=f"Y{i}"),
            InstrumentId(venue=Venue.POLYMARKET, symbol=f"N{i}"),
        )
        for i in range(n_markets)
    ]
    other = dict(insts) | {n: y for y, n in insts}
    asks = dict.fromkeys(other, 520_000)
    rng = random.Random(1)
    updates = [
        [
            TopOfBook(
                instrument=insts[rng.randrange(n_markets)][rng.randrange(2)],
                bid=480_000,
                bid_size=100 * ONE,
                ask=500_000 + rng.randrange(5) * 10_000,
                ask_size=100 * ONE,
                bids=(),
                asks=(),
                venue_ts_ms=1,
                recv_ns=1,
            )
        ]
        for _ in range(n_updates)
    ]
    hits = 0
    t0 = time.perf_counter()
    for batch in updates:
        for top in batch:
            asks[top.instrument] = top.ask
            if top.ask + asks[other[top.instrument]] < ONE - MIN_EDGE:
                hits += 1
    dt = time.perf_counter() - t0
    assert hits == 0, "the floor's updates never cross, as the detector's"
    return dt / n_updates * 1e6
