"""The actors in the real supervision runtime: fund manager + executor against the sim,
HALTED, kill switch, reconciliation hold, live-mode refusal, watchdog restarts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import msgspec
import pytest
import trio

from actors.shutdown_phases import new_shutdown
from actors.sim.config import SimConfig
from actors.sim.venue import open_sim_venue
from actors.trading.http_clients import LiveModeRefused, Secret, build_clients, check_live_switches
from actors.trading.ladder import TradingState
from actors.trading_tree import build_trading_path
from protocols.config.trading import (
    ExecutorConfig,
    FundLimitsConfig,
    FundManagerConfig,
    HttpConfig,
    TradingConfig,
    TradingStateConfig,
    WatchdogConfig,
)
from protocols.messages import (
    Fill,
    Opportunity,
    OpportunityRecord,
    Venue,
)
from supervision import Actor, ActorContext, ChildSpec, Mailbox, OverflowPolicy, SupervisorSpec
from supervision.tree import open_tree
from tests.trading.channel_helpers import sim_arb

pytestmark = pytest.mark.slow


def trading_config(sim: Any, **fund: Any) -> TradingConfig:
    base = TradingConfig()
    ex = base.executor
    return TradingConfig(
        fund=FundManagerConfig(
            limits=FundLimitsConfig(max_opportunity_age_s=5.0),
            paper_balances={"polymarket": "10000", "kalshi": "10000"},
            **fund,
        ),
        executor=msgspec.structs.replace(
            ex,
            polymarket=msgspec.structs.replace(ex.polymarket, rest_url=sim.polymarket_rest_url),
            kalshi=msgspec.structs.replace(ex.kalshi, rest_url=sim.kalshi_rest_url),
            http=HttpConfig(read_timeout_s=1.0),
        ),
    )


async def wait_for(pred: Any) -> None:
    with trio.fail_after(5.0):
        while not pred():  # noqa: ASYNC110 - polling another actor's state
            await trio.sleep(0.01)


async def test_fund_manager_and_executor_trade_through_the_tree(tmp_path: Path) -> None:
    records: list[Any] = []
    async with open_sim_venue(SimConfig(seed=3, markets=2, rate=20.0, window_rate=0.0)) as sim:
        opps: Mailbox[Opportunity] = Mailbox("opps", 8, OverflowPolicy.BLOCK)
        kill = tmp_path / "KILL"
        cfg = trading_config(
            sim, state=TradingStateConfig(kill_switch_file=str(kill), kill_switch_poll_s=0.05)
        )
        spec, _, handles = build_trading_path(cfg, opportunities=opps, storage=records.append)
        root = SupervisorSpec(children=(ChildSpec(id="trading", start=spec),))
        with trio.fail_after(20):
            async with open_tree(root, name="t", shutdown=new_shutdown()) as tree:
                control = handles.control
                await wait_for(lambda: control.state is TradingState.ACTIVE)
                await opps.send(sim_arb(sim, "one"))
                await wait_for(
                    lambda: (
                        control.statistics()["fund_manager"]["fills"] == 2
                        and control.statistics()["executor"]["executions"]
                    )
                )
                stats = handles.statistics()
                assert stats["fund_manager"]["accepted"] == 1
                assert stats["fund_manager"]["conserved"] is True
                assert stats["executor"]["executions"] == {"complete": 1}
                # Kill switch: latched HALTED, and new opportunities are rejected at once.
                kill.write_text("stop")
                await wait_for(lambda: control.state is TradingState.HALTED)
                await opps.send(sim_arb(sim, "two"))
                await wait_for(
                    lambda: control.statistics()["fund_manager"]["rejects"]["trading_halted"] == 1
                )
                ok, message = handles.resume()
                assert not ok
                assert "kill_switch" in message
                kill.unlink()
                await wait_for(lambda: "kill_switch" not in control.ladder.holds)
                assert control.state is TradingState.HALTED  # latched
                assert handles.resume() == (True, "resumed")
                tree.request_shutdown("test over")
    decisions = [r.decision.value for r in records if isinstance(r, OpportunityRecord)]
    assert decisions == ["accepted", "rejected"]
    assert sum(isinstance(r, Fill) for r in records) == 0  # fills are wrapped in FillRecord


async def test_reconciliation_mismatch_keeps_trading_halted() -> None:
    async with open_sim_venue(SimConfig(seed=3, markets=1, rate=10.0, window_rate=0.0)) as sim:
        opps: Mailbox[Opportunity] = Mailbox("opps", 8, OverflowPolicy.BLOCK)
        cfg = trading_config(sim)
        from protocols.messages import FundCheckpointRecord, VenueBalance

        async def loader() -> FundCheckpointRecord:
            return FundCheckpointRecord(
                balances=(
                    VenueBalance(venue=Venue.KALSHI, cash=123_000_000, reserved=0),
                    VenueBalance(venue=Venue.POLYMARKET, cash=10_000_000_000, reserved=0),
                ),
                positions=(),
                open_orders=(),
                taken_ns=0,
                wall_ms=0,
            )

        spec, _, handles = build_trading_path(cfg, opportunities=opps, checkpoint_loader=loader)
        root = SupervisorSpec(children=(ChildSpec(id="trading", start=spec),))
        with trio.fail_after(20):
            async with open_tree(root, name="t", shutdown=new_shutdown()) as tree:
                control = handles.control
                await wait_for(lambda: "fund_manager" in control.stats_sources)
                await wait_for(lambda: "disagrees" in control.ladder.reason)
                assert control.state is TradingState.HALTED
                assert "kalshi cash: checkpoint 123 vs venue 10000" in control.ladder.reason
                ok, message = handles.resume()
                assert not ok
                assert "reconciliation" in message
                await opps.send(sim_arb(sim, "x"))
                await wait_for(
                    lambda: control.statistics()["fund_manager"]["rejects"]["not_reconciled"] == 1
                )
                assert not sim.exchange.orders
                tree.request_shutdown("test over")


def test_live_mode_refuses_without_both_switches() -> None:
    live_no_flag = ExecutorConfig(mode="live", live=False)
    with pytest.raises(LiveModeRefused, match=r"executor\.live = true"):
        check_live_switches(live_no_flag, {"ARBTREE_LIVE": "yes"})
    live_no_env = ExecutorConfig(mode="live", live=True)
    with pytest.raises(LiveModeRefused, match=r"ARBTREE_LIVE=yes"):
        check_live_switches(live_no_env, {})
    # Both switches but no keys: refuses with what is missing, never a key in the message.
    with pytest.raises(LiveModeRefused, match="KALSHI_API_KEY_ID"):
        build_clients(live_no_env, {"ARBTREE_LIVE": "yes"})
    assert repr(Secret("hunter2")) == "Secret('***')"
    assert "hunter2" not in f"{Secret('hunter2')}"


# ------------------------------------------------------------------ watchdog


@attrs.define(eq=False)
class Sleepy(Actor):
    """Heartbeats once, then goes silent (a hung actor)."""

    starts: list[int]

    async def run(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        self.starts.append(1)
        ctx.heartbeat()
        task_status.started()
        await trio.sleep_forever()


async def test_watchdog_restarts_silent_actor_and_escalates(
    autojump_clock: trio.testing.MockClock,
) -> None:
    starts: list[int] = []
    opps: Mailbox[Opportunity] = Mailbox("opps", 8, OverflowPolicy.BLOCK)
    cfg = TradingConfig(
        watchdog=WatchdogConfig(
            check_interval_s=0.1,
            restart_window_s=60.0,
            restarts_to_reducing=2,
            restarts_to_halted=4,
            restart_grace_s=0.1,
        )
    )
    _, watchdog_spec, handles = build_trading_path(cfg, opportunities=opps, clients=lambda: {})
    holder: dict[str, Any] = {}
    root = SupervisorSpec(
        children=(
            ChildSpec(id="sleepy", start=lambda: Sleepy(starts), heartbeat_timeout_s=1.0),
            watchdog_spec(lambda: holder["tree"]),
        ),
        max_restarts=100,
        max_seconds=1.0,
    )
    async with open_tree(root, name="w", shutdown=new_shutdown()) as tree:
        holder["tree"] = tree
        await trio.sleep(1.5)
        assert len(starts) >= 2  # restarted through its supervisor
        await trio.sleep(10.0)
        assert handles.control.state is TradingState.HALTED
        steps = [c.new for c in handles.control.ladder.history]
        assert steps == [TradingState.REDUCING, TradingState.HALTED]
        assert "restarts" in handles.control.ladder.reason
        stats = handles.control.statistics()["watchdog"]
        assert stats["restarts"] >= 4
        tree.request_shutdown("test over")


class Steady(Actor):
    """Heartbeats forever (a healthy actor)."""

    async def run(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        while True:
            ctx.heartbeat()
            await trio.sleep(0.1)


class Crashy(Actor):
    """Crashes a moment after each start (a failing actor)."""

    async def run(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        await trio.sleep(0.5)
        raise RuntimeError("crash")


async def test_operator_restarts_do_not_escalate_but_crashes_do(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Restarts asked for through the control endpoint (the tree it is given) are not
    failures: six in a minute leave trading ACTIVE; crashes restarted by the supervisor
    escalate as before."""
    cfg = TradingConfig(
        watchdog=WatchdogConfig(
            check_interval_s=0.1,
            restart_window_s=60.0,
            restarts_to_reducing=3,
            restarts_to_halted=6,
        )
    )
    _, watchdog_spec, handles = build_trading_path(
        cfg, opportunities=Mailbox("o", 8, OverflowPolicy.BLOCK), clients=lambda: {}
    )
    holder: dict[str, Any] = {}
    root = SupervisorSpec(
        children=(
            ChildSpec(id="steady", start=Steady, heartbeat_timeout_s=1.0),
            watchdog_spec(lambda: holder["tree"]),
        ),
        max_restarts=100,
        max_seconds=1.0,
    )
    async with open_tree(root, name="w") as tree:
        holder["tree"] = tree
        control_tree = handles.operator_restarts.wrap(tree)  # what the endpoint is given
        for _ in range(6):
            await control_tree.restart_child("w/steady", "operator")
            await trio.sleep(0.5)
        await trio.sleep(1.0)
        steady = next(n for n in tree.snapshot().nodes if n.path == "w/steady")
        assert steady.restarts_total == 6
        assert handles.control.state is TradingState.ACTIVE
        assert handles.control.statistics()["watchdog"]["restarts_in_window"] == 0
        tree.request_shutdown("test over")

    crash_root = SupervisorSpec(
        children=(
            ChildSpec(id="crashy", start=Crashy),
            watchdog_spec(lambda: holder["tree2"]),
        ),
        max_restarts=100,
        max_seconds=1.0,
    )
    async with open_tree(crash_root, name="c") as tree2:
        holder["tree2"] = tree2
        await trio.sleep(6.0)
        assert handles.control.state is TradingState.HALTED
        assert "restarts" in handles.control.ladder.reason
        tree2.request_shutdown("test over")
