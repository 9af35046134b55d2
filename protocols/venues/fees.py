"""A fee rate that carries its unit, and the quadratic fee both prediction venues charge.

Both venues price a fill of ``C`` shares at price ``p`` as ``rate x C x p x (1 - p)``;
they differ only in how the result is rounded (each venue's ``fees`` module, and
docs/protocols.md, "Fees"). A rate travels as :class:`FeeRate` (parts per million), so a
basis-point rate from the wire and a decimal rate from the config cannot be mixed up.
"""

from __future__ import annotations

import msgspec

from protocols.fixed import PRICE_ONE, parse_units

# rate x size x price x (1 - price) is in 1e-24 USD (four factors of 1e-6); dividing by
# this brings it to the 1e-6 USD of every cash amount.
E24_PER_CASH_UNIT = PRICE_ONE**3


class FeeRate(msgspec.Struct, frozen=True):
    """A fee rate in parts per million: 0.072 (7.2 %) is ``FeeRate(72_000)``."""

    ppm: int

    @classmethod
    def parse(cls, text: str) -> FeeRate:
        """A decimal rate as written in the config (``"0.072"``)."""
        return cls(parse_units(text))

    @classmethod
    def from_bps(cls, bps: int) -> FeeRate:
        """A rate in basis points, as Polymarket's ``fee_rate_bps`` reports it."""
        return cls(bps * 100)

    @property
    def bps(self) -> int:
        """The rate in whole basis points (truncated): what Polymarket puts on the wire."""
        return self.ppm // 100


NO_FEE = FeeRate(0)


def quadratic_e24(size: int, price: int, rate: FeeRate) -> int:
    """``rate x C x p x (1 - p)`` unrounded, in 1e-24 USD (size and price in 1e-6 units)."""
    return size * rate.ppm * price * (PRICE_ONE - price)


def ceil_to_grid(amount_e24: int, grid: int) -> int:
    """An amount in 1e-24 USD rounded up to a multiple of ``grid`` (1e-6 USD)."""
    return -(-amount_e24 // (E24_PER_CASH_UNIT * grid)) * grid


__all__ = ["NO_FEE", "FeeRate", "ceil_to_grid", "quadratic_e24"]
