"""A fund manager restarted after trades rebuilds its books from the journal's base plus
everything applied since (not from a checkpoint up to an interval old), agrees with the
venue (the sim serves both venues' positions) and trades on; the run-long counts cover
every incarnation. Where books and venue still disagree, ``adopt-venue`` takes the venue
as the truth and writes the difference down. The whole trading subtree against the sim
over loopback, on trio's virtual clock."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
import trio
import trio.testing

from actors.shutdown_phases import new_shutdown
from actors.sim.config import SimConfig
from actors.sim.venue import SimVenue, open_sim_venue
from actors.trading.ladder import TradingState
from actors.trading_tree import TradingHandles, build_trading_path
from protocols.config.trading import (
    FundLimitsConfig,
    FundManagerConfig,
    HttpConfig,
    TradingConfig,
)
from protocols.fixed import CASH_ONE, SIZE_ONE
from protocols.messages import FundCheckpointRecord, InstrumentId, Opportunity, Outcome, Venue
from supervision import ChildSpec, Mailbox, OverflowPolicy, SupervisorSpec
from supervision.tree import open_tree
from tests.trading.channel_helpers import exec_config, until_trading
from tests.trading.helpers import until
from tests.trading.restart_helpers import arb, open_run, vclock

pytestmark = pytest.mark.slow

FUND = "t/trading/fund_manager"


def fund(handles: TradingHandles) -> Any:
    return handles.control.stats_sources["fund_manager"].__self__  # type: ignore[attr-defined]


def venue_positions(sim: SimVenue) -> dict[str, int]:
    ex = sim.exchange
    out = {
        InstrumentId(venue=Venue.POLYMARKET, symbol=k, outcome=Outcome(ex.tokens[k][1])).key(): v
        for k, v in ex.poly.positions.items()
        if v
    }
    for key, v in ex.kalshi.positions.items():
        ticker, _, side = key.rpartition(":")
        if v:
            out[InstrumentId(venue=Venue.KALSHI, symbol=ticker, outcome=Outcome(side)).key()] = v
    return out


def books_positions(handles: TradingHandles) -> dict[str, int]:
    return {i.key(): p.size for i, p in fund(handles).core.ledger.positions.items() if p.size}


def quiet(handles: TradingHandles, fills: int) -> bool:
    ex = handles.control.statistics()["executor"]
    return (
        handles.tally.fills >= fills
        and ex["in_flight"] == 0
        and handles.outcomes.statistics().depth == 0
        and not fund(handles).core.ledger.live
    )


async def test_fund_manager_restart_after_trades_agrees_with_the_venue(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # No checkpoint between the trades and the restart.
    async with open_run(checkpoint_interval_s=3600.0) as (run, tree, opps):
        sim, handles, poly, kalshi = run.sim, run.handles, run.poly, run.kalshi
        await until_trading(handles, Venue.POLYMARKET, Venue.KALSHI)
        for i in range(2):
            await opps.send(arb(f"before-{i}", poly, kalshi))
            await until(lambda i=i: quiet(handles, 2 * (i + 1)))  # type: ignore[misc]
        held = venue_positions(sim)
        assert held
        assert books_positions(handles) == held
        first = fund(handles)
        await tree.restart_child(FUND, "operator restart (test)")
        await until(lambda: fund(handles) is not first)
        await until(lambda: not handles.control.ladder.holds)
        assert fund(handles).last_reconcile_problems == []
        assert handles.control.state is TradingState.ACTIVE
        assert books_positions(handles) == held
        assert fund(handles).core.ledger.conserved()
        assert handles.journal.rebuilds >= 1
        # Trading resumes: a third execution is accepted and filled.
        await until_trading(handles, Venue.POLYMARKET, Venue.KALSHI)
        await opps.send(arb("after", poly, kalshi))
        await until(lambda: quiet(handles, 6))
        assert books_positions(handles) == venue_positions(sim)
        led = fund(handles).core.ledger
        assert led.cash[Venue.KALSHI] + led.reserved[Venue.KALSHI] == sim.exchange.kalshi.cash
        assert led.cash[Venue.POLYMARKET] == sim.exchange.poly.cash
        # Counted across both incarnations (the tally of records).
        stats = handles.statistics()
        assert stats["tally"]["opportunities_accepted"] == 3
        assert stats["tally"]["fills"] == 6
        assert stats["tally"]["orders"] == 6
        assert stats["tally"]["orders_by_state"] == {"filled": 6}
        assert stats["executor"]["orders"]["sent"] == 6


async def test_adopt_venue_takes_the_venue_as_truth_and_writes_it_down(
    autojump_clock: trio.testing.MockClock,
) -> None:
    records: list[Any] = []
    async with open_sim_venue(SimConfig(seed=3, markets=2, rate=1.0, window_rate=0.0)) as sim:
        ex = msgspec.structs.replace(
            exec_config(sim), http=HttpConfig(read_timeout_s=1.0, keep_warm_s=0)
        )
        cfg = TradingConfig(fund=FundManagerConfig(limits=FundLimitsConfig()), executor=ex)
        opps: Mailbox[Opportunity] = Mailbox("opps", 8, OverflowPolicy.BLOCK)
        spec, _, handles = build_trading_path(
            cfg, opportunities=opps, storage=records.append, clock_ns=vclock
        )
        root = SupervisorSpec(children=(ChildSpec(id="trading", start=spec),))
        with trio.fail_after(120):
            async with open_tree(root, name="t", shutdown=new_shutdown()) as tree:
                await until(lambda: not handles.control.ladder.holds)
                # Money moved at the venue behind the books' back (a deposit, a token
                # received): the restarted fund manager cannot agree.
                sim.exchange.kalshi.cash += 7 * CASH_ONE
                sim.exchange.poly.positions[sim.markets[0].yes_token] = 3_000_000
                await tree.restart_child(FUND, "operator restart (test)")
                await until(lambda: "reconciliation" in handles.control.ladder.holds)
                await until(lambda: bool(fund(handles).last_reconcile_problems))
                problems = "; ".join(fund(handles).last_reconcile_problems)
                assert "kalshi cash" in problems
                assert "polymarket positions" in problems
                assert handles.resume()[0] is False
                checkpoints = sum(isinstance(r, FundCheckpointRecord) for r in records)
                ok, message = await handles.adopt_venue("operator: venue is right")
                assert ok, message
                assert "kalshi cash 10000.000000 -> 10007.000000" not in message  # units
                assert "kalshi cash 10000 -> 10007" in message
                assert "-> 3 (cost unknown: 0)" in message
                assert "capital" in message
                assert not handles.control.ladder.holds
                assert handles.control.state is TradingState.ACTIVE
                led = fund(handles).core.ledger
                assert led.cash[Venue.KALSHI] == sim.exchange.kalshi.cash
                assert books_positions(handles) == venue_positions(sim)
                assert led.conserved()
                # Written down: a checkpoint row of the adopted books.
                assert sum(isinstance(r, FundCheckpointRecord) for r in records) == checkpoints + 1
                last = [r for r in records if isinstance(r, FundCheckpointRecord)][-1]
                assert {b.venue: b.cash for b in last.balances}[Venue.KALSHI] == (
                    sim.exchange.kalshi.cash
                )
                tree.request_shutdown("test over")


def test_kalshi_is_compared_as_it_reports_net_positions_and_whole_cents() -> None:
    """Kalshi reports one signed position per market and its balance in cents: books that
    hold both sides of a ticker, and sub-cent cash from fees, agree with that report."""
    from actors.trading.ledger import Ledger, PositionState
    from actors.trading.reconciliation import compare_with_venues
    from actors.trading.venue_clients import AccountSnapshot

    yes = InstrumentId(venue=Venue.KALSHI, symbol="KX-1", outcome=Outcome.YES)
    no = InstrumentId(venue=Venue.KALSHI, symbol="KX-1", outcome=Outcome.NO)
    led = Ledger.with_balances({Venue.KALSHI: 9_340_393_300})  # 9340.3933
    led.positions[yes] = PositionState(300_000_000, 120_000_000)
    led.positions[no] = PositionState(441_000_000, 200_000_000)
    venue = AccountSnapshot(
        venue=Venue.KALSHI,
        cash=9_340_390_000,  # 9340.39
        open_orders=(),
        positions={no.key(): 141_000_000},
    )
    assert compare_with_venues(led, set(), {Venue.KALSHI: venue}, 0, venues=(Venue.KALSHI,)) == []
    off = AccountSnapshot(
        venue=Venue.KALSHI, cash=9_340_380_000, open_orders=(), positions={no.key(): 140_000_000}
    )
    problems = compare_with_venues(led, set(), {Venue.KALSHI: off}, 0, venues=(Venue.KALSHI,))
    assert problems == [
        "kalshi cash: checkpoint 9340.3933 vs venue 9340.38",
        "kalshi positions: checkpoint {kalshi:KX-1:no=141} vs venue {kalshi:KX-1:no=140}",
    ]


async def test_flatten_sells_what_the_books_hold_beyond_the_hedge(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Three NO contracts more than the pair's YES (adopted from the venue after they
    appeared there): ``flatten`` sells exactly those, at any price, and leaves the pair."""
    async with open_run() as (run, tree, opps):
        sim, handles, poly, kalshi = run.sim, run.handles, run.poly, run.kalshi
        m = next(m for m in sim.markets if m.ticker == kalshi.symbol)
        await until_trading(handles, Venue.POLYMARKET, Venue.KALSHI)
        await opps.send(arb("pair", poly, kalshi))
        await until(lambda: quiet(handles, 2))
        key = f"{m.ticker}:no"
        assert sim.exchange.kalshi.positions[key] == 10 * SIZE_ONE
        ok, message = await handles.flatten()
        # Hedged: what the fee in shares leaves (under one contract) is no order.
        assert message == "0 legs unwound, all flat"
        sim.exchange.kalshi.positions[key] += 3 * SIZE_ONE
        await tree.restart_child(FUND, "operator restart (test)")
        await until(lambda: bool(fund(handles).last_reconcile_problems))
        assert (await handles.adopt_venue("three contracts from elsewhere"))[0]
        ok, message = await handles.flatten()
        assert ok
        assert message == "1 legs unwound, all flat"
        await until(lambda: quiet(handles, 3))
        assert sim.exchange.kalshi.positions[key] == 10 * SIZE_ONE
        assert books_positions(handles) == venue_positions(sim)
        assert sim.exchange.poly.positions[m.yes_token] > 9 * SIZE_ONE  # pair kept


def test_a_journal_that_cannot_be_replayed_falls_back_to_the_checkpoint() -> None:
    """A replay that fails (here: a reservation the base cannot cover) is logged and the
    checkpoint path is taken; it never crashes every incarnation in turn."""
    from actors.trading.fund_journal import FundJournal
    from actors.trading.messages import ExecutionRequest
    from tests.trading.helpers import core, opp

    journal = FundJournal()
    base = core(cash=1 * CASH_ONE)
    journal.mark(base, base.checkpoint())
    rich = core()
    req = rich.decide(opp())
    assert isinstance(req, ExecutionRequest)
    journal.record(req)  # reserves more than the base holds
    fresh = core()
    assert fresh.reconcile_rebuilt(journal, {}, 0) is None
