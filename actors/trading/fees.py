"""What one fill really costs and delivers, computed as each venue does (docs/protocols.md,
"Fees"; the formulas are :mod:`protocols.venues.polymarket.fees` and
:mod:`protocols.venues.kalshi.fees`).

* Polymarket: takers only; on a **buy the fee is taken in shares**, on a sell in USDC.
  The user channel's ``trade`` carries the market's ``fee_rate_bps``; a REST-derived fill
  does not (``fee_rate_bps = -1``): the rate last seen on that instrument is used, else
  the configured (worst-case) rate, which under-estimates the shares received, so an
  unwind never sells more than is held.
* Kalshi: the fee is in cash, reported per fill (``fee_cost``) or per order
  (``taker_fees_dollars``); the configured model is only a fallback.

:class:`FeeBook` is shared by the fund manager (books) and the executor (unwind sizes), so
both agree on what a fill left in the account.
"""

from __future__ import annotations

import attrs

from protocols.config.trading import ExecutorConfig
from protocols.fixed import parse_units
from protocols.messages import Fill, InstrumentId, Liquidity, Side, Venue
from protocols.venues.fees import FeeRate
from protocols.venues.kalshi import fees as kalshi_fees
from protocols.venues.polymarket import fees as polymarket_fees

UNKNOWN_RATE = -1  # Fill.fee_rate_bps of a fill whose venue did not say
# Defaults when no config is given: Polymarket's highest category rate (whole bps, as the
# venue reports rates) and Kalshi's taker rate.
POLYMARKET_WORST_RATE = FeeRate.from_bps(720)
KALSHI_TAKER_RATE = FeeRate(70_000)


@attrs.frozen
class FillCost:
    fee: int  # cash value of the fee (1e-6 USD)
    fee_shares: int  # part of the fee taken in shares (Polymarket buys)
    received: int  # shares added (buy) or delivered (sell) to the account
    estimated: bool = False  # the venue reported no fee amount (computed from a rate)


@attrs.define(eq=False)
class FeeBook:
    """Fee of a fill per venue; remembers each Polymarket instrument's last reported rate."""

    polymarket_rate: FeeRate = POLYMARKET_WORST_RATE  # for a fill that carries no rate
    kalshi_rate: FeeRate = KALSHI_TAKER_RATE
    kalshi_round: int = kalshi_fees.CENT
    rates: dict[InstrumentId, FeeRate] = attrs.field(factory=dict)
    estimated: int = 0  # fills whose fee had to be estimated

    @classmethod
    def from_config(cls, cfg: ExecutorConfig) -> FeeBook:
        return cls(
            # whole bps, as the venue reports rates; up, so it stays the worst case
            polymarket_rate=FeeRate.from_bps(-(-FeeRate.parse(cfg.polymarket.fee_rate).ppm // 100)),
            kalshi_rate=FeeRate.parse(cfg.kalshi.fee_rate),
            kalshi_round=max(1, parse_units(cfg.kalshi.fee_round)),
        )

    def learn(self, fill: Fill) -> None:
        """Remember a rate the venue reported (user-channel trades)."""
        if (
            fill.instrument.venue is Venue.POLYMARKET
            and fill.fee_rate_bps >= 0
            and (fill.fee < 0 and fill.liquidity is Liquidity.TAKER)
        ):
            self.rates[fill.instrument] = FeeRate.from_bps(fill.fee_rate_bps)

    def rate_for(self, instrument: InstrumentId) -> int:
        """The known rate of an instrument in bps (as a fill carries it), or ``UNKNOWN_RATE``."""
        rate = self.rates.get(instrument)
        return UNKNOWN_RATE if rate is None else rate.bps

    def cost(self, fill: Fill) -> FillCost:
        if fill.instrument.venue is Venue.POLYMARKET:
            return self._polymarket(fill)
        fee = fill.fee
        if fee < 0:
            self.estimated += 1
            fee = kalshi_fees.fee(fill.size, fill.price, self.kalshi_rate, grid=self.kalshi_round)
        return FillCost(fee, 0, fill.size, fill.fee < 0)

    def _polymarket(self, fill: Fill) -> FillCost:
        estimated = False
        if fill.liquidity is Liquidity.MAKER:
            fee = 0  # makers are never charged
        elif fill.fee >= 0:
            fee = fill.fee
        else:
            rate = self._polymarket_rate(fill)
            fee = polymarket_fees.taker_fee(fill.size, fill.price, rate)
            estimated = fill.fee_rate_bps < 0  # the rate was not the fill's own
        if fill.side is Side.BUY:
            shares = polymarket_fees.fee_in_shares(fee, fill.price)
            if shares < fill.size:  # a fee worth the whole fill is impossible: then in cash
                return FillCost(fee, shares, fill.size - shares, estimated)
        return FillCost(fee, 0, fill.size, estimated)

    def _polymarket_rate(self, fill: Fill) -> FeeRate:
        """The fill's own rate, else the instrument's last reported one, else the fallback."""
        if fill.fee_rate_bps >= 0:
            return FeeRate.from_bps(fill.fee_rate_bps)
        known = self.rates.get(fill.instrument)
        if known is not None:
            return known
        self.estimated += 1
        return self.polymarket_rate
