"""Taker fee formulas of both venues, in exact integer arithmetic.

The same functions price the sim's fills and the ground-truth edge of every injected
window, so "net of fees" means the same thing on both sides of a test.
"""

from __future__ import annotations

from actors.sim.units import ONE


def polymarket_taker_fee(size: int, price: int, rate_ppm: int) -> int:
    """``C x rate x p x (1-p)`` USDC, rounded half-up to 5 decimals (VENUES 3.4).

    ``size`` in 1e-6 shares, ``price`` in 1e-6 USD, ``rate_ppm`` the category rate x 1e6
    (crypto 0.072 -> 72_000). Returns 1e-6 USDC.
    """
    num = size * rate_ppm * price * (ONE - price)  # 1e-24 USD
    den = 10**19  # one unit of the 5th decimal, in 1e-24 USD
    return ((num + den // 2) // den) * 10


def kalshi_taker_fee(count: int, price: int, multiplier_ppm: int = ONE) -> int:
    """``ceil_to_cent(0.07 x C x P x (1-P))`` x multiplier (VENUES 4.10), in 1e-6 USD.

    Charged per fill (one fill per price level): the conservative per-order bound the
    venue notes suggest for a simulator.
    """
    num = count * 70_000 * price * (ONE - price) * multiplier_ppm  # 1e-30 USD
    den = 10**28  # one cent in 1e-30 USD
    return -(-num // den) * 10_000
