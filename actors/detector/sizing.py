"""Depth-aware sizing of a two-leg "buy both outcomes" arbitrage.

Buying one YES and one NO of the same event pays exactly $1 at resolution, so a pair of
buys of ``size`` shares earns ``size x $1 - cost_a - cost_b - fee_a - fee_b``.

:func:`plan_pair` walks both ask ladders together, best price first. Each step takes the
quantity available at the current level of *both* books; it stops at the first step whose
marginal share would earn less than ``min_edge`` net of both venues' (unrounded) fees, so
every share bought clears the minimum and the size is the largest one that does (no price
"liquidity" filter: depth decides). Then the exact cost is computed with each venue's
rounding (cash rounded up, fees per fill with the venue's rule); if rounding pushes the
average edge under ``min_edge`` the size is reduced (binary search on the size step).
All arithmetic is on ints.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import attrs

from actors.detector.fees import FeeSchedule, fee_for_fills
from protocols.fixed import PRICE_ONE

ONE = PRICE_ONE
_E12 = 10**12


@attrs.frozen
class LegPlan:
    fills: tuple[tuple[int, int], ...]  # (price, size), best first
    cash: int  # 1e-6 USD, rounded up
    fee: int  # 1e-6 USD
    limit_price: int  # the worst price the leg needs

    @property
    def vwap(self) -> int:
        size = sum(s for _, s in self.fills)
        return -(-self.cash * ONE // size) if size else 0


@attrs.frozen
class PairPlan:
    size: int  # 1e-6 shares, same on both legs
    a: LegPlan
    b: LegPlan
    edge: int  # net cash for the whole size, 1e-6 USD (fees subtracted)

    @property
    def fees(self) -> int:
        return self.a.fee + self.b.fee


def _leg(segments: list[tuple[int, int]], size: int, fee: FeeSchedule) -> LegPlan:
    fills: list[tuple[int, int]] = []
    left = size
    raw = 0
    for price, qty in segments:
        if left <= 0:
            break
        take = qty if qty < left else left
        left -= take
        raw += price * take
        if fills and fills[-1][0] == price:
            fills[-1] = (price, fills[-1][1] + take)
        else:
            fills.append((price, take))
    cash = -(-raw // ONE)
    return LegPlan(tuple(fills), cash, fee_for_fills(fee, fills), fills[-1][0] if fills else 0)


def _evaluate(
    seg_a: list[tuple[int, int]],
    seg_b: list[tuple[int, int]],
    size: int,
    fee_a: FeeSchedule,
    fee_b: FeeSchedule,
) -> PairPlan:
    a = _leg(seg_a, size, fee_a)
    b = _leg(seg_b, size, fee_b)
    return PairPlan(size, a, b, size - a.cash - b.cash - a.fee - b.fee)


def _meets(plan: PairPlan, min_edge: int) -> bool:
    # average net edge per share >= min_edge, exactly: edge / size >= min_edge / ONE;
    # and never a non-positive edge, whatever min_edge (a negative one is a config error).
    if plan.edge <= 0:
        return False
    return plan.edge * ONE >= min_edge * plan.size


def plan_pair(
    asks_a: Iterable[tuple[int, int]],
    fee_a: FeeSchedule,
    asks_b: Iterable[tuple[int, int]],
    fee_b: FeeSchedule,
    *,
    min_edge: int,
    min_profit: int,
    max_size: int,
    step: int,
    depth_edge_ratio: float = 0.0,
) -> PairPlan | None:
    """Best-first ``(price, size)`` ask levels of the two legs -> the plan, or None.

    ``min_edge``: net USD per share (1e-6 units) every share must keep; ``min_profit``: net
    cash for the whole size; ``max_size`` caps the size; ``step`` is the size grid (the
    coarser of the two venues' lot sizes); ``depth_edge_ratio`` > 0 also stops at the
    first level pair whose per-share edge is below that fraction of the best one's (with
    exposure limits binding, a share of capacity spent deep in the book is a share not
    spent on the best level when it refills).
    """
    it_a: Iterator[tuple[int, int]] = iter(asks_a)
    it_b: Iterator[tuple[int, int]] = iter(asks_b)
    la = next(it_a, None)
    lb = next(it_b, None)
    if la is None or lb is None or step <= 0:
        return None
    pa, ra = la
    pb, rb = lb
    total = 0
    seg_a: list[tuple[int, int]] = []
    seg_b: list[tuple[int, int]] = []
    best = (ONE - pa - pb) * _E12 - fee_a.per_share_e18(pa) - fee_b.per_share_e18(pb)
    floor = int(best * depth_edge_ratio) if depth_edge_ratio > 0 else None
    while total < max_size:
        if (ONE - pa - pb - min_edge) * _E12 < fee_a.per_share_e18(pa) + fee_b.per_share_e18(pb):
            break
        if floor is not None and (
            (ONE - pa - pb) * _E12 - fee_a.per_share_e18(pa) - fee_b.per_share_e18(pb) < floor
        ):
            break
        q = min(ra, rb, max_size - total)
        if q > 0:
            seg_a.append((pa, q))
            seg_b.append((pb, q))
            total += q
            ra -= q
            rb -= q
        if ra <= 0:
            nxt = next(it_a, None)
            if nxt is None:
                break
            pa, ra = nxt
        if rb <= 0:
            nxt = next(it_b, None)
            if nxt is None:
                break
            pb, rb = nxt
    size = total // step * step
    if size <= 0:
        return None
    plan = _evaluate(seg_a, seg_b, size, fee_a, fee_b)
    if not _meets(plan, min_edge):
        # Rounding (a cent-rounded Kalshi fee on a small size) pushed it under: shrink.
        lo, hi = 1, size // step - 1  # in steps; find the largest size that still meets
        fitting: PairPlan | None = None
        while lo <= hi:
            mid = (lo + hi) // 2
            cand = _evaluate(seg_a, seg_b, mid * step, fee_a, fee_b)
            if _meets(cand, min_edge):
                fitting, lo = cand, mid + 1
            else:
                hi = mid - 1
        if fitting is None:
            return None
        plan = fitting
    if plan.edge < min_profit:
        return None
    return plan
