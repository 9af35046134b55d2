"""A Polymarket trade reported FAILED after it was MATCHED (settlement failed on chain) is
taken back out of the books exactly once by fill id, counted, logged at warning, and moves
the ladder to REDUCING; hand-built fills through the fund manager and the executor's fill
tracker, and the real sequence over the simulated venue's user channel."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
import pytest
import trio

from actors.shutdown_phases import new_shutdown
from actors.sim.config import FaultKind, SimConfig
from actors.sim.venue import open_sim_venue
from actors.trading.fill_tracker import FillTracker
from actors.trading.fund_core import FundCore
from actors.trading.ladder import TradingState
from actors.trading.messages import ExecutionRequest
from actors.trading_tree import build_trading_path
from protocols.config.trading import FundLimitsConfig, FundManagerConfig, TradingConfig
from protocols.fixed import CASH_ONE, SIZE_ONE
from protocols.messages import (
    Fill,
    FillStatus,
    InstrumentId,
    Liquidity,
    Opportunity,
    Outcome,
    Side,
    Venue,
)
from supervision import ChildSpec, Mailbox, OverflowPolicy, SupervisorSpec
from supervision.tree import open_tree
from tests.trading.channel_helpers import (
    channel_opp,
    exec_config,
    fee_market,
    fund_stats,
    trading_quiet,
    until_trading,
)
from tests.trading.helpers import POLY, core, opp, until


def poly_fill(
    coid: str,
    fid: str,
    *,
    side: Side = Side.BUY,
    price: int = 450_000,
    size: int = 10 * SIZE_ONE,
    status: FillStatus = FillStatus.MATCHED,
    rate_bps: int = 300,
) -> Fill:
    return Fill(
        fill_id=fid,
        venue_order_id="0xorder",
        client_order_id=coid,
        instrument=POLY,
        side=side,
        price=price,
        size=size,
        fee=-1,
        liquidity=Liquidity.TAKER,
        status=status,
        venue_ts_ms=0,
        recv_ns=0,
        fee_rate_bps=rate_bps,
    )


def failed(f: Fill) -> Fill:
    return msgspec.structs.replace(f, status=FillStatus.FAILED)


def accepted(c: FundCore) -> tuple[str, str]:
    req = c.decide(opp())
    assert isinstance(req, ExecutionRequest)
    return req.intents[0].client_order_id, req.intents[1].client_order_id


def snapshot(c: FundCore) -> tuple[Any, ...]:
    led = c.ledger
    pos = led.positions.get(POLY)
    return (
        dict(led.cash),
        led.fees_paid,
        led.realized_pnl,
        led.daily_loss(),
        (pos.size, pos.cost, pos.realized) if pos else (0, 0, 0),
    )


def test_failed_after_matched_reverses_the_fill_once(caplog: pytest.LogCaptureFixture) -> None:
    c = core()
    poly_coid, _ = accepted(c)
    before = snapshot(c)
    matched = poly_fill(poly_coid, "trade-1")
    c.on_outcome(matched)
    assert c.ledger.positions[POLY].size > 0
    assert c.ledger.fees_paid > 0  # Polymarket buy: the fee taken in shares
    assert c.ledger.orders[poly_coid].filled == 10 * SIZE_ONE
    with caplog.at_level(logging.WARNING, logger="arbtree.trading.fund_manager"):
        c.on_outcome(failed(matched))
    cash, fees, realized, loss, pos = snapshot(c)
    # The cash the fill took (all of the leg's reservation) is free again.
    assert before[0][Venue.POLYMARKET] < 1000 * CASH_ONE
    assert cash[Venue.POLYMARKET] == 1000 * CASH_ONE
    assert c.ledger.reserved[Venue.POLYMARKET] == 0
    assert (fees, realized, loss, pos) == (0, 0, 0, (0, 0, 0))
    assert c.ledger.orders[poly_coid].filled == 0
    assert c.ledger.conserved()
    assert c.control.state is TradingState.REDUCING
    assert "trade-1 failed settlement" in c.control.ladder.reason
    assert any(
        r.levelno == logging.WARNING
        and "trade-1" in r.getMessage()
        and "reversed" in r.getMessage()
        for r in caplog.records
    )
    stats = c.statistics()
    assert (stats["fills_failed"], stats["fills_reversed"], stats["fills_failed_unbooked"]) == (
        1,
        1,
        0,
    )
    # The same FAILED again, and the CONFIRMED that can no longer come, change nothing.
    after = snapshot(c)
    c.on_outcome(failed(matched))
    c.on_outcome(msgspec.structs.replace(matched, status=FillStatus.CONFIRMED))
    assert snapshot(c) == after
    assert c.statistics()["fills_reversed"] == 1
    assert c.fills_duplicate == 2


def test_reversal_with_later_fills_keeps_them_and_conservation() -> None:
    c = core()
    poly_coid, _ = accepted(c)
    a = poly_fill(poly_coid, "a", price=400_000, rate_bps=0)
    b = poly_fill(poly_coid, "b", price=600_000, rate_bps=0, size=5 * SIZE_ONE)
    s = poly_fill("unwind-x", "s", side=Side.SELL, price=500_000, size=5 * SIZE_ONE, rate_bps=0)
    for f in (a, b, s):
        c.on_outcome(f)
    realized_before = c.ledger.realized_pnl
    c.on_outcome(failed(b))
    pos = c.ledger.positions[POLY]
    assert pos.size == 5 * SIZE_ONE  # 10 + 5 - 5, minus the 5 that never settled
    assert c.ledger.conserved()
    assert c.ledger.realized_pnl == realized_before  # b opened shares: it realized nothing
    # A failed sell gives back the cash it brought in and the PnL it realized.
    c.on_outcome(failed(s))
    assert c.ledger.positions[POLY].size == 10 * SIZE_ONE
    assert c.ledger.realized_pnl == 0
    assert c.ledger.conserved()
    assert c.statistics()["fills_reversed"] == 2


def test_failed_sell_that_was_a_profit_counts_against_the_daily_loss() -> None:
    c = core(daily_loss_limit=1 * CASH_ONE)
    poly_coid, _ = accepted(c)
    c.on_outcome(poly_fill(poly_coid, "buy", price=400_000, rate_bps=0))
    loss = poly_fill("uw", "loss", side=Side.SELL, price=300_000, size=5 * SIZE_ONE, rate_bps=0)
    gain = poly_fill("uw", "gain", side=Side.SELL, price=600_000, size=5 * SIZE_ONE, rate_bps=0)
    c.on_outcome(loss)  # -0.50
    c.on_outcome(gain)  # +1.00
    assert c.ledger.daily_loss() == -500_000
    assert c.control.state is TradingState.ACTIVE
    c.on_outcome(failed(gain))  # the +1.00 never happened
    assert c.ledger.daily_loss() == 500_000
    assert c.ledger.conserved()


def test_failed_report_of_an_unbooked_fill_changes_nothing_but_reduces() -> None:
    c = core()
    poly_coid, _ = accepted(c)
    before = snapshot(c)
    never = poly_fill(poly_coid, "ghost")
    c.on_outcome(failed(never))
    assert snapshot(c) == before
    assert c.statistics()["fills_failed_unbooked"] == 1
    assert c.control.state is TradingState.REDUCING
    c.on_outcome(never)  # its MATCHED arriving late is not booked either
    assert snapshot(c) == before


def test_fill_tracker_forwards_a_failed_report_once() -> None:
    tracker = FillTracker()
    tracker.link("coid-1", "0xorder")
    matched = msgspec.structs.replace(poly_fill("", "t"), client_order_id="")
    first = tracker.from_channel(matched)
    assert first is not None
    assert first.client_order_id == "coid-1"
    confirmed = msgspec.structs.replace(matched, status=FillStatus.CONFIRMED)
    assert tracker.from_channel(confirmed) is None
    out = tracker.from_channel(failed(matched))
    assert out is not None
    assert (out.status, out.client_order_id, out.fill_id) == (FillStatus.FAILED, "coid-1", "t")
    assert tracker.from_channel(failed(matched)) is None
    assert tracker.emitted["coid-1"] == 10 * SIZE_ONE  # the watermark is not rewound


@pytest.mark.slow
async def test_trade_failed_on_the_user_channel_is_reversed_in_the_books() -> None:
    """The sim settles the next Polymarket trade FAILED (MATCHED, then FAILED; its account
    as before the trade): the fund manager's position and cash follow the venue's."""
    config = SimConfig(seed=3, markets=4, rate=20.0, window_rate=0.0)
    async with open_sim_venue(config) as sim:
        m = fee_market(sim)
        poly = InstrumentId(venue=Venue.POLYMARKET, symbol=m.yes_token, outcome=Outcome.YES)
        kalshi = InstrumentId(venue=Venue.KALSHI, symbol=m.ticker, outcome=Outcome.NO)
        opps: Mailbox[Opportunity] = Mailbox("opps", 8, OverflowPolicy.BLOCK)
        cfg = TradingConfig(
            fund=FundManagerConfig(
                limits=FundLimitsConfig(max_opportunity_age_s=5.0, min_profit="0")
            ),
            executor=exec_config(sim, channels=True),
        )
        spec, _, handles = build_trading_path(cfg, opportunities=opps)
        root = SupervisorSpec(children=(ChildSpec(id="trading", start=spec),))
        control = handles.control
        venue_cash = sim.exchange.poly.cash

        def fm() -> dict[str, Any]:
            return fund_stats(handles)

        def quiet() -> bool:
            return trading_quiet(handles)

        with trio.fail_after(20):
            async with open_tree(root, name="t", shutdown=new_shutdown()) as tree:
                await until_trading(handles, Venue.POLYMARKET)
                cash_before = fm()["cash"]["polymarket"]
                sim.faults.inject(FaultKind.POLY_TRADE_FAILED, count=1)
                await opps.send(channel_opp("fails", poly, kalshi, 990_000))
                await until(lambda: fm()["fills_reversed"] >= 1 and quiet())
                stats = fm()
                assert control.statistics()["executor"]["executions"] == {"complete": 1}
                assert sim.exchange.poly.positions.get(m.yes_token, 0) == 0
                assert sim.exchange.poly.cash == venue_cash
                assert poly.key() not in stats["positions"]  # the venue holds none either
                assert stats["cash"]["polymarket"] == cash_before
                assert stats["fees_paid"] != "0"  # the Kalshi leg's fee stays booked
                assert kalshi.key() in stats["positions"]
                assert (stats["fills_failed"], stats["fills_reversed"]) == (1, 1)
                assert stats["conserved"] is True
                assert control.state is TradingState.REDUCING
                tree.request_shutdown("test over")
