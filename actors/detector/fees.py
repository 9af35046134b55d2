"""Venue taker/maker fee formulas in exact integer arithmetic.

Units follow :mod:`protocols.fixed`: sizes in 1e-6 shares, prices and cash in 1e-6 USD,
rates as ints x 1e6 (Polymarket crypto 0.072 -> ``72_000``).

* Polymarket (VENUES 3.4): ``fee = C x rate x p x (1 - p)`` USDC, takers only, rounded
  half-up to 5 decimals (a fee under 0.000005 rounds to 0).
* Kalshi (VENUES 4.10): taker ``0.07 x C x P x (1 - P)`` (x the series multiplier), maker
  ``0.0175 x ...`` on ``quadratic_with_maker_fees`` series, rounded **up** to the cent.

A sweep across several price levels is several fills; each fill is priced and rounded on
its own (per-fill rounding is what the venues charge at worst, and what the simulated
venue charges), so :func:`fee_for_fills` sums per-level fees.

For the depth walk the detector also needs the *marginal* fee per share at price p before
rounding, as an exact rational: :meth:`FeeSchedule.per_share_e18` returns it in 1e-18 USD.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from protocols.fixed import PRICE_ONE, parse_units
from protocols.messages import Venue

ONE = PRICE_ONE


def polymarket_fee(size: int, price: int, rate: int) -> int:
    """One Polymarket taker fill's fee in 1e-6 USD (half-up to 5 decimals = 10 units)."""
    num = size * rate * price * (ONE - price)  # 1e-24 USD
    den = 10**19  # 0.00001 USD in 1e-24 USD
    return ((num + den // 2) // den) * 10


def kalshi_fee(size: int, price: int, rate: int, multiplier: int = ONE) -> int:
    """One Kalshi fill's fee in 1e-6 USD: ``rate x C x P x (1-P) x multiplier`` rounded up
    to the cent. ``rate`` is 70_000 (taker) or 17_500 (maker)."""
    num = size * rate * price * (ONE - price) * multiplier  # 1e-30 USD
    den = 10**28  # one cent in 1e-30 USD
    return -(-num // den) * 10_000


@attrs.frozen
class FeeSchedule:
    """The fee of one leg on one venue: a formula and its rate."""

    venue: Venue
    rate: int  # x 1e6
    multiplier: int = ONE  # Kalshi series multiplier x 1e6

    def fill_fee(self, size: int, price: int) -> int:
        if self.rate == 0 or size <= 0:
            return 0
        if self.venue is Venue.KALSHI:
            return kalshi_fee(size, price, self.rate, self.multiplier)
        return polymarket_fee(size, price, self.rate)

    def per_share_e18(self, price: int) -> int:
        """Unrounded fee for one share at ``price``, in 1e-18 USD (exact)."""
        base = self.rate * price * (ONE - price)  # 1e-18 USD per share
        if self.venue is Venue.KALSHI and self.multiplier != ONE:
            return base * self.multiplier // ONE
        return base


def fee_for_fills(schedule: FeeSchedule, fills: Iterable[tuple[int, int]]) -> int:
    """Total fee of ``(price, size)`` fills, each rounded on its own."""
    return sum(schedule.fill_fee(size, price) for price, size in fills)


def polymarket_schedule(rates: dict[str, str], category: str) -> FeeSchedule:
    """The taker schedule for a Polymarket market of ``category`` (unknown -> "other")."""
    text = rates.get(category.lower(), rates.get("other", "0"))
    return FeeSchedule(Venue.POLYMARKET, parse_units(text))


def kalshi_schedule(rate: str, multiplier: str = "1") -> FeeSchedule:
    return FeeSchedule(Venue.KALSHI, parse_units(rate), parse_units(multiplier))


__all__ = [
    "FeeSchedule",
    "fee_for_fills",
    "kalshi_fee",
    "kalshi_schedule",
    "polymarket_fee",
    "polymarket_schedule",
]
