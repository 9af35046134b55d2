"""Exact money: fixed-point integers for prices, sizes and cash.

Convention (everything in arbtree uses it; no binary float ever decides a trade):

* **price**: int in units of 1e-6 USD per contract/share, i.e. probability x 1_000_000.
  ``PRICE_ONE = 1_000_000`` is $1 (certainty). ``"0.523"`` -> ``523_000``.
* **size**: int in units of 1e-6 shares/contracts. ``SIZE_ONE = 1_000_000`` is one share.
  ``"219.217767"`` -> ``219_217_767``.
* **cash / notional / fees**: int in units of 1e-6 USD (``CASH_ONE = 1_000_000``).

Six decimals is the finest grid any supported venue uses (Polymarket amounts are 6-dp
integers on chain, Kalshi fees go to 6 dp), so every venue string maps exactly. A string
with more significant decimals is rejected with :class:`FixedPointError` rather than
rounded silently; trailing zeros past the scale are accepted (``"0.5000000"``).

The parser avoids ``Decimal`` and ``float`` on the hot path: it splits on ``.`` and calls
``int`` on validated ASCII digits, which is several times faster than ``Decimal``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from protocols.errors import FixedPointError

SCALE_DIGITS = 6
PRICE_ONE = 1_000_000
SIZE_ONE = 1_000_000
CASH_ONE = 1_000_000
_SCALE = 1_000_000
_PAD = "000000"
# Largest integer part accepted: 10^15 units of anything is far beyond any real book and
# keeps a hostile "1e400"-style digit string from building a giant int.
_MAX_WHOLE_DIGITS = 15


class Rounding(enum.Enum):
    """How a product of two fixed-point numbers is brought back to the grid."""

    FLOOR = "floor"  # toward -inf: what you may safely assume you receive
    CEIL = "ceil"  # toward +inf: what you must be prepared to pay
    HALF_EVEN = "half_even"  # banker's rounding, for reporting


def parse_units(text: str) -> int:
    """Parse a decimal string (``"0.523"``, ``".48"``, ``"-54.00"``, ``"100"``) to 1e-6 units.

    Raises :class:`FixedPointError` on anything else: empty, exponent, sign in the wrong
    place, non-ASCII digits, more than 6 significant decimals, or an absurd magnitude.
    """
    neg = False
    body = text
    if body[:1] == "-":
        neg = True
        body = body[1:]
    whole, _, frac = body.partition(".")
    if len(frac) > SCALE_DIGITS:
        extra = frac[SCALE_DIGITS:]
        if extra.strip("0"):
            raise FixedPointError(text, "more than 6 decimals")
        frac = frac[:SCALE_DIGITS]
    if len(whole) > _MAX_WHOLE_DIGITS:
        raise FixedPointError(text, "too large")
    digits = whole + frac + _PAD[len(frac) :]
    if not (whole or frac) or not digits.isdigit() or not digits.isascii():
        raise FixedPointError(text, "not a decimal number")
    value = int(digits)
    return -value if neg else value


def parse_price(text: str) -> int:
    """Parse a probability price; it must lie in [0, 1] (``"0"``/``"1"`` mean an empty side)."""
    value = parse_units(text)
    if value < 0 or value > PRICE_ONE:
        raise FixedPointError(text, "price outside [0, 1]")
    return value


def parse_size(text: str) -> int:
    """Parse a non-negative size (absolute level size, order size)."""
    value = parse_units(text)
    if value < 0:
        raise FixedPointError(text, "negative size")
    return value


# Memo tables for the hot path: a live book repeats a few hundred distinct price strings
# and many size strings, and a dict hit costs a fraction of a parse. Bounded: cleared
# when full, so a hostile stream of unique strings cannot grow them without limit.
_MEMO_LIMIT = 1 << 16


def _memoized(parse: Callable[[str], int]) -> Callable[[str], int]:
    """``parse`` through a bounded memo table (same results, same errors).

    Venue frames repeat the same few hundred price and size strings; a dict hit is several
    times cheaper than parsing. The table is cleared when full, so hostile input cannot
    grow it without bound.
    """
    table: dict[str, int] = {}

    def memo(text: str) -> int:
        value = table.get(text)
        if value is None:
            value = parse(text)
            if len(table) >= _MEMO_LIMIT:
                table.clear()
            table[text] = value
        return value

    memo.__doc__ = f":func:`{parse.__name__}` through a bounded memo table."
    return memo


price_memo = _memoized(parse_price)
size_memo = _memoized(parse_size)
units_memo = _memoized(parse_units)  # signed


def format_units(value: int) -> str:
    """Canonical minimal decimal: ``523_000 -> "0.523"``, ``100_000_000 -> "100"``."""
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), _SCALE)
    if not frac:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:06d}".rstrip("0")


def format_fixed(value: int, decimals: int) -> str:
    """Fixed number of decimals, as Kalshi writes them (``420_000, 4 -> "0.4200"``).

    Raises :class:`FixedPointError` if ``value`` is not representable at ``decimals``.
    """
    if not 0 <= decimals <= SCALE_DIGITS:
        raise FixedPointError(value, "decimals outside 0..6")
    step = 10 ** (SCALE_DIGITS - decimals)
    if value % step:
        raise FixedPointError(value, f"not representable with {decimals} decimals")
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), _SCALE)
    if decimals == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac // step:0{decimals}d}"


def _div_round(num: int, den: int, rounding: Rounding) -> int:
    q, r = divmod(num, den)  # floor division, r has the sign of den (> 0)
    if not r:
        return q
    if rounding is Rounding.FLOOR:
        return q
    if rounding is Rounding.CEIL:
        return q + 1
    twice = 2 * r
    if twice > den or (twice == den and q % 2):
        return q + 1
    return q


def mul(a: int, b: int, rounding: Rounding) -> int:
    """Product of two 1e-6 fixed-point numbers, back on the 1e-6 grid with explicit rounding."""
    return _div_round(a * b, _SCALE, rounding)


def notional(price: int, size: int, rounding: Rounding) -> int:
    """Cash value (1e-6 USD) of ``size`` contracts at ``price``.

    Buyers round up (``CEIL``: the most they can be charged), sellers round down.
    """
    return _div_round(price * size, _SCALE, rounding)


def complement(price: int) -> int:
    """The mirrored price on the other outcome: a YES bid at p is a NO ask at 1 - p."""
    return PRICE_ONE - price


def cents_to_price(cents: int) -> int:
    """Kalshi legacy integer cents (1..99) to a fixed-point price."""
    return cents * 10_000


def round_to_tick(price: int, tick: int, rounding: Rounding) -> int:
    """Snap a price onto a tick grid (tick in the same units, e.g. 10_000 for 0.01)."""
    if tick <= 0:
        raise FixedPointError(tick, "tick must be positive")
    return _div_round(price, tick, rounding) * tick
