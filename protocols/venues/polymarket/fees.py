"""Polymarket's taker fee, as the venue charges it (docs/protocols.md, "Fees").

``fee = C x rate x p x (1 - p)`` USDC, takers only, rounded half-up to 5 decimals, so a
fee under 0.000005 USDC is 0. A buy pays its fee in shares (``fee / p``, rounded down to
1e-6 share); a sell pays it in USDC.
"""

from __future__ import annotations

from protocols.fixed import PRICE_ONE
from protocols.venues.fees import FeeRate, quadratic_e24

# The 5th decimal of a dollar: 10 cash units, or 1e19 in the 1e-24 USD of quadratic_e24.
FEE_GRID = 10
_GRID_E24 = 10**19


def taker_fee(size: int, price: int, rate: FeeRate) -> int:
    """One taker fill's fee in 1e-6 USDC; 0 for a zero rate or an empty fill."""
    if rate.ppm <= 0 or size <= 0:
        return 0
    num = quadratic_e24(size, price, rate)
    return ((num + _GRID_E24 // 2) // _GRID_E24) * FEE_GRID


def fee_in_shares(fee: int, price: int) -> int:
    """A buy's fee taken in shares: ``fee / p``, rounded down to 1e-6 share."""
    return fee * PRICE_ONE // price if fee > 0 and price > 0 else 0


__all__ = ["FEE_GRID", "fee_in_shares", "taker_fee"]
