"""User-channel actors against the simulated venue over loopback websockets: Polymarket's
user channel and Kalshi's ``fill`` channel feed ``Fill`` s into ``user_fills``; reconnect
after an abrupt close; undecodable frames are counted; wired through ``build_trading_path``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
import trio

from actors.shutdown_phases import new_shutdown
from actors.sim.config import FaultKind, SimConfig
from actors.sim.venue import open_sim_venue
from actors.trading.http_clients import build_clients
from actors.trading.user_channel import UserChannel, UserChannelState
from actors.trading_tree import build_trading_path
from protocols.config.trading import (
    FundLimitsConfig,
    FundManagerConfig,
    TradingConfig,
)
from protocols.fixed import SIZE_ONE, format_units
from protocols.messages import (
    Fill,
    InstrumentId,
    Opportunity,
    Outcome,
    Side,
    Venue,
)
from supervision import ActorContext, ChildSpec, Mailbox, OverflowPolicy, SupervisorSpec
from supervision.actor import NodeStatus
from supervision.tree import open_tree
from tests.trading.channel_helpers import (
    channel_opp,
    exec_config,
    fee_market,
    fund_stats,
    sim_arb,
    trading_quiet,
    until_trading,
)
from tests.trading.helpers import FAST_CHANNEL, buy_intent, until

pytestmark = pytest.mark.slow


def ctx(path: str) -> ActorContext:
    return ActorContext(
        path=path,
        log=logging.LoggerAdapter(logging.getLogger(path)),
        mailboxes={},
        shutdown=new_shutdown(),
        node=NodeStatus(),
    )


async def next_fill(fills: Mailbox[Fill], pred: Callable[[Fill], bool]) -> Fill:
    while True:
        fill = await fills.receive()
        if pred(fill):
            return fill


async def test_user_channels_deliver_fills_and_reconnect() -> None:
    async with open_sim_venue(SimConfig(seed=5, markets=2, rate=20.0, window_rate=0.0)) as sim:
        fills: Mailbox[Fill] = Mailbox("user_fills", 256, OverflowPolicy.BLOCK)
        state = UserChannelState()
        poly = UserChannel(
            venue=Venue.POLYMARKET,
            url=sim.polymarket_user_ws_url,
            fills=fills,
            config=FAST_CHANNEL,
            state=state,
        )
        kal = UserChannel(
            venue=Venue.KALSHI, url=sim.kalshi_ws_url, fills=fills, config=FAST_CHANNEL, state=state
        )
        clients = build_clients(exec_config(sim))
        m = sim.markets[0]
        p_inst = InstrumentId(venue=Venue.POLYMARKET, symbol=m.yes_token, outcome=Outcome.YES)
        k_inst = InstrumentId(venue=Venue.KALSHI, symbol=m.ticker, outcome=Outcome.NO)
        with trio.fail_after(15):
            async with trio.open_nursery() as nursery:
                await nursery.start(poly.run, ctx("t.user_channel_polymarket"))
                await nursery.start(kal.run, ctx("t.user_channel_kalshi"))
                await until(lambda: state.live(Venue.POLYMARKET) and state.live(Venue.KALSHI))

                p_status = await clients[Venue.POLYMARKET].place(buy_intent("p1", p_inst))
                pf = await next_fill(fills, lambda f: f.instrument.venue is Venue.POLYMARKET)
                assert pf.venue_order_id == p_status.venue_order_id  # type: ignore[union-attr]
                assert (pf.instrument.symbol, pf.side, pf.size) == (
                    m.yes_token,
                    Side.BUY,
                    5 * SIZE_ONE,
                )
                assert pf.fee_rate_bps == m.fee_rate_ppm // 100  # the venue's real rate

                k_intent = buy_intent("k1", k_inst)
                await clients[Venue.KALSHI].place(k_intent)
                kf = await next_fill(fills, lambda f: f.instrument.venue is Venue.KALSHI)
                assert kf.client_order_id == k_intent.client_order_id
                assert kf.instrument == k_inst
                assert kf.fee > 0  # Kalshi's fee_cost, exact

                # Abrupt close of every websocket: both reconnect and fills flow again.
                sim.faults.inject(FaultKind.WS_CLOSE)
                await until(lambda: poly.connects >= 2 and kal.connects >= 2)
                await until(lambda: state.live(Venue.POLYMARKET) and state.live(Venue.KALSHI))
                sim.faults.inject(FaultKind.WS_MALFORMED, count=4)
                k2 = buy_intent("k2", k_inst)
                await clients[Venue.KALSHI].place(k2)
                kf2 = await next_fill(fills, lambda f: f.client_order_id == k2.client_order_id)
                assert kf2.size == 5 * SIZE_ONE
                await until(lambda: poly.decode_errors > 0 and kal.decode_errors > 0)
                assert poly.disconnects >= 1
                assert kal.statistics()["decode_errors"] == kal.decode_errors
                nursery.cancel_scope.cancel()
        for client in clients.values():
            await client.aclose()


async def test_trading_tree_wires_user_channels_without_double_counting() -> None:
    async with open_sim_venue(SimConfig(seed=3, markets=2, rate=20.0, window_rate=0.0)) as sim:
        opps: Mailbox[Opportunity] = Mailbox("opps", 8, OverflowPolicy.BLOCK)
        cfg = TradingConfig(
            fund=FundManagerConfig(
                limits=FundLimitsConfig(max_opportunity_age_s=5.0, min_profit="0")
            ),
            executor=exec_config(sim, channels=True),
        )
        spec, _, handles = build_trading_path(cfg, opportunities=opps)
        ids = [c.id for c in spec.children]
        assert ids == ["fund_manager", "executor", "user_channel_polymarket", "user_channel_kalshi"]
        root = SupervisorSpec(children=(ChildSpec(id="trading", start=spec),))
        control = handles.control
        with trio.fail_after(20):
            async with open_tree(root, name="t", shutdown=new_shutdown()) as tree:
                await until_trading(handles, Venue.POLYMARKET, Venue.KALSHI)
                await opps.send(sim_arb(sim, "w1"))
                stats: dict[str, Any] = {}

                def settled() -> bool:
                    stats.update(control.statistics())
                    # Polymarket reports MATCHED then CONFIRMED; Kalshi one fill.
                    ch = stats.get("user_channel_polymarket", {}).get("fills", 0)
                    ck = stats.get("user_channel_kalshi", {}).get("fills", 0)
                    uf = handles.user_fills.statistics()
                    return (
                        stats["fund_manager"]["fills"] >= 2
                        and ch >= 2
                        and ck >= 1
                        and uf.received == uf.sent
                        and stats["executor"]["executions"]
                        and handles.outcomes.statistics().depth == 0
                    )

                await until(settled)
                fm = stats["fund_manager"]
                assert fm["fills"] == 2, fm  # channel and REST saw the same executions once
                assert stats["executor"]["executions"] == {"complete": 1}
                tree.request_shutdown("test over")


async def test_polymarket_fee_in_shares_keeps_the_ledger_equal_to_the_venue() -> None:
    """A Polymarket buy is charged its market's fee in shares: the ledger holds exactly
    what the venue holds, and an unwind of that position (partner leg failed) succeeds."""
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
            executor=msgspec.structs.replace(exec_config(sim, channels=True), max_leg_delay_s=2.0),
        )
        spec, _, handles = build_trading_path(cfg, opportunities=opps)
        root = SupervisorSpec(children=(ChildSpec(id="trading", start=spec),))
        control = handles.control
        held = sim.exchange.poly.positions

        def fm() -> dict[str, Any]:
            return fund_stats(handles)

        def ledger_shares() -> str:
            return str(fm()["positions"].get(poly.key(), "0"))

        def quiet() -> bool:
            return trading_quiet(handles)

        with trio.fail_after(20):
            async with open_tree(root, name="t", shutdown=new_shutdown()) as tree:
                await until_trading(handles, Venue.POLYMARKET)
                # 1. Both legs fill: 10 shares bought, fewer held (fee taken in shares).
                await opps.send(channel_opp("both", poly, kalshi, 990_000))
                await until(lambda: fm()["fills"] >= 2 and quiet())
                venue_shares = held[m.yes_token]
                assert 0 < venue_shares < 10 * SIZE_ONE
                assert ledger_shares() == format_units(venue_shares)
                assert fm()["fills_fee_estimated"] == 0  # the channel's real rate was used
                assert fm()["conserved"] is True
                # 2. The Kalshi leg cannot fill: the Polymarket leg is unwound from what
                # is really held (selling 10 would fail at the venue: not enough shares).
                await opps.send(channel_opp("alone", poly, kalshi, 10_000))
                await until(
                    lambda: (
                        control.statistics()["executor"]["executions"].get("unwound", 0)
                        + control.statistics()["executor"]["executions"].get("naked", 0)
                        >= 1
                        and quiet()
                    )
                )
                executions = control.statistics()["executor"]["executions"]
                assert executions == {"complete": 1, "unwound": 1}, executions
                # Back to what the first trade left (dust below one 0.01 step at most).
                assert held[m.yes_token] - venue_shares < 10_000
                assert ledger_shares() == format_units(held[m.yes_token])
                assert fm()["conserved"] is True
                tree.request_shutdown("test over")
