"""The fund manager's pre-trade checks per opportunity against how much the fund holds:
``check_opportunity`` on books holding 0 to 5 000 positions (each built by real ledger
events: a reserved buy, then its fill) plus open orders. The checks read the ledger's
per-instrument exposure index, so the cost should stay flat; the ratio to the empty
books is the figure, the µs are for context (warm: the same opportunity again and again)."""

from __future__ import annotations

import time

from actors.trading.checks import FeeModel, Limits, VenueRules, check_opportunity
from actors.trading.ladder import TradingLadder
from actors.trading.ledger import Ledger
from protocols.fixed import CASH_ONE, SIZE_ONE
from protocols.messages import (
    Fill,
    FillStatus,
    InstrumentId,
    Liquidity,
    Opportunity,
    OpportunityLeg,
    Outcome,
    Side,
    Venue,
)
from protocols.venues.fees import FeeRate

HELD = (0, 100, 1_000, 5_000)
BIG = 10**18
NOW_NS = 10**12


def _books(positions: int, open_orders: int) -> Ledger:
    ledger = Ledger.with_balances({Venue.POLYMARKET: BIG, Venue.KALSHI: BIG})
    for i in range(positions + open_orders):
        inst = InstrumentId(venue=Venue.KALSHI, symbol=f"HELD-{i}", outcome=Outcome.YES)
        coid = f"held-{i}"
        ledger.reserve(
            client_order_id=coid,
            opportunity_id=coid,
            instrument=inst,
            side=Side.BUY,
            limit_price=500_000,
            size=SIZE_ONE,
            amount=CASH_ONE,
        )
        if i < positions:
            ledger.apply_fill(
                Fill(
                    fill_id=coid,
                    venue_order_id=coid,
                    client_order_id=coid,
                    instrument=inst,
                    side=Side.BUY,
                    price=500_000,
                    size=SIZE_ONE,
                    fee=0,
                    liquidity=Liquidity.TAKER,
                    status=FillStatus.MATCHED,
                    venue_ts_ms=0,
                    recv_ns=0,
                ),
                fee=0,
            )
    return ledger


def check_cost_us(positions: int, repeats: int = 3_000) -> float:
    """µs per ``check_opportunity`` (approved) on books holding ``positions`` positions
    and a tenth as many open orders."""
    ledger = _books(positions, positions // 10)
    limits = Limits(
        balance_buffer=0,
        max_notional_per_order=BIG,
        max_exposure_per_instrument=BIG,
        max_exposure_per_pair=BIG,
        max_exposure_per_venue=BIG,
        max_exposure_total=BIG,
        max_open_positions=10**9,
        daily_loss_limit=BIG,
        max_age_ns=BIG,
    )
    rules = {
        venue: VenueRules(10_000, SIZE_ONE, FeeModel(FeeRate(70_000), 10_000), SIZE_ONE)
        for venue in (Venue.POLYMARKET, Venue.KALSHI)
    }
    legs = tuple(
        OpportunityLeg(
            instrument=InstrumentId(venue=venue, symbol="NEW", outcome=Outcome.NO),
            side=Side.BUY,
            limit_price=450_000,
            size=10 * SIZE_ONE,
        )
        for venue in (Venue.POLYMARKET, Venue.KALSHI)
    )
    opp = Opportunity(
        opportunity_id="o",
        strategy="bench",
        legs=legs,
        expected_edge=1,
        fees=0,
        venue_ts_ms=0,
        recv_ns=NOW_NS,
        detect_ns=NOW_NS,
    )
    ladder = TradingLadder()

    def once() -> object:
        return check_opportunity(
            opp, ledger=ledger, ladder=ladder, limits=limits, rules=rules, now_ns=NOW_NS
        )

    for _ in range(repeats // 10):
        once()
    started = time.perf_counter_ns()
    for _ in range(repeats):
        result = once()
    elapsed = time.perf_counter_ns() - started
    assert not hasattr(result, "reason"), result  # approved: every check ran
    return elapsed / repeats / 1000


def report() -> list[str]:
    costs = {held: check_cost_us(held) for held in HELD}
    base = costs[0]
    lines = [
        "pre-trade checks per opportunity vs positions held (+ a tenth as many open orders), warm:"
    ]
    for held, cost in costs.items():
        lines.append(
            f"  {held:>6} positions  {cost:7.1f} us  ratio to empty books {cost / base:5.2f}"
        )
    return lines
