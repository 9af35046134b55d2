"""Number formatting as each venue writes it on the wire.

The sim is the venue, so it owns its encoders: these do not reuse the decoders in
``protocols`` (that would make the decoder tests circular). All inputs are exact ints in
1e-6 units (see ``protocols.fixed``); nothing here touches a float.
"""

from __future__ import annotations

from protocols.fixed import PRICE_ONE, parse_units

ONE = PRICE_ONE

__all__ = ["ONE", "fixed", "parse_units", "trim"]


def trim(value: int) -> str:
    """Shortest decimal string (Polymarket style: ``"0.5"``, ``"0.48"``, ``"200"``)."""
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), ONE)
    if frac == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:06d}".rstrip("0")


def fixed(value: int, decimals: int) -> str:
    """Exactly ``decimals`` places (Kalshi style: ``"0.4200"``, ``"13.00"``, ``"-54.00"``).

    The value must already be on that grid; the sim never emits a rounded number.
    """
    step = 10 ** (6 - decimals)
    if value % step:
        raise ValueError(f"{value} is not on a {decimals}-decimal grid")
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), ONE)
    if decimals == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac // step:0{decimals}d}"
