"""Retention: a terminal order's records (fund manager: the order, its booked-fill records,
fill-dedup keys, its opportunity id; executor: fill watermarks, links, fill ids) live
``retain_done_s`` after it became DONE, then go. Inside the window every late report is
handled exactly as before (duplicates deduplicated, FAILED reversed exactly); after it, a
report about a retired order is never booked, and is counted, logged and reduces."""

from __future__ import annotations

import heapq
import itertools
import random
from typing import Any

import msgspec

from actors.trading.ladder import TradingState
from actors.trading.ledger import OrderPhase
from protocols.fixed import SIZE_ONE
from protocols.messages import (
    FillStatus,
    InstrumentId,
    OrderIntent,
    Venue,
)
from tests.trading.helpers import KALSHI, POLY
from tests.trading.retention_helpers import (
    RETAIN_S,
    SWEEP_S,
    Clock,
    Pipeline,
    S,
    accept,
    held,
    rest_status,
    retention_core,
    trade,
    vid_of,
)

# ------------------------------------------------------------------ the long run


def test_retention_bounds_state_over_a_long_synthetic_run() -> None:
    """~1.5 simulated hours, 3000 two-leg opportunities: full, partial and empty fills
    reported by REST and the user channel in random order, late channel fills, duplicate
    channel and REST reports and FAILED reversals inside the window. After every event the
    books are conserved and every instrument's position is exactly the unreversed executed
    size (nothing double-booked, nothing lost); after every sweep the books keep exactly
    the live orders and those DONE for less than retain_done_s, the executor nothing the
    books retired; at the end nothing per order is left."""
    rng = random.Random(20240611)
    clock = Clock()
    c = retention_core(clock)
    p = Pipeline(c)
    tracker = p.tracker
    ref: dict[InstrumentId, int] = {POLY: 0, KALSHI: 0}  # what the books must hold
    filled_of: dict[str, int] = {}  # per tracked order: its booked filled size
    done_at: dict[str, int] = {}
    trade_of: dict[tuple[Venue, str], tuple[OrderIntent, int]] = {}
    counts = {"late_dup_channel": 0, "late_dup_rest": 0, "failed": 0, "reversed": 0}
    seq = itertools.count()
    events: list[tuple[int, int, str, Any]] = []
    trade_ids = itertools.count()

    def at(t_ns: int, kind: str, payload: Any = None) -> None:
        heapq.heappush(events, (t_ns, next(seq), kind, payload))

    def check_books() -> None:
        assert c.ledger.conserved()
        assert {POLY: held(c, POLY), KALSHI: held(c, KALSHI)} == ref

    def run_leg(it: OrderIntent) -> None:
        coid = it.client_order_id
        if it.instrument.venue is Venue.POLYMARKET:
            tracker.link(coid, vid_of(coid))  # before the send, as the runner does
        step = SIZE_ONE
        fate = rng.random()
        filled = (
            it.size
            if fate < 0.6
            else (rng.randrange(1, it.size // step) * step if fate < 0.8 else 0)
        )
        sizes: list[int] = []
        left = filled
        while left:
            part = (
                left
                if left <= step or rng.random() < 0.4
                else (rng.randrange(1, left // step + 1) * step)
            )
            sizes.append(part)
            left -= part
        fills = [trade(it, f"T{next(trade_ids)}", s) for s in sizes]
        for f in fills:
            trade_of[(f.instrument.venue, f.fill_id)] = (it, f.size)
        early = rng.randrange(len(fills) + 1)
        for f in fills[:early]:  # the channel beats the REST reply
            p.channel(f)
            assert c.ledger.conserved()  # the books catch up with the venue at the REST reply
        rest_fill = p.rest(it, rest_status(it, filled, len(sizes)))
        ref[it.instrument] += filled
        filled_of[coid] = filled
        done_at[coid] = clock.ns
        check_books()
        for f in fills[early:]:  # late user-channel fills after the REST ack
            at(clock.ns + rng.randrange(0, 60 * S), "channel", f)
        for f in fills:
            if rng.random() < 0.3:  # a duplicate channel report inside the window
                at(clock.ns + rng.randrange(0, int(0.9 * RETAIN_S) * S), "dup_channel", f)
            if it.instrument.venue is Venue.POLYMARKET and rng.random() < 0.08:
                at(clock.ns + rng.randrange(61 * S, 360 * S), "failed", f)
        if rest_fill is not None and rng.random() < 0.1:  # the REST report, replayed
            at(clock.ns + rng.randrange(0, int(0.9 * RETAIN_S) * S), "dup_rest", rest_fill)

    def check_retained() -> None:
        cutoff = clock.ns - int(RETAIN_S * S)
        kept = {k for k, t in done_at.items() if t > cutoff}
        assert set(c.ledger.orders) == kept  # executions are synchronous: none live here
        for coid, order in c.ledger.orders.items():
            assert order.phase is OrderPhase.DONE
            assert order.filled == filled_of[coid]
        keys = {k for o in c.ledger.orders.values() for k in o.fill_keys}
        assert c.seen_fills == keys | {k for _, k, _ in c.orderless_fills}
        assert set(c.ledger.booked) <= c.seen_fills
        assert set(c.seen_opportunities) == {o.opportunity_id for o in c.ledger.orders.values()}
        # The executor never keeps an order the books retired.
        tracked = set(c.ledger.orders)
        assert set(tracker.emitted) <= tracked
        assert set(tracker.channel_total) <= tracked
        assert set(tracker.net) <= tracked
        assert set(tracker.by_venue_order.values()) <= tracked
        assert {trade_of[k][0].client_order_id for k in tracker.seen} <= tracked

    n_opps = 3000
    t = clock.ns
    for i in range(n_opps):
        t += rng.randrange(S // 2, 3 * S)
        at(t, "opp", f"o{i}")
    end = t + int((RETAIN_S + 2 * SWEEP_S) * S) + 400 * S
    for k in range(int((end - clock.ns) / (SWEEP_S * S)) + 1):
        at(clock.ns + int((k + 1) * SWEEP_S * S), "sweep")
    peak = {"orders": 0, "seen_fills": 0, "booked": 0, "tracker_fill_ids": 0, "opps": 0}
    while events:
        t_ns, _, kind, payload = heapq.heappop(events)
        clock.ns = t_ns
        if kind == "opp":
            for it in accept(c, clock, payload):
                run_leg(it)
        elif kind == "channel":
            p.channel(payload)
        elif kind == "dup_channel":
            assert p.channel(payload) is None
            counts["late_dup_channel"] += 1
        elif kind == "dup_rest":
            before = c.fills_duplicate
            c.on_outcome(payload)
            assert c.fills_duplicate == before + 1
            counts["late_dup_rest"] += 1
        elif kind == "failed":
            key = (payload.instrument.venue, payload.fill_id)
            booked = key in c.ledger.booked  # booked by this id, not absorbed into REST's
            reversed_before = c.fills_reversed
            counts["failed"] += 1
            size = c.ledger.booked[key].size if booked else 0
            p.channel(msgspec.structs.replace(payload, status=FillStatus.FAILED))
            if booked:
                it, _ = trade_of[key]
                ref[it.instrument] -= size
                filled_of[it.client_order_id] -= size
                assert c.fills_reversed == reversed_before + 1
                counts["reversed"] += 1
            assert c.control.state is TradingState.REDUCING
            assert c.control.resume("test") == (True, "resumed")
        elif kind == "sweep":
            p.sweep()
            check_retained()
            peak["orders"] = max(peak["orders"], len(c.ledger.orders))
            peak["seen_fills"] = max(peak["seen_fills"], len(c.seen_fills))
            peak["booked"] = max(peak["booked"], len(c.ledger.booked))
            peak["tracker_fill_ids"] = max(peak["tracker_fill_ids"], len(tracker.seen))
            peak["opps"] = max(peak["opps"], len(c.seen_opportunities))
        check_books()

    stats = c.statistics()
    assert stats["accepted"] == n_opps
    ret = stats["retention"]
    # Everything terminal was retired: nothing per order is left anywhere.
    assert ret["retired_orders"] == 2 * n_opps
    assert ret["late_after_retire"] == {}
    assert ret["retired_early"] == 0
    assert (
        ret["orders"],
        ret["done"],
        ret["booked_fills"],
        ret["seen_fills"],
        ret["failed_fills"],
        ret["orderless_fills"],
        ret["opportunities"],
    ) == (0, 0, 0, 0, 0, 0, 0)
    assert tracker.statistics() == {
        "watermarks": 0,
        "channel_totals": 0,
        "fill_ids": 0,
        "links": 0,
        "waiters": 0,
        "retired": 2 * n_opps,
    }
    assert not tracker.failed
    assert not tracker.delivered
    assert not tracker._keys_of
    assert not tracker._links_of
    # The window held what ~600 s of trading produces, never the run's whole history.
    assert peak["orders"] < 2 * n_opps / 5
    assert peak["seen_fills"] < len(trade_of) / 4
    assert peak["booked"] < len(trade_of) / 4
    assert peak["tracker_fill_ids"] < len(trade_of) / 4
    assert peak["opps"] < n_opps / 5
    # The late reports really happened, and were all deduplicated or reversed exactly.
    assert counts["late_dup_channel"] > 300
    assert counts["late_dup_rest"] > 100
    assert counts["reversed"] > 20
    assert c.fills_reversed == counts["reversed"]
    assert c.fills_failed == counts["failed"]
    assert stats["conserved"] is True
    assert stats["fills_unknown_order"] == 0


# ------------------------------------------------------------------ inside the window


def test_duplicate_and_late_fills_just_inside_the_window_are_deduplicated() -> None:
    clock = Clock()
    c = retention_core(clock)
    p = Pipeline(c)
    poly, kalshi = accept(c, clock, "dup")
    p.tracker.link(poly.client_order_id, vid_of(poly.client_order_id))
    t1 = trade(poly, "p1", 4 * SIZE_ONE)
    t2 = trade(poly, "p2", 6 * SIZE_ONE)
    assert p.channel(t1) is not None
    rest = p.rest(poly, rest_status(poly, 10 * SIZE_ONE, 2))  # REST covers the remainder
    assert rest is not None
    assert rest.size == 6 * SIZE_ONE
    k1 = trade(kalshi, "k1", 10 * SIZE_ONE)
    p.rest(kalshi, rest_status(kalshi, 10 * SIZE_ONE, 1))
    assert held(c, POLY) == held(c, KALSHI) == 10 * SIZE_ONE
    cash = dict(c.ledger.cash)
    clock.ns += int(RETAIN_S * S) - S  # one second before retirement
    assert p.sweep() is None
    assert set(c.ledger.orders) == {poly.client_order_id, kalshi.client_order_id}
    # The late channel fills after the REST ack are absorbed by the watermark...
    assert p.channel(t2) is None
    assert p.channel(k1) is None
    assert p.tracker.absorbed == 2
    # ...a repeat of a channel fill is a duplicate at the tracker...
    assert p.channel(t1) is None
    assert p.tracker.duplicates == 1
    # ...and a replayed REST fill is a duplicate at the fund manager.
    c.on_outcome(rest)
    assert c.fills_duplicate == 1
    assert held(c, POLY) == held(c, KALSHI) == 10 * SIZE_ONE
    assert c.ledger.cash == cash
    assert c.ledger.conserved()
    assert c.control.state is TradingState.ACTIVE
    assert c.statistics()["retention"]["late_after_retire"] == {}


def test_failed_reversal_just_inside_the_window_reverses_exactly() -> None:
    clock = Clock()
    c = retention_core(clock)
    p = Pipeline(c)
    poly, _ = accept(c, clock, "fails")
    p.tracker.link(poly.client_order_id, vid_of(poly.client_order_id))
    before = (dict(c.ledger.cash), c.ledger.fees_paid, c.ledger.realized_pnl)
    reserved = c.ledger.orders[poly.client_order_id].reserved
    matched = trade(poly, "m1", 10 * SIZE_ONE)
    p.channel(matched)
    p.rest(poly, rest_status(poly, 10 * SIZE_ONE, 1))
    assert held(c, POLY) == 10 * SIZE_ONE
    clock.ns += int(RETAIN_S * S) - S
    assert p.sweep() is None
    p.channel(msgspec.structs.replace(matched, status=FillStatus.FAILED))
    assert (c.fills_failed, c.fills_reversed, c.fills_failed_unbooked) == (1, 1, 0)
    assert held(c, POLY) == 0
    pos = c.ledger.positions[POLY]
    assert (pos.cost, pos.realized) == (0, 0)
    cash, fees, pnl = before
    # The reservation was released at the final; the fill's cash came back to free cash.
    cash[Venue.POLYMARKET] += reserved
    assert (dict(c.ledger.cash), c.ledger.fees_paid, c.ledger.realized_pnl) == (cash, fees, pnl)
    assert c.ledger.orders[poly.client_order_id].filled == 0
    assert c.ledger.conserved()
    assert c.statistics()["retention"]["late_after_retire"] == {}
