"""The sim's own fee formulas (the venue's side) against the client's
(protocols.venues.<venue>.fees): two independent copies that must agree everywhere."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.sim.fees import kalshi_taker_fee, polymarket_taker_fee
from protocols.fixed import PRICE_ONE, SIZE_ONE
from protocols.venues.fees import FeeRate
from protocols.venues.kalshi import fees as kalshi_fees
from protocols.venues.polymarket import fees as polymarket_fees

sizes = st.integers(min_value=0, max_value=10**6 * SIZE_ONE)
prices = st.integers(min_value=0, max_value=PRICE_ONE)


def test_polymarket_fee_matches_the_venue_formula() -> None:
    for size in (5 * SIZE_ONE, 10 * SIZE_ONE, 123_450_000, 1_000_000_000):
        for price in (10_000, 123_000, 500_000, 990_000):
            for rate_ppm in (0, 30_000, 40_000, 72_000):
                assert polymarket_fees.taker_fee(
                    size, price, FeeRate.from_bps(rate_ppm // 100)
                ) == polymarket_taker_fee(size, price, rate_ppm)


@settings(max_examples=500, deadline=None)
@given(sizes, prices, st.integers(min_value=0, max_value=20_000))
def test_polymarket_client_and_sim_agree(size: int, price: int, rate_bps: int) -> None:
    rate = FeeRate.from_bps(rate_bps)
    assert polymarket_fees.taker_fee(size, price, rate) == polymarket_taker_fee(
        size, price, rate.ppm
    )


@settings(max_examples=500, deadline=None)
@given(sizes, prices, st.integers(min_value=0, max_value=10 * PRICE_ONE))
def test_kalshi_client_and_sim_agree(size: int, price: int, multiplier: int) -> None:
    taker = FeeRate(70_000)
    assert kalshi_fees.fee(size, price, taker, multiplier) == kalshi_taker_fee(
        size, price, multiplier
    )
