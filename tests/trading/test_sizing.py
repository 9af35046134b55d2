"""Size to limits: an opportunity too big for a size-bound limit is clipped (both legs
equally, on the venues' size steps), and rejected only below a venue minimum or when its
edge at the clipped size is below the minimum profit."""

from __future__ import annotations

import msgspec

from actors.trading.checks import Rejection, RejectReason
from actors.trading.messages import ExecutionRequest
from protocols.fixed import CASH_ONE, SIZE_ONE
from protocols.messages import InstrumentId, Opportunity, OpportunityLeg, Outcome, Side, Venue
from tests.trading.helpers import POLY, core, opp

POLY_NO = InstrumentId(venue=Venue.POLYMARKET, symbol="tok-no", outcome=Outcome.NO)


def big(size: int = 1000 * SIZE_ONE, edge: int = 50 * CASH_ONE, fees: int = 0) -> Opportunity:
    """A detector-sized opportunity: 1000 shares, 0.45 + 0.50, edge 0.05/share."""
    return msgspec.structs.replace(opp(size=size), expected_edge=edge, fees=fees)


def test_clipped_to_max_notional_per_order_instead_of_rejected() -> None:
    c = core()
    result = c.decide(big())
    assert isinstance(result, ExecutionRequest), result
    # Kalshi leg at 0.50 binds: 100 / 0.50 = 200 shares (whole contracts), both legs.
    assert [i.size for i in result.intents] == [200 * SIZE_ONE, 200 * SIZE_ONE]
    stats = c.statistics()
    assert stats["clipped"] == {"max_notional_per_order": 1}
    assert stats["clipped_size_original"] == "1000"
    assert stats["clipped_size_approved"] == "200"
    clip = stats["last_clips"][0]
    assert (clip["original_size"], clip["approved_size"]) == ("1000", "200")
    assert c.rejects["max_notional_per_order"] == 0
    assert c.ledger.conserved()


def test_clip_rounds_down_to_the_size_step() -> None:
    c = core()
    legs = (
        OpportunityLeg(instrument=POLY, side=Side.BUY, limit_price=450_000, size=1000 * SIZE_ONE),
        OpportunityLeg(
            instrument=POLY_NO, side=Side.BUY, limit_price=500_000, size=1000 * SIZE_ONE
        ),
    )
    o = msgspec.structs.replace(opp(legs=legs), expected_edge=50 * CASH_ONE)
    result = c.decide(o)
    assert isinstance(result, ExecutionRequest), result
    # Polymarket only: 0.01-share step; 100 / 0.50 = 200.00 exactly.
    assert {i.size for i in result.intents} == {200 * SIZE_ONE}
    c2 = core(max_notional_per_order=99_999_999)  # 99.999999 / 0.5 = 199.999998 -> 199.99
    result2 = c2.decide(msgspec.structs.replace(o, opportunity_id="o2"))
    assert isinstance(result2, ExecutionRequest), result2
    assert {i.size for i in result2.intents} == {199_990_000}


def test_clipped_by_balance_with_buffer_counts_the_binding_limit() -> None:
    c = core(cash=50 * CASH_ONE)  # free 45 per venue after the 5 buffer
    result = c.decide(big())
    assert isinstance(result, ExecutionRequest), result
    # Kalshi: 86 x 0.50 + fee ceil_cent(0.07 x 86 x 0.25) = 43 + 1.51 = 44.51 <= 45; 87 not.
    assert {i.size for i in result.intents} == {86 * SIZE_ONE}
    assert c.statistics()["clipped"] == {"insufficient_balance": 1}
    assert c.ledger.cash[Venue.KALSHI] >= 5 * CASH_ONE


def test_rejected_when_the_clipped_size_is_below_the_venue_minimum() -> None:
    c = core(cash=7 * CASH_ONE)  # 2 free: Polymarket's 5-share minimum costs 2.25
    result = c.decide(big())
    assert isinstance(result, Rejection)
    assert result.reason is RejectReason.INSUFFICIENT_BALANCE
    assert "venue minimum" in result.detail
    assert c.rejects["insufficient_balance"] == 1
    assert c.ledger.reserved[Venue.POLYMARKET] == 0


def test_rejected_when_the_edge_at_the_clipped_size_is_below_min_profit() -> None:
    c = core()
    # 0.05 USD on 1000 shares -> 0.01 at 200, minus a cent of Kalshi fee rounding: too thin.
    result = c.decide(big(edge=50_000))
    assert isinstance(result, Rejection)
    assert result.reason is RejectReason.MAX_NOTIONAL
    assert "min profit" in result.detail
    assert c.rejects["max_notional_per_order"] == 1
    assert not c.statistics()["clipped"]


def test_clipped_edge_is_recomputed_not_assumed() -> None:
    c = core()
    result = c.decide(big(edge=40 * CASH_ONE, fees=10 * CASH_ONE))
    assert isinstance(result, ExecutionRequest)
    clip = c.statistics()["last_clips"][0]
    # gross 50 x 200/1000 = 10, fees 10 x 200/1000 = 2, minus one rounding unit per leg.
    assert clip["approved_edge"] == "7.989999"
    assert clip["original_edge"] == "40"
