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
Chunk = tuple[int, int, int, int]  # (size, price a, price b, net edge), 1e-6 units
# (size, instrument a, price a, instrument b, price b, net edge): one pair chunk, 1e-6
Offer = tuple[int, str, int, str, int, int]
SideLevel = tuple[int, int, str, FeeFn]  # (ask, size, instrument key, fee) of one level


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
    # What a taker could lock in on the window's market, by any pair of a YES and a NO
    # leg (the window's own and the pairs it implies), at the start (best first; the
    # ground-truth line has these) ...
    offers: tuple[Offer, ...] = ()
    # ... and what more the books offered while it was open (a refill after a trade, a
    # better re-quote; counted as the best of the walk then). Capture scoring caps both
    # by the trading limits.
    reoffers: tuple[Offer, ...] = ()

    def to_json(self) -> str:
        record = attrs.asdict(self, recurse=True)
        record["legs"] = [attrs.asdict(leg) for leg in self.legs]
        record["implied"] = list(self.implied)
        record["offers"] = [list(o) for o in self.offers]
        record["reoffers"] = [list(o) for o in self.reoffers]
        return json.dumps(record, separators=(",", ":"))


def walk_chunks(
    ladder_a: list[tuple[int, int]],
    fee_a: FeeFn,
    ladder_b: list[tuple[int, int]],
    fee_b: FeeFn,
) -> list[Chunk]:
    """The profitable chunks of buying both ask ladders (best first) pairwise: the
    :func:`walk_offers` of one instrument a side."""
    offers = walk_offers(
        [(p, q, "a", fee_a) for p, q in ladder_a], [(p, q, "b", fee_b) for p, q in ladder_b]
    )
    return [(q, pa, pb, edge) for q, _, pa, _, pb, edge in offers]


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


def walk_offers(yes: list[SideLevel], no: list[SideLevel]) -> list[Offer]:
    """The profitable pairs of buying the cheapest YES and the cheapest NO of one market,
    whichever venue each is on (never both on Kalshi: one book, never a pair).

    Each side is merged over its instruments and ordered by cost per share with fees;
    chunks of equal size are taken while a chunk pays less than $1 per pair after both
    taker fees."""
    yes = sorted(yes, key=_cost_per_share)
    no = sorted(no, key=_cost_per_share)
    i = j = 0
    left_a = yes[0][1] if yes else 0
    left_b = no[0][1] if no else 0
    offers: list[Offer] = []
    while i < len(yes) and j < len(no):
        pa, _, key_a, fee_a = yes[i]
        pb, _, key_b, fee_b = no[j]
        q = min(left_a, left_b)
        edge = q * (ONE - pa - pb) // ONE - fee_a(q, pa) - fee_b(q, pb)
        if q <= 0 or edge <= 0 or (key_a.startswith("kalshi:") and key_b.startswith("kalshi:")):
            break
        offers.append((q, key_a, pa, key_b, pb, edge))
        left_a -= q
        left_b -= q
        if left_a == 0:
            i += 1
            left_a = yes[i][1] if i < len(yes) else 0
        if left_b == 0:
            j += 1
            left_b = no[j][1] if j < len(no) else 0
    return offers


def _cost_per_share(level: SideLevel) -> int:
    price, _, _, fee = level
    return price + fee(100 * ONE, price) // 100
