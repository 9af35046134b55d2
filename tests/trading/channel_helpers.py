"""Helpers of the user-channel tests and the tree tests built on them: the executor's
config against the sim, fee markets, a cross-venue opportunity, waits on the fund."""

from __future__ import annotations

import time
from typing import Any

import msgspec

from actors.sim.venue import SimVenue
from actors.trading_tree import TradingHandles
from protocols.config.trading import (
    ExecutorConfig,
    HttpConfig,
    TradingConfig,
)
from protocols.fixed import SIZE_ONE
from protocols.messages import (
    InstrumentId,
    Opportunity,
    OpportunityLeg,
    Outcome,
    Side,
    Venue,
)
from tests.trading.helpers import FAST_CHANNEL, until


def exec_config(sim: SimVenue, *, channels: bool = False) -> ExecutorConfig:
    base = TradingConfig().executor
    replace = msgspec.structs.replace
    return replace(
        base,
        polymarket=replace(
            base.polymarket,
            rest_url=sim.polymarket_rest_url,
            user_ws_url=sim.polymarket_user_ws_url if channels else "",
        ),
        kalshi=replace(
            base.kalshi,
            rest_url=sim.kalshi_rest_url,
            user_ws_url=sim.kalshi_ws_url if channels else "",
        ),
        http=HttpConfig(read_timeout_s=1.0),
        user_channel=FAST_CHANNEL,
    )


async def until_trading(handles: TradingHandles, *channels: Venue) -> None:
    """The fund manager reconciled (no holds) and these venues' user channels are live."""
    control = handles.control
    await until(lambda: "fund_manager" in control.stats_sources and not control.ladder.holds)
    await until(lambda: all(handles.user_channels.live(v) for v in channels))


def fund_stats(handles: TradingHandles) -> dict[str, Any]:
    return dict(handles.control.statistics()["fund_manager"])


def trading_quiet(handles: TradingHandles) -> bool:
    """Every channel fill handed over and no outcome or execution in flight."""
    uf = handles.user_fills.statistics()
    ex = handles.control.statistics()["executor"]
    return (
        uf.received == uf.sent
        and handles.outcomes.statistics().depth == 0
        and (ex["in_flight"] == 0)
    )


def fee_market(sim: SimVenue) -> Any:
    return next(m for m in sim.markets if m.fee_rate_ppm > 0)


def channel_opp(
    oid: str, poly: InstrumentId, kalshi: InstrumentId, kalshi_price: int
) -> Opportunity:
    legs = (
        OpportunityLeg(instrument=poly, side=Side.BUY, limit_price=990_000, size=10 * SIZE_ONE),
        OpportunityLeg(
            instrument=kalshi, side=Side.BUY, limit_price=kalshi_price, size=10 * SIZE_ONE
        ),
    )
    now = time.monotonic_ns()
    return Opportunity(
        opportunity_id=oid,
        strategy="t",
        legs=legs,
        expected_edge=1,
        fees=0,
        venue_ts_ms=0,
        recv_ns=now,
        detect_ns=now,
    )


def sim_arb(sim: SimVenue, oid: str) -> Opportunity:
    """Buy 10 Polymarket YES and 10 Kalshi NO of the sim's first market at 0.99 each."""
    m = sim.markets[0]
    poly = InstrumentId(venue=Venue.POLYMARKET, symbol=m.yes_token, outcome=Outcome.YES)
    kalshi = InstrumentId(venue=Venue.KALSHI, symbol=m.ticker, outcome=Outcome.NO)
    return channel_opp(oid, poly, kalshi, 990_000)
