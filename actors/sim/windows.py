"""Ground truth of injected arbitrage windows, and their edge net of fees.

The edge is computed from the sim's own books by walking both legs' ask ladders with the
same fee functions the matcher charges, so a record states what a perfect taker could
have earned at the window's start.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import attrs

from actors.sim.units import ONE

FeeFn = Callable[[int, int], int]  # (size, price) -> fee, 1e-6 USD


@attrs.frozen
class Leg:
    """One side of the arbitrage: buy ``outcome`` of ``instrument`` at its ask."""

    venue: str  # "polymarket" | "kalshi"
    instrument: str  # Polymarket token id, or Kalshi ticker
    outcome: str  # "yes" | "no"
    ask: int  # best ask at the window's start, 1e-6 USD


@attrs.frozen
class WindowRecord:
    """One injected window: one JSON line in ``ground_truth.jsonl``."""

    id: str
    kind: str  # poly_complement | cross_poly_yes_kalshi_no | cross_kalshi_yes_poly_no
    market: int
    legs: tuple[Leg, Leg]
    start: float  # sim seconds
    end: float
    start_ms: int  # wire timestamps (the same clock as the frames' timestamps)
    end_ms: int
    max_size: int  # 1e-6 shares buyable on both legs with positive net edge
    edge_net: int  # 1e-6 USD earned buying max_size of both legs, after taker fees
    edge_per_share: int  # 1e-6 USD per share for the first chunk (both best levels), net
    implied: tuple[str, ...]  # other leg pairs the same dislocation makes profitable
    # What a taker could buy, (size, price a, price b, net edge) per chunk: the start's
    # walk (as ``max_size``, best first; the ground-truth line has these), then whatever
    # more the books offered while the window was open (a refill after a trade, a better
    # re-quote; size-weighted prices). Capture scoring caps these by the trading limits.
    chunks: tuple[tuple[int, int, int, int], ...] = ()

    def to_json(self) -> str:
        record = attrs.asdict(self, recurse=True)
        record["legs"] = [attrs.asdict(leg) for leg in self.legs]
        record["implied"] = list(self.implied)
        record["chunks"] = [list(c) for c in self.chunks]
        return json.dumps(record, separators=(",", ":"))


Chunk = tuple[int, int, int, int]  # (size, price a, price b, net edge), 1e-6 units


def walk_chunks(
    ladder_a: list[tuple[int, int]],
    fee_a: FeeFn,
    ladder_b: list[tuple[int, int]],
    fee_b: FeeFn,
) -> list[Chunk]:
    """The profitable chunks of buying both ask ladders (best first) pairwise.

    Takes chunks of equal size from the two best remaining levels while each chunk pays
    less than $1 per pair after both taker fees; stops at the first chunk that does not.
    """
    i = j = 0
    left_a = ladder_a[0][1] if ladder_a else 0
    left_b = ladder_b[0][1] if ladder_b else 0
    chunks: list[Chunk] = []
    while i < len(ladder_a) and j < len(ladder_b):
        pa, pb = ladder_a[i][0], ladder_b[j][0]
        q = min(left_a, left_b)
        edge = q * (ONE - pa - pb) // ONE - fee_a(q, pa) - fee_b(q, pb)
        if q <= 0 or edge <= 0:
            break
        chunks.append((q, pa, pb, edge))
        left_a -= q
        left_b -= q
        if left_a == 0:
            i += 1
            left_a = ladder_a[i][1] if i < len(ladder_a) else 0
        if left_b == 0:
            j += 1
            left_b = ladder_b[j][1] if j < len(ladder_b) else 0
    return chunks


def walk_edge(
    ladder_a: list[tuple[int, int]],
    fee_a: FeeFn,
    ladder_b: list[tuple[int, int]],
    fee_b: FeeFn,
) -> tuple[int, int]:
    """(max size, total net edge) of :func:`walk_chunks`."""
    chunks = walk_chunks(ladder_a, fee_a, ladder_b, fee_b)
    return sum(c[0] for c in chunks), sum(c[3] for c in chunks)


def pair_edge_per_share(pa: int, fee_a: FeeFn, pb: int, fee_b: FeeFn, size: int) -> int:
    """Net edge per share buying ``size`` of each leg at single prices ``pa`` and ``pb``."""
    total = size * (ONE - pa - pb) // ONE - fee_a(size, pa) - fee_b(size, pb)
    return total * ONE // size
