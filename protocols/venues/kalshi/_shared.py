"""What the Kalshi decoder and REST orders share: the venue name, the one JSON encoder,
and reading Kalshi's number fields (dollar strings, legacy cents, fixed-point counts,
timestamps) into fixed-point integers without binary floating point.
"""

from __future__ import annotations

import msgspec

from protocols.errors import DecodeError, FixedPointError
from protocols.fixed import (
    SIZE_ONE,
    cents_to_price,
    price_memo,
    units_memo,
)
from protocols.messages import (
    Venue,
)

VENUE = "kalshi"
_K = Venue.KALSHI
_ENCODER = msgspec.json.Encoder()


def _number_text(value: str | float) -> str:
    """A JSON number back to its decimal text. ``repr`` of a float is the shortest string
    that round-trips, which is the wire text for any number with <= 15 significant digits,
    so ``0.96`` maps to exactly 960_000; nothing is computed in binary floating point."""
    return value if isinstance(value, str) else repr(value)


def _price(dollars: str | float | None, cents: int | None) -> int:
    if dollars is not None:
        return price_memo(_number_text(dollars))
    if cents is not None:
        if not 0 <= cents <= 100:
            raise FixedPointError(cents, "cents outside 0..100")
        return cents_to_price(cents)
    raise DecodeError(VENUE, "missing price")


def _count(fp: str | float | None, whole: int | None) -> int:
    if isinstance(fp, str):
        return units_memo(fp)
    if isinstance(fp, float):
        return units_memo(repr(fp))
    if whole is not None:
        if abs(whole) > 10**15:
            raise FixedPointError(whole, "count too large")
        return whole * SIZE_ONE
    raise DecodeError(VENUE, "missing count")


def _ts_ms(ts_ms: int, ts: int | str | None) -> int:
    if ts_ms:
        return ts_ms
    if isinstance(ts, int) and 0 < ts < 10**11:  # seconds
        return ts * 1000
    return 0  # RFC3339 text only: not parsed on the hot path
