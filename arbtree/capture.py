"""Capture scored on what was traded: per window, the edge the trading limits left
available against the edge the run locked in on it.

*Available* is what an ideal taker with the run's exposure limits could have locked in:
the sim's ground truth lists, per window, what its market offered while it was open, as
pair chunks (size, YES instrument and price, NO instrument and price, net edge after taker
fees): the cheapest YES against the cheapest NO on either venue at the start, then each
refill or better re-quote. Windows are taken in start order; each takes its offers, best
edge per share first (in hindsight: a better price offered later is preferred to a worse
one at the start), as far as the exposure left by the ideal taker's own earlier windows
allows (per
instrument, per pair of instruments, per venue, in total; exposure is price x shares, as
the fund manager counts a position's cost). Trades per window are not limited (a window
can be taken in several orders), so the per-order limits (``max_size``,
``max_notional_per_order``) do not cap it.

*Locked* is the locked-in edge (``actors.trading.outcome``) of the opportunities detected
on the window's instruments while it was open. The lowest-ratio windows come with why:
not detected, rejected (by which check), a leg that failed, an unwind, a clipped size, or
limits that left nothing.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Mapping, Sequence

import msgspec

from protocols.fixed import PRICE_ONE

# (size, instrument a, price a, instrument b, price b, net edge): ``actors.sim`` Offer
Offer = tuple[int, str, int, str, int, int]
LOWEST_SHOWN = 5


class ExposureLimits(msgspec.Struct, frozen=True, kw_only=True):
    """1e-6 USD, as ``[trading.fund.limits]``."""

    per_instrument: int
    per_pair: int
    per_venue: int
    total: int


class WindowTruth(msgspec.Struct, frozen=True, kw_only=True):
    """What scoring needs of a ground-truth window's legs."""

    id: str
    offers: tuple[Offer, ...]


class OpportunityResult(msgspec.Struct, frozen=True, kw_only=True):
    """One detected opportunity, as the run decided and traded it."""

    opportunity_id: str
    window_id: str
    reject_reason: str  # "" when accepted
    size: int  # detected size per leg
    approved_size: int  # per leg as sent (0 when rejected)
    locked: int
    unwinds: int
    failed_legs: int


class WindowCapture(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    available_usd: str
    locked_usd: str
    ratio: float | None  # None when nothing was available
    why: str  # "" when all of it was taken


class CaptureScore(msgspec.Struct, frozen=True, kw_only=True):
    available_edge_usd: str  # within the limits, all windows
    locked_edge_usd: str  # on the windows (opportunities outside windows not counted)
    ratio: float | None
    lowest: tuple[WindowCapture, ...]


def usd(micro: int) -> str:
    """1e-6 USD as an exact decimal string."""
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), 1_000_000)
    return f"{sign}{whole}.{frac:06d}"


def available_within_limits(
    windows: Sequence[WindowTruth], limits: ExposureLimits
) -> dict[str, int]:
    """Per window id: the net edge an ideal taker could lock in within ``limits``."""
    by_instrument: dict[str, int] = {}
    by_venue: dict[str, int] = {}
    total = 0
    out: dict[str, int] = {}
    for w in windows:
        edge = 0
        # In hindsight, best edge per share first: what was offered later at a better
        # price is preferred to what the start offered at a worse one.
        for size, a, pa, b, pb, offer_edge in sorted(w.offers, key=_per_share, reverse=True):
            va, vb = a.split(":", 1)[0], b.split(":", 1)[0]
            ea, eb = by_instrument.get(a, 0), by_instrument.get(b, 0)
            room = [
                _shares(limits.per_instrument - ea, pa),
                _shares(limits.per_instrument - eb, pb),
                _shares(limits.per_pair - ea - eb, pa + pb),
                _shares(limits.total - total, pa + pb),
            ]
            if va == vb:
                room.append(_shares(limits.per_venue - by_venue.get(va, 0), pa + pb))
            else:
                room.append(_shares(limits.per_venue - by_venue.get(va, 0), pa))
                room.append(_shares(limits.per_venue - by_venue.get(vb, 0), pb))
            q = min(size, *room)
            if q <= 0:
                continue  # this pair is full; another pair of the window may not be
            edge += offer_edge if q == size else offer_edge * q // size
            cost_a, cost_b = pa * q // PRICE_ONE, pb * q // PRICE_ONE
            by_instrument[a] = ea + cost_a
            by_instrument[b] = by_instrument.get(b, 0) + cost_b
            by_venue[va] = by_venue.get(va, 0) + cost_a
            by_venue[vb] = by_venue.get(vb, 0) + cost_b
            total += cost_a + cost_b
        out[w.id] = edge
    return out


def _per_share(offer: Offer) -> float:
    return offer[5] / offer[0] if offer[0] else 0.0


def _shares(cash: int, price: int) -> int:
    """Whole 1e-6 shares that ``cash`` buys at ``price`` (0 when none)."""
    return max(0, cash * PRICE_ONE // price) if price > 0 else 0


def why_low(results: Iterable[OpportunityResult], available: int) -> str:
    """What kept a window's locked edge below what was available."""
    items = list(results)
    if available <= 0:
        return "limits left nothing"
    if not items:
        return "not detected"
    notes: list[str] = []
    rejected: dict[str, int] = {}
    for r in items:
        if r.reject_reason:
            rejected[r.reject_reason] = rejected.get(r.reject_reason, 0) + 1
    notes += [f"rejected {reason} x{n}" for reason, n in sorted(rejected.items())]
    failed = sum(r.failed_legs for r in items)
    if failed:
        notes.append(f"{failed} leg(s) failed")
    unwinds = sum(r.unwinds for r in items)
    if unwinds:
        notes.append(f"{unwinds} unwind(s)")
    clipped = sum(1 for r in items if not r.reject_reason and r.approved_size < r.size)
    if clipped:
        notes.append(f"{clipped} clipped by a size limit")
    traded = sum(1 for r in items if not r.reject_reason)
    notes.append(f"{traded} trade(s)")
    return ", ".join(notes)


def score_capture(
    windows: Sequence[WindowTruth],
    results: Iterable[OpportunityResult],
    limits: ExposureLimits,
    *,
    lowest: int = LOWEST_SHOWN,
) -> CaptureScore:
    available = available_within_limits(windows, limits)
    per_window: dict[str, list[OpportunityResult]] = {}
    for r in results:
        per_window.setdefault(r.window_id, []).append(r)
    scored: list[tuple[float, WindowCapture]] = []
    total_locked = 0
    for w in windows:
        items = per_window.get(w.id, [])
        locked = sum(r.locked for r in items)
        total_locked += locked
        avail = available[w.id]
        ratio = locked / avail if avail > 0 else None
        capture = WindowCapture(
            id=w.id,
            available_usd=usd(avail),
            locked_usd=usd(locked),
            ratio=ratio,
            why="" if ratio is not None and ratio >= 1.0 else why_low(items, avail),
        )
        if ratio is not None:
            scored.append((ratio, capture))
    scored.sort(key=lambda rc: rc[0])
    total_available = sum(available.values())
    return CaptureScore(
        available_edge_usd=usd(total_available),
        locked_edge_usd=usd(total_locked),
        ratio=total_locked / total_available if total_available > 0 else None,
        lowest=tuple(c for _, c in scored[:lowest]),
    )


def results_for(
    spans: Sequence[tuple[str, frozenset[str], int, int]],
    detections: Iterable[tuple[str, frozenset[str], int, str, int]],
    traded: Mapping[str, Mapping[str, int]],
    slack_ms: int,
) -> list[OpportunityResult]:
    """Each detection (opportunity id, instruments, venue ms, reject reason, size) in the
    window (id, instruments, start ms, end ms) on one of its instruments that it falls in,
    else the nearest within ``slack_ms`` (the earlier on a tie), with what the fund
    manager's ``by_opportunity`` says it traded."""
    index = WindowIndex(spans, slack_ms)
    out: list[OpportunityResult] = []
    for opp_id, instruments, ts, reason, size in detections:
        window = index.find(instruments, ts)
        if window is None:
            continue
        row = traded.get(opp_id, {})
        out.append(
            OpportunityResult(
                opportunity_id=opp_id,
                window_id=window,
                reject_reason=reason,
                size=size,
                approved_size=int(row.get("size", 0)),
                locked=int(row.get("locked", 0)),
                unwinds=int(row.get("unwinds", 0)),
                failed_legs=int(row.get("failed_legs", 0)),
            )
        )
    return out


class WindowIndex:
    """Which window a detection belongs to: the one it falls in, else the nearest within
    ``slack_ms`` (the earlier on a tie); back-to-back windows of one market overlap in
    their slack. Indexed by instrument, so a run's many detections are not each compared
    with every window."""

    def __init__(
        self, spans: Sequence[tuple[str, frozenset[str], int, int]], slack_ms: int
    ) -> None:
        self.slack_ms = slack_ms
        by_instrument: dict[str, list[tuple[int, int, int, str]]] = {}
        for order, (wid, instruments, start, end) in enumerate(spans):
            for instrument in instruments:
                by_instrument.setdefault(instrument, []).append((start, order, end, wid))
        self._spans: dict[str, list[tuple[int, int, int, str]]] = {}
        self._starts: dict[str, list[int]] = {}
        self._reach: dict[str, list[int]] = {}  # the latest end among spans[: i + 1]
        for instrument, items in by_instrument.items():
            items.sort()
            self._spans[instrument] = items
            self._starts[instrument] = [item[0] for item in items]
            self._reach[instrument] = list(itertools.accumulate((i[2] for i in items), max))

    def find(self, instruments: frozenset[str], ts: int) -> str | None:
        best: tuple[int, int, str] | None = None  # (distance, span order, id)
        for instrument in instruments:
            spans = self._spans.get(instrument)
            if spans is None:
                continue
            reach = self._reach[instrument]
            # Only windows starting by ts + slack and, walking back, while one of the
            # earlier ones still ends late enough to be within reach.
            i = bisect.bisect_right(self._starts[instrument], ts + self.slack_ms)
            while i > 0 and reach[i - 1] >= ts - self.slack_ms:
                i -= 1
                start, order, end, wid = spans[i]
                distance = max(start - ts, ts - end, 0)
                if distance <= self.slack_ms and (best is None or (distance, order) < best[:2]):
                    best = (distance, order, wid)
        return None if best is None else best[2]
