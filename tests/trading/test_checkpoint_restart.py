"""The fund checkpoint carries fees paid and today's daily-loss counters: a fund-manager
restart within the same UTC day keeps the daily loss limit where it stood; a restart on a
new day starts the day from zero (fees paid since the start are kept either way)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import trio

from actors.trading.fund_core import FundCore
from actors.trading.fund_manager import load_checkpoint_file, save_checkpoint_file
from actors.trading.ladder import TradingState
from actors.trading.messages import ExecutionRequest
from protocols.fixed import CASH_ONE, SIZE_ONE
from protocols.messages import (
    Fill,
    FillStatus,
    FundCheckpointRecord,
    Liquidity,
    OrderState,
    Side,
)
from tests.trading.day_helpers import DAY_MS, NOON, WallClock, fill, fresh_core
from tests.trading.helpers import POLY, core, opp


def losing_day(clock: WallClock, **over: int) -> FundCore:
    """Bought 10 at 0.50 and sold them at 0.40 (loss 1.00) with 0.20 + 0.10 in fees."""
    c = core(**over)
    c.wall_ms = clock
    c.day = clock() // DAY_MS
    req = c.decide(opp())
    assert isinstance(req, ExecutionRequest)
    c.on_outcome(fill(req.intents[1].client_order_id, Side.BUY, 500_000, 200_000, "b1"))
    c.on_outcome(fill("unwind-1", Side.SELL, 400_000, 100_000, "s1"))
    for intent in req.intents:  # the execution is over: nothing left in flight
        c.ledger.release(intent.client_order_id, OrderState.FILLED)
    assert c.ledger.daily_loss() == 1_300_000
    assert c.ledger.fees_paid == 300_000
    return c


def test_restart_within_the_day_keeps_daily_loss_and_fees() -> None:
    clock = WallClock(NOON)
    before = losing_day(clock, daily_loss_limit=2 * CASH_ONE)
    cp = before.checkpoint()
    assert (cp.fees_paid, cp.day_fees, cp.day_realized) == (300_000, 300_000, -1_000_000)
    assert cp.loss_day == NOON // DAY_MS
    clock.ms += 3_600_000  # restarted an hour later, same UTC day
    after = fresh_core(clock, daily_loss_limit=2 * CASH_ONE)
    assert after.reconcile(cp, {}, {}, 0) == []
    assert after.ledger.daily_loss() == 1_300_000
    assert after.ledger.fees_paid == 300_000
    assert after.ledger.conserved()
    assert after.statistics()["daily_loss"] == "1.3"
    # The limit counts what was lost before the restart: 0.70 more reaches 2.00.
    after.on_outcome(fill("x", Side.BUY, 500_000, 0, "b2"))
    after.on_outcome(fill("y", Side.SELL, 430_000, 0, "s2"))
    assert after.ledger.daily_loss() == 2_000_000
    assert after.control.state is TradingState.HALTED
    assert "daily loss" in after.control.ladder.reason


def test_restart_over_the_limit_halts_at_reconciliation() -> None:
    clock = WallClock(NOON)
    before = losing_day(clock, daily_loss_limit=1 * CASH_ONE)
    assert before.control.state is TradingState.HALTED
    after = fresh_core(clock, daily_loss_limit=1 * CASH_ONE)  # a new process: a new ladder
    assert after.control.state is TradingState.ACTIVE
    assert after.reconcile(before.checkpoint(), {}, {}, 0) == []
    assert after.control.state is TradingState.HALTED
    assert "daily loss 1.3 >= limit 1" in after.control.ladder.reason


def test_restart_on_a_new_day_starts_the_day_from_zero() -> None:
    clock = WallClock(NOON)
    cp = losing_day(clock, daily_loss_limit=1 * CASH_ONE).checkpoint()
    clock.ms += DAY_MS // 2 + 1  # 00:00:00.001 the next day
    after = fresh_core(clock, daily_loss_limit=1 * CASH_ONE)
    assert after.reconcile(cp, {}, {}, 0) == []
    assert after.ledger.daily_loss() == 0
    assert after.ledger.fees_paid == 300_000  # lifetime fees are not daily
    assert after.control.state is TradingState.ACTIVE
    assert after.ledger.conserved()


def test_checkpoint_taken_after_midnight_does_not_carry_yesterday() -> None:
    """The day rolls before the checkpoint is taken, even with no fill since midnight."""
    clock = WallClock(NOON)
    c = losing_day(clock)
    clock.ms += DAY_MS // 2 + 5
    cp = c.checkpoint()
    assert (cp.loss_day, cp.day_fees, cp.day_realized) == (NOON // DAY_MS + 1, 0, 0)
    assert cp.fees_paid == 300_000


def test_old_checkpoint_without_the_new_fields_still_decodes() -> None:
    old = (
        b'{"balances":[{"venue":"kalshi","cash":5,"reserved":0}],"positions":[],'
        b'"open_orders":[],"taken_ns":1,"wall_ms":2}'
    )
    cp = msgspec.json.decode(old, type=FundCheckpointRecord)
    assert (cp.fees_paid, cp.day_fees, cp.day_realized, cp.loss_day) == (0, 0, 0, -1)
    after = fresh_core(WallClock(NOON))
    assert after.reconcile(cp, {}, {}, 0) == []
    assert after.ledger.daily_loss() == 0


async def test_checkpoint_file_round_trip_keeps_the_new_fields(tmp_path: Path) -> None:
    clock = WallClock(NOON)
    cp = losing_day(clock).checkpoint()
    path = str(tmp_path / "fund.json")
    await save_checkpoint_file(path, cp)
    loaded = await load_checkpoint_file(path)
    assert loaded == cp
    assert await trio.Path(path).exists()


def test_positions_and_polymarket_leg_survive_unchanged() -> None:
    clock = WallClock(NOON)
    c = losing_day(clock)
    req = c.decide(opp())
    assert isinstance(req, ExecutionRequest)
    coid = req.intents[0].client_order_id
    poly_fill = Fill(
        fill_id="p1",
        venue_order_id="v",
        client_order_id=coid,
        instrument=POLY,
        side=Side.BUY,
        price=450_000,
        size=10 * SIZE_ONE,
        fee=0,
        liquidity=Liquidity.TAKER,
        status=FillStatus.MATCHED,
        venue_ts_ms=0,
        recv_ns=0,
    )
    c.on_outcome(poly_fill)
    cp = c.checkpoint()
    after = fresh_core(clock)
    assert after.reconcile(cp, {}, {}, 0) == []
    assert after.ledger.positions[POLY].size == c.ledger.positions[POLY].size
    assert after.ledger.realized_pnl == c.ledger.realized_pnl
    assert after.ledger.fees_paid == c.ledger.fees_paid
