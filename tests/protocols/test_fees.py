"""The venues' fee formulas (protocols.venues.<venue>.fees) on worked examples."""

from __future__ import annotations

import pytest

from protocols.venues.fees import FeeRate
from protocols.venues.kalshi import fees as kalshi_fees
from protocols.venues.polymarket import fees as polymarket_fees

ONE = 1_000_000


def test_polymarket_fee_doc_example() -> None:
    # docs/protocols.md: crypto, 100 shares at 0.50 -> $1.80
    assert polymarket_fees.taker_fee(100 * ONE, 500_000, FeeRate(72_000)) == 1_800_000


def test_polymarket_fee_rounds_half_up_to_5_decimals() -> None:
    # 1 share @0.01, rate 0.05: 0.05*0.01*0.99 = 0.000495 -> 0.00050 (half-up at 5 dp)
    assert polymarket_fees.taker_fee(ONE, 10_000, FeeRate(50_000)) == 500
    # 0.1 share @0.001, rate 0.04: 0.04*0.001*0.999*0.1 = 0.000003996 -> rounds to 0
    assert polymarket_fees.taker_fee(ONE // 10, 1_000, FeeRate(40_000)) == 0
    # exactly half a unit of the 5th decimal rounds up: 0.000005 -> 0.00001
    # C=0.5, rate=0.04, p(1-p)=0.25 -> 0.005 ... scale down: C=0.0005 -> 0.000005
    assert polymarket_fees.taker_fee(500, 500_000, FeeRate(40_000)) == 10


def test_kalshi_fee_ceil_to_cent() -> None:
    # schedule example: 10 @ $0.50 -> 0.175 -> $0.18
    assert kalshi_fees.fee(10 * ONE, 500_000, FeeRate(70_000)) == 180_000
    # 1 contract @0.01: 0.07*0.0099 = 0.000693 -> one full cent
    assert kalshi_fees.fee(ONE, 10_000, FeeRate(70_000)) == 10_000
    # an exact cent stays: 100 @0.5 * 0.07 = 1.75 -> 1.75
    assert kalshi_fees.fee(100 * ONE, 500_000, FeeRate(70_000)) == 1_750_000
    # maker rate 0.0175, 4 @0.5 -> 0.0175 -> 0.02
    assert kalshi_fees.fee(4 * ONE, 500_000, FeeRate(17_500)) == 20_000


@pytest.mark.parametrize("price", [1, 999_999, 0, ONE])
def test_fees_near_zero_and_one(price: int) -> None:
    # p(1-p) -> 0: Polymarket rounds to 0, Kalshi still charges its minimum cent (> 0 only
    # when the unrounded fee is > 0)
    assert polymarket_fees.taker_fee(ONE, price, FeeRate(72_000)) == 0
    expected = 0 if price in (0, ONE) else 10_000
    assert kalshi_fees.fee(ONE, price, FeeRate(70_000)) == expected


def test_fees_symmetric_around_half() -> None:
    for p in (100_000, 237_000, 410_000):
        assert polymarket_fees.taker_fee(37 * ONE, p, FeeRate(72_000)) == polymarket_fees.taker_fee(
            37 * ONE, ONE - p, FeeRate(72_000)
        )
        assert kalshi_fees.fee(37 * ONE, p, FeeRate(70_000)) == kalshi_fees.fee(
            37 * ONE, ONE - p, FeeRate(70_000)
        )
