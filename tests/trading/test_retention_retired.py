"""Retention after the window: a report about a retired order is never booked and is
counted, logged and reduces; what is never retired (orders not done, the books)."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
import pytest

from actors.trading.fund_core import FundCore
from actors.trading.ladder import TradingState
from actors.trading.ledger import OrderPhase
from actors.trading.messages import ExecutionRequest, OrderFinal
from actors.trading.retention import RetiredIds
from protocols.fixed import SIZE_ONE
from protocols.messages import (
    Fill,
    FillRecord,
    FillStatus,
    FundCheckpointRecord,
    OrderAmbiguous,
    OrderIntent,
    OrderReject,
    OrderState,
)
from tests.trading.helpers import KALSHI, POLY
from tests.trading.retention_helpers import (
    RETAIN_S,
    Clock,
    Pipeline,
    S,
    accept,
    ack,
    final,
    fresh_opp,
    held,
    rest_status,
    retention_core,
    trade,
    vid_of,
)

# ------------------------------------------------------------------ after retirement


def retired_pair(
    clock: Clock, **kw: Any
) -> tuple[FundCore, Pipeline, OrderIntent, OrderIntent, Fill, Fill]:
    """Both legs fully filled (channel, then REST) and then retired."""
    c = retention_core(clock, **kw)
    p = Pipeline(c)
    poly, kalshi = accept(c, clock, "gone")
    p.tracker.link(poly.client_order_id, vid_of(poly.client_order_id))
    tp, tk = trade(poly, "p1", 10 * SIZE_ONE), trade(kalshi, "k1", 10 * SIZE_ONE)
    for it, f in ((poly, tp), (kalshi, tk)):
        p.channel(f)
        p.rest(it, rest_status(it, 10 * SIZE_ONE, 1))
    clock.ns += int(RETAIN_S * S) + S
    notice = p.sweep()
    assert notice is not None
    assert set(notice.client_order_ids) == {poly.client_order_id, kalshi.client_order_id}
    assert c.ledger.orders == {}
    assert c.ledger.booked == {}
    assert c.seen_fills == set()
    assert c.seen_opportunities == {}
    assert p.tracker.statistics()["fill_ids"] == 0
    return c, p, poly, kalshi, tp, tk


def books(c: FundCore) -> tuple[Any, ...]:
    led = c.ledger
    return (
        dict(led.cash),
        dict(led.reserved),
        held(c, POLY),
        held(c, KALSHI),
        led.fees_paid,
        led.realized_pnl,
        led.fills_applied,
    )


def test_a_fill_for_a_retired_order_is_never_booked_but_counted_logged_and_reduces(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    records: list[Any] = []
    c, p, poly, kalshi, tp, tk = retired_pair(clock)
    c.sink = records.append
    before = books(c)
    with caplog.at_level(logging.WARNING, logger="arbtree.trading.fund_manager"):
        # Kalshi: the channel's fill carries our client order id.
        assert p.channel(tk) is not None  # the executor forgot it too: forwarded
        # Polymarket: only the venue's order id (the link is gone): still recognized.
        out = p.channel(tp)
        assert out is not None
        assert out.client_order_id == ""
    assert books(c) == before  # not booked: a duplicate must never count twice
    assert c.ledger.conserved()
    stats = c.statistics()
    assert stats["retention"]["late_after_retire"] == {"fill": 2}
    assert stats["fills_unknown_order"] == 0
    assert c.control.state is TradingState.REDUCING
    assert c.control.ladder.reason == (
        f"kalshi fill k1 for retired order {kalshi.client_order_id} not booked"
    )
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("retired from the books" in w and "not booked" in w for w in warnings) == 2
    assert any(vid_of(poly.client_order_id) in w for w in warnings)
    # Recorded for storage: the fills table keeps what the venue reported.
    assert [r.fill.fill_id for r in records if isinstance(r, FillRecord)] == ["k1", "p1"]
    # The same report again is a plain duplicate.
    c.on_outcome(tk)
    assert c.statistics()["retention"]["late_after_retire"] == {"fill": 2}
    assert c.fills_duplicate == 1
    assert books(c) == before


def test_failed_for_a_retired_order_reverses_nothing_and_reduces() -> None:
    clock = Clock()
    c, p, _, _, tp, _ = retired_pair(clock)
    before = books(c)
    p.channel(msgspec.structs.replace(tp, status=FillStatus.FAILED))
    assert books(c) == before
    assert (c.fills_failed, c.fills_reversed, c.fills_failed_unbooked) == (1, 0, 1)
    assert c.statistics()["retention"]["late_after_retire"] == {"failed": 1}
    assert c.control.state is TradingState.REDUCING
    assert c.ledger.conserved()


def test_order_reports_for_a_retired_order_change_nothing_and_are_counted() -> None:
    clock = Clock()
    c, _, poly, kalshi, _, _ = retired_pair(clock)
    before = books(c)
    c.on_outcome(final(poly, 10 * SIZE_ONE))
    c.on_outcome(ack(kalshi, 10 * SIZE_ONE))
    c.on_outcome(
        OrderReject(
            client_order_id=kalshi.client_order_id,
            instrument=kalshi.instrument,
            reason="x",
            venue_code="",
            retryable=False,
            ack_ns=0,
        )
    )
    c.on_outcome(
        OrderFinal(
            client_order_id="never-ours",
            state=OrderState.CANCELLED,
            filled_size=0,
            reason="",
            at_ns=0,
        )
    )
    assert books(c) == before
    assert c.ledger.orders == {}
    assert c.statistics()["retention"]["late_after_retire"] == {"final": 1, "ack": 1, "reject": 1}
    assert c.control.state is TradingState.ACTIVE  # nothing that could move money


def test_a_replayed_opportunity_after_retirement_is_stale_not_executed_twice() -> None:
    clock = Clock()
    c = retention_core(clock)
    o = fresh_opp(clock, "replayed")
    req = c.decide(o)
    assert isinstance(req, ExecutionRequest)
    assert c.decide(o) is not None
    assert c.rejects["duplicate_opportunity"] == 1
    for it in req.intents:
        c.on_outcome(final(it, 0))
    clock.ns += int(RETAIN_S * S) + S
    assert c.retire() is not None
    assert c.seen_opportunities == {}
    cash = dict(c.ledger.cash)
    assert not isinstance(c.decide(o), ExecutionRequest)
    assert c.rejects["stale"] == 1
    assert c.ledger.cash == cash
    assert c.ledger.orders == {}


def test_beyond_the_remembered_ids_a_late_fill_is_an_unknown_orders(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``remember_retired`` bounds the ids kept of retired orders: once an order's are
    pushed out by newer ones, a report about it is what it is for an order the books never
    had: a fill is booked without an order, counted in ``fills_unknown_order`` and logged."""
    clock = Clock()
    c, p, poly, kalshi, tp, tk = retired_pair(clock, remember=1)
    # Retired in the order they became DONE: the Polymarket leg's ids were pushed out.
    assert c.retired.match(poly.client_order_id, vid_of(poly.client_order_id)) == ""
    assert c.retired.match(kalshi.client_order_id, "") == kalshi.client_order_id
    assert c.statistics()["retention"]["forgotten_retired"] == 1
    p.channel(tk)
    assert held(c, KALSHI) == 10 * SIZE_ONE  # recognized: not booked
    with caplog.at_level(logging.WARNING, logger="arbtree.trading.fund_manager"):
        p.channel(tp)
    assert held(c, POLY) == 20 * SIZE_ONE  # forgotten: booked as an unknown order's fill
    assert f"for order {vid_of(poly.client_order_id)}, which these books never tracked" in (
        caplog.text
    )
    stats = c.statistics()
    assert stats["fills_unknown_order"] == 1
    assert stats["retention"]["late_after_retire"] == {"fill": 1}
    assert c.ledger.conserved()


# ------------------------------------------------------------------ what is never retired


def timeless(cp: FundCheckpointRecord) -> FundCheckpointRecord:
    positions = tuple(msgspec.structs.replace(p, updated_ns=0) for p in cp.positions)
    return msgspec.structs.replace(cp, taken_ns=0, positions=positions)


def test_orders_not_done_are_never_retired_and_keep_their_dedup() -> None:
    clock = Clock()
    c = retention_core(clock, max_done=1)
    p = Pipeline(c)
    poly, kalshi = accept(c, clock, "amb")
    c.on_outcome(final(poly, 0))
    c.on_outcome(
        OrderAmbiguous(
            client_order_id=kalshi.client_order_id,
            instrument=kalshi.instrument,
            reason="timeout",
            at_ns=0,
        )
    )
    k1 = trade(kalshi, "k1", 5 * SIZE_ONE)
    p.channel(k1)
    checkpoint = c.checkpoint()
    clock.ns += 10 * int(RETAIN_S * S)
    notice = p.sweep()
    assert notice is not None
    assert notice.client_order_ids == (poly.client_order_id,)
    assert list(c.ledger.orders) == [kalshi.client_order_id]  # AMBIGUOUS: still tracked
    assert c.ledger.orders[kalshi.client_order_id].phase is OrderPhase.AMBIGUOUS
    assert "amb" in c.seen_opportunities
    c.on_outcome(k1)  # its fills are still deduplicated
    assert c.fills_duplicate == 1
    assert held(c, KALSHI) == 5 * SIZE_ONE
    # The checkpoint (balances, positions, open orders, loss counters) is unchanged.
    after = c.checkpoint()
    assert timeless(after) == timeless(checkpoint)
    assert after.open_orders == (kalshi.client_order_id,)


def test_max_done_orders_retires_the_oldest_early_and_counts_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    c = retention_core(clock, max_done=3)
    ids = []
    for i in range(5):
        for it in accept(c, clock, f"cap{i}"):
            c.on_outcome(final(it, 0))
            ids.append(it.client_order_id)
        clock.ns += S
    live = [it.client_order_id for it in accept(c, clock, "still-live")]
    with caplog.at_level(logging.WARNING, logger="arbtree.trading.fund_manager"):
        notice = c.retire()  # none is older than retain_done_s: only the cap retires
    assert notice is not None
    assert list(notice.client_order_ids) == ids[:7]
    assert list(c.ledger.orders) == ids[7:] + live  # live orders never count or go
    assert c.statistics()["retention"]["retired_early"] == 7
    assert "retired before retain_done_s" in caplog.text
    assert c.ledger.conserved()


def test_retired_ids_are_a_bounded_fifo() -> None:
    ids = RetiredIds(capacity=2)
    ids.add("a", "va")
    ids.add("b", "")
    ids.add("c", "vc")
    assert (ids.match("a", ""), ids.match("", "va")) == ("", "")
    assert (ids.match("b", ""), ids.match("x", "vc")) == ("b", "vc")
    assert (len(ids), ids.forgotten) == (2, 1)
