"""The fee of one leg as the detector prices it: a venue's formula and its rate.

Units follow :mod:`protocols.fixed` (sizes in 1e-6 shares, prices and cash in 1e-6 USD);
the formulas are the venues' own (:mod:`protocols.venues.polymarket.fees`,
:mod:`protocols.venues.kalshi.fees`).

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
from protocols.venues.fees import FeeRate
from protocols.venues.kalshi import fees as kalshi_fees
from protocols.venues.polymarket import fees as polymarket_fees

ONE = PRICE_ONE


@attrs.frozen
class FeeSchedule:
    """The fee of one leg on one venue: a formula and its rate."""

    venue: Venue
    rate: FeeRate
    multiplier: int = ONE  # Kalshi series multiplier x 1e6

    def fill_fee(self, size: int, price: int) -> int:
        if self.rate.ppm == 0 or size <= 0:
            return 0
        if self.venue is Venue.KALSHI:
            return kalshi_fees.fee(size, price, self.rate, self.multiplier)
        return polymarket_fees.taker_fee(size, price, self.rate)

    def per_share_e18(self, price: int) -> int:
        """Unrounded fee for one share at ``price``, in 1e-18 USD (exact)."""
        base = self.rate.ppm * price * (ONE - price)  # 1e-18 USD per share
        if self.venue is Venue.KALSHI and self.multiplier != ONE:
            return base * self.multiplier // ONE
        return base


def fee_for_fills(schedule: FeeSchedule, fills: Iterable[tuple[int, int]]) -> int:
    """Total fee of ``(price, size)`` fills, each rounded on its own."""
    return sum(schedule.fill_fee(size, price) for price, size in fills)


def polymarket_schedule(rates: dict[str, str], category: str) -> FeeSchedule:
    """The taker schedule for a Polymarket market of ``category`` (unknown -> "other")."""
    text = rates.get(category.lower(), rates.get("other", "0"))
    return FeeSchedule(Venue.POLYMARKET, FeeRate.parse(text))


def kalshi_schedule(rate: str, multiplier: str = "1") -> FeeSchedule:
    return FeeSchedule(Venue.KALSHI, FeeRate.parse(rate), parse_units(multiplier))


__all__ = ["FeeSchedule", "fee_for_fills", "kalshi_schedule", "polymarket_schedule"]
