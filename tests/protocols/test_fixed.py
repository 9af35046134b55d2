from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.errors import FixedPointError
from protocols.fixed import (
    PRICE_ONE,
    Rounding,
    complement,
    format_fixed,
    format_units,
    mul,
    notional,
    parse_price,
    parse_size,
    parse_units,
    price_memo,
    round_to_tick,
    size_memo,
    units_memo,
)


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("0.523", 523_000),
        (".48", 480_000),
        ("219.217767", 219_217_767),
        ("100.00", 100_000_000),
        ("0", 0),
        ("1", 1_000_000),
        ("-54.00", -54_000_000),
        ("0.5000000", 500_000),  # zeros past the scale are fine
        ("7.", 7_000_000),
    ],
)
def test_parse_units_examples(text: str, units: int) -> None:
    assert parse_units(text) == units


@pytest.mark.parametrize(
    "text",
    [
        "",
        ".",
        "-",
        "1e-3",
        "0.1234567",
        "+1",
        "1_000",
        " 1",
        "0x10",
        "\u0661",
        "--1",
        "1.2.3",
        "9" * 16,
    ],
)
def test_parse_units_rejects(text: str) -> None:
    with pytest.raises(FixedPointError):
        parse_units(text)


def test_price_and_size_ranges() -> None:
    assert parse_price("1") == PRICE_ONE
    with pytest.raises(FixedPointError):
        parse_price("1.01")
    with pytest.raises(FixedPointError):
        parse_size("-1")


@settings(max_examples=300, derandomize=True)
@given(st.integers(min_value=-(10**18), max_value=10**18))
def test_format_parse_round_trip(units: int) -> None:
    text = format_units(units)
    assert parse_units(text) == units
    assert Decimal(text) == Decimal(units) / 1_000_000


def test_format_units_is_minimal() -> None:
    assert format_units(523_000) == "0.523"
    assert format_units(100_000_000) == "100"
    assert format_units(-1) == "-0.000001"


def test_format_fixed() -> None:
    assert format_fixed(420_000, 4) == "0.4200"
    assert format_fixed(13_000_000, 2) == "13.00"
    with pytest.raises(FixedPointError):
        format_fixed(420_001, 4)


@settings(max_examples=300, derandomize=True)
@given(st.integers(0, PRICE_ONE), st.integers(0, 10**12))
def test_notional_rounding_brackets_exact_value(price: int, size: int) -> None:
    exact = Decimal(price) * Decimal(size) / Decimal(10**6)
    lo = notional(price, size, Rounding.FLOOR)
    hi = notional(price, size, Rounding.CEIL)
    assert lo <= exact <= hi
    assert hi - lo in (0, 1)
    assert (hi == lo) == (exact == lo)
    half = mul(price, size, Rounding.HALF_EVEN)
    assert abs(Decimal(half) - exact) <= Decimal("0.5")


def test_half_even_ties() -> None:
    # 0.5 x 0.000001 = 0.0000005 -> ties to even (0); 1.5e-6 -> 2e-6
    assert mul(500_000, 1, Rounding.HALF_EVEN) == 0
    assert mul(500_000, 3, Rounding.HALF_EVEN) == 2


def test_complement_and_tick() -> None:
    assert complement(301_000) == 699_000
    assert round_to_tick(523_400, 10_000, Rounding.FLOOR) == 520_000
    assert round_to_tick(523_400, 10_000, Rounding.CEIL) == 530_000


MEMOS = [(price_memo, parse_price), (size_memo, parse_size), (units_memo, parse_units)]


@pytest.mark.parametrize(("memo", "plain"), MEMOS)
def test_memo_parsers_agree_and_keep_raising(
    memo: Callable[[str], int], plain: Callable[[str], int]
) -> None:
    for text in ("0.5", ".48", "0.5", "0.25"):
        assert memo(text) == plain(text)
    for _ in range(2):  # errors are never memoized
        with pytest.raises(FixedPointError):
            memo("0.1234567")
