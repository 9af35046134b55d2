"""Shared builders for the trading tests."""

from __future__ import annotations

import itertools

from actors.trading.checks import FeeModel, Limits, VenueRules
from actors.trading.control import TradingControl
from actors.trading.fund_core import FundCore
from actors.trading.ledger import Ledger
from protocols.fixed import CASH_ONE, SIZE_ONE
from protocols.messages import InstrumentId, Opportunity, OpportunityLeg, Outcome, Side, Venue

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
    Venue.POLYMARKET: VenueRules(10_000, 5 * SIZE_ONE, FeeModel(0, 1), 10_000),
    Venue.KALSHI: VenueRules(10_000, SIZE_ONE, FeeModel(70_000, 10_000), SIZE_ONE),
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
