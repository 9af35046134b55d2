"""Taker fee formulas of both venues, in exact integer arithmetic: the sim's own copy.

The sim plays the venue, so, like its wire encoders (:mod:`actors.sim.units`), it keeps
its own fee formulas rather than importing the client's
(:mod:`protocols.venues.polymarket.fees`, :mod:`protocols.venues.kalshi.fees`): a slip in
the client's formula then shows up as a ledger that disagrees with the venue instead of
being copied into both. ``tests/sim/test_fee_cross_check.py`` checks the two copies agree.

The same functions price the sim's fills and the ground-truth edge of every injected
window, so "net of fees" means the same thing on both sides of a test.
"""

from __future__ import annotations

from actors.sim.units import ONE


def polymarket_taker_fee(size: int, price: int, rate_ppm: int) -> int:
    """``C x rate x p x (1-p)`` USDC, rounded half-up to 5 decimals (docs/protocols.md).

    ``size`` in 1e-6 shares, ``price`` in 1e-6 USD, ``rate_ppm`` the category rate x 1e6
    (crypto 0.072 -> 72_000). Returns 1e-6 USDC.
    """
    num = size * rate_ppm * price * (ONE - price)  # 1e-24 USD
    den = 10**19  # one unit of the 5th decimal, in 1e-24 USD
    return ((num + den // 2) // den) * 10


def kalshi_taker_fee(count: int, price: int, multiplier_ppm: int = ONE) -> int:
    """``ceil_to_cent(0.07 x C x P x (1-P))`` x multiplier (docs/protocols.md), in 1e-6 USD.

    Charged per fill (one fill per price level): the conservative per-order bound the
    venue notes suggest for a simulator.
    """
    num = count * 70_000 * price * (ONE - price) * multiplier_ppm  # 1e-30 USD
    den = 10**28  # one cent in 1e-30 USD
    return -(-num // den) * 10_000
