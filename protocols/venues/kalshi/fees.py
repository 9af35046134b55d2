"""Kalshi's trading fee, as the venue charges it (docs/protocols.md, "Fees").

``rate x C x P x (1 - P) x multiplier``, rounded **up** to the cent. The taker rate is
0.07; series with ``quadratic_with_maker_fees`` also charge makers 0.0175; a series may
scale the fee by a multiplier. The result is in cash (never in contracts).
"""

from __future__ import annotations

from protocols.fixed import PRICE_ONE
from protocols.venues.fees import FeeRate, ceil_to_grid, quadratic_e24

CENT = 10_000  # in 1e-6 USD


def fee(size: int, price: int, rate: FeeRate, multiplier: int = PRICE_ONE, grid: int = CENT) -> int:
    """One fill's fee in 1e-6 USD. ``multiplier`` is the series multiplier x 1e6; ``grid``
    the rounding step (the venue's cent unless a caller models a coarser one)."""
    scaled = -(
        -quadratic_e24(size, price, rate) * multiplier // PRICE_ONE
    )  # ceil twice == ceil once
    return ceil_to_grid(scaled, grid)


__all__ = ["CENT", "fee"]
