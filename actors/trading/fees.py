"""What one fill really costs and delivers, computed as each venue does (VENUES 3.4, 4.10).

* Polymarket: ``fee = C x rate x p x (1 - p)`` USDC, takers only, rounded half-up to 5
  decimals; on a **buy it is taken in shares** (``fee / p`` shares, rounded down to 1e-6,
  as the simulated venue does), on a sell in USDC. The user channel's ``trade`` carries
  the market's ``fee_rate_bps``; a REST-derived fill does not (``fee_rate_bps = -1``): the
  rate last seen on that instrument is used, else the configured (worst-case) rate, which
  under-estimates the shares received, so an unwind never sells more than is held.
* Kalshi: the fee is in cash, reported per fill (``fee_cost``) or per order
  (``taker_fees_dollars``); the configured model is only a fallback.

:class:`FeeBook` is shared by the fund manager (books) and the executor (unwind sizes), so
both agree on what a fill left in the account.
"""

from __future__ import annotations

import attrs

from protocols.config.trading import ExecutorConfig
from protocols.fixed import PRICE_ONE, parse_units
from protocols.messages import Fill, InstrumentId, Liquidity, Side, Venue

UNKNOWN_RATE = -1  # Fill.fee_rate_bps of a fill whose venue did not say


def polymarket_fee(size: int, price: int, rate_bps: int) -> int:
    """One Polymarket taker fill's fee in 1e-6 USDC (half-up to 5 decimals = 10 units)."""
    if rate_bps <= 0 or size <= 0:
        return 0
    num = size * rate_bps * price * (PRICE_ONE - price)  # 1e-22 USD
    den = 10**17  # 0.00001 USD in 1e-22 USD
    return ((num + den // 2) // den) * 10


def polymarket_fee_shares(fee: int, price: int) -> int:
    """A buy's fee taken in shares: ``fee / p``, rounded down to 1e-6 share."""
    return fee * PRICE_ONE // price if fee > 0 and price > 0 else 0


@attrs.frozen
class FillCost:
    fee: int  # cash value of the fee (1e-6 USD)
    fee_shares: int  # part of the fee taken in shares (Polymarket buys)
    received: int  # shares added (buy) or delivered (sell) to the account


@attrs.define(eq=False)
class FeeBook:
    """Fee of a fill per venue; remembers each Polymarket instrument's last reported rate."""

    polymarket_rate_bps: int = 720  # fallback when the fill carries no rate (worst case)
    kalshi_rate: int = 70_000  # x1e6
    kalshi_round: int = 10_000  # Kalshi rounds fees up to the cent
    rates: dict[InstrumentId, int] = attrs.field(factory=dict)
    estimated: int = 0  # fills whose fee had to be estimated

    @classmethod
    def from_config(cls, cfg: ExecutorConfig) -> FeeBook:
        return cls(
            polymarket_rate_bps=parse_units(cfg.polymarket.fee_rate) // 100,
            kalshi_rate=parse_units(cfg.kalshi.fee_rate),
            kalshi_round=max(1, parse_units(cfg.kalshi.fee_round)),
        )

    def learn(self, fill: Fill) -> None:
        """Remember a rate the venue reported (user-channel trades)."""
        if (
            fill.instrument.venue is Venue.POLYMARKET
            and fill.fee_rate_bps >= 0
            and (fill.fee < 0 and fill.liquidity is Liquidity.TAKER)
        ):
            self.rates[fill.instrument] = fill.fee_rate_bps

    def rate_for(self, instrument: InstrumentId) -> int:
        """The known rate of an instrument, or ``UNKNOWN_RATE``."""
        return self.rates.get(instrument, UNKNOWN_RATE)

    def cost(self, fill: Fill) -> FillCost:
        if fill.instrument.venue is Venue.POLYMARKET:
            return self._polymarket(fill)
        fee = fill.fee
        if fee < 0:
            self.estimated += 1
            num = self.kalshi_rate * fill.size * fill.price * (PRICE_ONE - fill.price)
            den = PRICE_ONE**3 * self.kalshi_round
            fee = -(-num // den) * self.kalshi_round
        return FillCost(fee, 0, fill.size)

    def _polymarket(self, fill: Fill) -> FillCost:
        if fill.liquidity is Liquidity.MAKER:
            fee = 0  # makers are never charged
        elif fill.fee >= 0:
            fee = fill.fee
        else:
            rate = fill.fee_rate_bps
            if rate < 0:
                rate = self.rates.get(fill.instrument, UNKNOWN_RATE)
            if rate < 0:
                self.estimated += 1
                rate = self.polymarket_rate_bps
            fee = polymarket_fee(fill.size, fill.price, rate)
        if fill.side is Side.BUY:
            shares = polymarket_fee_shares(fee, fill.price)
            if shares < fill.size:  # a fee worth the whole fill is impossible: then in cash
                return FillCost(fee, shares, fill.size - shares)
        return FillCost(fee, 0, fill.size)
