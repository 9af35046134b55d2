"""Retention, configured and run by the actors: ``[trading.fund.retention]`` decoding, and
the fund manager's sweep retiring orders on its timer with the executor following (the
books' rules themselves are in test_retention.py)."""

from __future__ import annotations

import functools
from typing import Any

import pytest
import trio
import trio.testing

from actors.shutdown_phases import new_shutdown
from actors.sim.config import SimConfig
from actors.sim.venue import open_sim_venue
from actors.trading.ladder import TradingState
from actors.trading_tree import build_trading_path
from arbtree.config import AppConfig, load_app_config
from protocols.config.load import ConfigError, decode_config
from protocols.config.trading import (
    FundLimitsConfig,
    FundManagerConfig,
    RetentionConfig,
    TradingConfig,
)
from protocols.messages import (
    FillRecord,
    InstrumentId,
    Opportunity,
    Outcome,
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
from tests.trading.helpers import until

# ------------------------------------------------------------------ configuration


def test_retention_is_configured_under_trading_fund_retention() -> None:
    cfg = decode_config(
        "[trading.fund.retention]\nretain_done_s = 7200.0\nmax_done_orders = 5000\n"
        "sweep_interval_s = 5.0\nremember_retired = 10\n",
        AppConfig,
    )
    assert cfg.trading.fund.retention == RetentionConfig(
        retain_done_s=7200.0, max_done_orders=5000, sweep_interval_s=5.0, remember_retired=10
    )
    assert load_app_config(None).trading.fund.retention == RetentionConfig()
    assert RetentionConfig().retain_done_s == 3600.0


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('retain_done_s = "1h"', "trading.fund.retention.retain_done_s: Expected `float`"),
        ("retain_done_s = 0.0", "trading.fund.retention.retain_done_s: Expected `float` > 0"),
        ("max_done_orders = 0", "trading.fund.retention.max_done_orders: Expected `int` >= 1"),
        ("keep = 1", "trading.fund.retention.keep: unknown key"),
        ("retain_done_s = 0.25", "retain_done_s must be greater than limits.max_opportunity"),
    ],
)
def test_retention_config_errors_name_the_key(toml: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("`", ".")):
        decode_config(f"[trading.fund.retention]\n{toml}\n", AppConfig)


# ------------------------------------------------------------------ the actors


def vclock() -> int:
    return int(trio.current_time() * 1e9)


@pytest.mark.slow
async def test_actors_retire_on_the_fund_managers_timer_and_the_executor_follows(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The whole trading subtree against the sim (REST and both user channels), on trio's
    virtual clock: the fund manager's sweep retires each execution's orders
    ``retain_done_s`` after they ended and hands them to the executor, which drops its
    watermarks; then a user-channel fill replayed for a retired order is not booked."""
    retain_s, sweep_s, n = 60.0, 5.0, 6
    records: list[Any] = []
    async with open_sim_venue(SimConfig(seed=3, markets=4, rate=1.0, window_rate=0.0)) as sim:
        m = fee_market(sim)
        poly = InstrumentId(venue=Venue.POLYMARKET, symbol=m.yes_token, outcome=Outcome.YES)
        kalshi = InstrumentId(venue=Venue.KALSHI, symbol=m.ticker, outcome=Outcome.NO)
        opps: Mailbox[Opportunity] = Mailbox("opps", 8, OverflowPolicy.BLOCK)
        cfg = TradingConfig(
            fund=FundManagerConfig(
                limits=FundLimitsConfig(max_opportunity_age_s=5.0, min_profit="0"),
                retention=RetentionConfig(retain_done_s=retain_s, sweep_interval_s=sweep_s),
            ),
            executor=exec_config(sim, channels=True),
        )
        spec, _, handles = build_trading_path(
            cfg, opportunities=opps, storage=records.append, clock_ns=vclock
        )
        root = SupervisorSpec(children=(ChildSpec(id="trading", start=spec),))

        def fm() -> dict[str, Any]:
            return fund_stats(handles)

        def tracker() -> dict[str, Any]:
            return dict(handles.control.statistics()["executor"]["fill_tracker"])

        def settled(executions: int) -> bool:  # both legs of each filled and DONE
            ret = fm()["retention"]
            orders = ret["done"] + ret["retired_orders"]
            return (
                fm()["fills"] >= 2 * executions
                and orders == 2 * executions
                and (trading_quiet(handles))
            )

        with trio.fail_after(3600):
            async with open_tree(root, name="t", shutdown=new_shutdown()) as tree:
                await until_trading(handles, Venue.POLYMARKET, Venue.KALSHI)
                ended: list[float] = []
                for i in range(n):
                    legs = channel_opp(f"r{i}", poly, kalshi, 990_000).legs
                    now = vclock()
                    await opps.send(
                        Opportunity(
                            opportunity_id=f"r{i}",
                            strategy="t",
                            legs=legs,
                            expected_edge=1,
                            fees=0,
                            venue_ts_ms=0,
                            recv_ns=now,
                            detect_ns=now,
                        )
                    )
                    await until(functools.partial(settled, i + 1))
                    ended.append(trio.current_time())
                    # Kept: exactly the orders that ended less than retain_done_s (plus at
                    # most one sweep) ago.
                    now_s = trio.current_time()
                    recent = sum(now_s - t < retain_s for t in ended)
                    older = sum(now_s - t >= retain_s + sweep_s for t in ended)
                    kept = fm()["retention"]["orders"]
                    assert 2 * recent <= kept <= 2 * (len(ended) - older)
                    assert tracker()["watermarks"] <= kept
                    await trio.sleep(25.0)
                await trio.sleep(retain_s + 2 * sweep_s)
                ret = fm()["retention"]
                assert (
                    ret["orders"],
                    ret["seen_fills"],
                    ret["booked_fills"],
                    ret["opportunities"],
                ) == (0, 0, 0, 0)
                assert ret["retired_orders"] == 2 * n
                assert ret["notices_sent"] >= 1
                assert ret["notice_pending"] == 0
                assert tracker() == {
                    "watermarks": 0,
                    "channel_totals": 0,
                    "fill_ids": 0,
                    "links": 0,
                    "waiters": 0,
                    "retired": 2 * n,
                }
                stats = fm()
                assert stats["conserved"] is True
                positions = dict(stats["positions"])
                assert positions[kalshi.key()] == str(10 * n)
                # A retired order's Kalshi fill, replayed on the user channel.
                late = next(
                    r.fill
                    for r in records
                    if isinstance(r, FillRecord)
                    and r.fill.instrument == kalshi
                    and ":rest:" not in r.fill.fill_id
                )
                await handles.user_fills.send(late)
                await until(lambda: fm()["retention"]["late_after_retire"] == {"fill": 1})
                stats = fm()
                assert stats["positions"] == positions
                assert stats["conserved"] is True
                assert handles.control.state is TradingState.REDUCING
                tree.request_shutdown("test over")
