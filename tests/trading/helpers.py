"""Shared builders for the trading tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import trio

from actors.trading.checks import FeeModel, Limits, VenueRules
from actors.trading.control import TradingControl
from actors.trading.fund_core import FundCore
from actors.trading.ids import leg_order_id
from actors.trading.ledger import Ledger
from protocols.config.trading import UserChannelConfig
from protocols.fixed import CASH_ONE, SIZE_ONE
from protocols.messages import (
    InstrumentId,
    Opportunity,
    OpportunityLeg,
    OrderIntent,
    Outcome,
    Side,
    TimeInForce,
    Venue,
)
from protocols.venues.fees import FeeRate

POLY = InstrumentId(venue=Venue.POLYMARKET, symbol="tok-yes", outcome=Outcome.YES)
KALSHI = InstrumentId(venue=Venue.KALSHI, symbol="TICK-1", outcome=Outcome.NO)
NOW = 10_000_000_000

_ids = itertools.count()


def limits(**over: int) -> Limits:
    base = {
        "balance_buffer": 5 * CASH_ONE,
        "max_notional_per_order": 100 * CASH_ONE,
        "max_exposure_per_instrument": 250 * CASH_ONE,
        "max_exposure_per_pair": 400 * CASH_ONE,
        "max_exposure_per_venue": 1000 * CASH_ONE,
        "max_exposure_total": 1500 * CASH_ONE,
        "max_open_positions": 50,
        "daily_loss_limit": 50 * CASH_ONE,
        "max_age_ns": 500_000_000,
    }
    base.update(over)
    return Limits(**base)


RULES = {
    Venue.POLYMARKET: VenueRules(10_000, 5 * SIZE_ONE, FeeModel(FeeRate(0), 1), 10_000),
    Venue.KALSHI: VenueRules(10_000, SIZE_ONE, FeeModel(FeeRate(70_000), 10_000), SIZE_ONE),
}


def core(cash: int = 1000 * CASH_ONE, **over: int) -> FundCore:
    c = FundCore(
        limits=limits(**over),
        rules=dict(RULES),
        control=TradingControl(),
        clock_ns=lambda: NOW,
        wall_ms=lambda: 1_000,
    )
    c.ledger = Ledger.with_balances({Venue.POLYMARKET: cash, Venue.KALSHI: cash})
    return c


def opp(
    *,
    size: int = 10 * SIZE_ONE,
    p1: int = 450_000,
    p2: int = 500_000,
    age_ns: int = 0,
    legs: tuple[OpportunityLeg, ...] | None = None,
    oid: str | None = None,
) -> Opportunity:
    if legs is None:
        legs = (
            OpportunityLeg(instrument=POLY, side=Side.BUY, limit_price=p1, size=size),
            OpportunityLeg(instrument=KALSHI, side=Side.BUY, limit_price=p2, size=size),
        )
    return Opportunity(
        opportunity_id=oid or f"opp-{next(_ids)}",
        strategy="test",
        legs=legs,
        expected_edge=10_000,
        fees=0,
        venue_ts_ms=0,
        recv_ns=NOW - age_ns,
        detect_ns=NOW,
    )


# User channels that reconnect at once (tests over loopback).
FAST_CHANNEL = UserChannelConfig(reconnect_min_s=0.01, reconnect_max_s=0.05, connect_timeout_s=2.0)


async def until(pred: Callable[[], bool]) -> None:
    """Wait for another actor's state to satisfy ``pred`` (polled every 5 ms)."""
    while not pred():  # noqa: ASYNC110 - polling another actor's state
        await trio.sleep(0.005)


def buy_intent(
    oid: str, inst: InstrumentId, size: int = 5 * SIZE_ONE, price: int = 990_000
) -> OrderIntent:
    """Leg 0 of ``oid``: a FOK buy, by default at 0.99 (fills against the sim's liquidity)."""
    return OrderIntent(
        client_order_id=leg_order_id(oid, 0),
        opportunity_id=oid,
        leg_index=0,
        instrument=inst,
        side=Side.BUY,
        limit_price=price,
        size=size,
        reserved=0,
        time_in_force=TimeInForce.FOK,
        recv_ns=0,
        detect_ns=0,
        intent_ns=0,
    )
