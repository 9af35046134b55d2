"""Pre-trade checks: every opportunity either becomes a reservation plan or one counted
reject reason. Pure: the fund manager passes in its ledger, ladder, limits and clock."""

from __future__ import annotations

import enum
import math

import attrs

from actors.trading.ladder import TradingLadder, TradingState
from actors.trading.ledger import Ledger
from protocols.config.trading import FundLimitsConfig, VenueExecConfig
from protocols.fixed import PRICE_ONE, Rounding, format_units, notional, parse_units
from protocols.messages import InstrumentId, Opportunity, OpportunityLeg, Side, Venue
from protocols.venues.fees import NO_FEE, FeeRate, ceil_to_grid, quadratic_e24


class RejectReason(enum.StrEnum):
    """Why an opportunity was not traded. Every member has a counter in statistics()."""

    TRADING_HALTED = "trading_halted"
    TRADING_REDUCING = "trading_reducing"
    SHUTTING_DOWN = "shutting_down"
    NOT_RECONCILED = "not_reconciled"
    STALE = "stale"
    DUPLICATE = "duplicate_opportunity"
    INVALID = "invalid_opportunity"
    LEG_IN_FLIGHT = "leg_in_flight"
    UNKNOWN_VENUE = "venue_not_enabled"
    TICK_SIZE = "tick_size"
    MIN_SIZE = "min_size"
    MAX_NOTIONAL = "max_notional_per_order"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    INSUFFICIENT_POSITION = "insufficient_position"
    EXPOSURE_INSTRUMENT = "exposure_instrument"
    EXPOSURE_PAIR = "exposure_pair"
    EXPOSURE_VENUE = "exposure_venue"
    EXPOSURE_TOTAL = "exposure_total"
    MAX_OPEN_POSITIONS = "max_open_positions"
    DAILY_LOSS = "daily_loss_limit"


@attrs.frozen
class FeeModel:
    """The taker fee a reservation covers: ``rate x C x p x (1 - p)`` rounded *up* on a
    ``round_unit`` grid (1e-6 USD); each venue's grid is configured so this is never below
    what the venue charges (the exact formulas are in :mod:`actors.trading.fees`)."""

    rate: FeeRate = NO_FEE
    round_unit: int = 1

    @classmethod
    def from_config(cls, cfg: VenueExecConfig) -> FeeModel:
        return cls(FeeRate.parse(cfg.fee_rate), max(1, parse_units(cfg.fee_round)))

    def fee(self, price: int, size: int) -> int:
        return ceil_to_grid(quadratic_e24(size, price, self.rate), self.round_unit)


@attrs.frozen
class VenueRules:
    tick: int
    min_size: int
    fees: FeeModel
    size_step: int = 1  # order sizes are multiples of this (1e-6 shares)
    # Polymarket takes a buy's fee in shares: what is received must still be sellable.
    fee_in_shares: bool = False

    def sellable_after_buy(self, leg: OpportunityLeg) -> int:
        """Worst-case shares a buy leaves that can be sold again (unwind), on the size step:
        a fee taken in shares is ``C x rate x (1 - p)`` shares, at most ``C x rate``."""
        if not self.fee_in_shares or leg.side is not Side.BUY:
            return leg.size
        fee_shares = -(-leg.size * self.fees.rate.ppm // PRICE_ONE) + self.size_step
        return max(0, leg.size - fee_shares) // self.size_step * self.size_step

    def below_minimum(self, leg: OpportunityLeg) -> bool:
        return leg.size < self.min_size or self.sellable_after_buy(leg) < self.min_size

    @classmethod
    def from_config(cls, cfg: VenueExecConfig) -> VenueRules:
        return cls(
            parse_units(cfg.tick_size),
            parse_units(cfg.min_size),
            FeeModel.from_config(cfg),
            max(1, parse_units(cfg.size_step)),
        )


@attrs.frozen
class LegPlan:
    index: int
    leg: OpportunityLeg
    reserve: int  # cash reserved: worst-case notional + fee estimate


@attrs.frozen
class Limits:
    balance_buffer: int
    max_notional_per_order: int
    max_exposure_per_instrument: int
    max_exposure_per_pair: int
    max_exposure_per_venue: int
    max_exposure_total: int
    max_open_positions: int
    daily_loss_limit: int
    max_age_ns: int
    # The detector's minimum profit: a clipped opportunity must still make this much.
    min_profit: int = 10_000

    @classmethod
    def from_config(cls, cfg: FundLimitsConfig) -> Limits:
        return cls(
            balance_buffer=cfg.units("balance_buffer"),
            max_notional_per_order=cfg.units("max_notional_per_order"),
            max_exposure_per_instrument=cfg.units("max_exposure_per_instrument"),
            max_exposure_per_pair=cfg.units("max_exposure_per_pair"),
            max_exposure_per_venue=cfg.units("max_exposure_per_venue"),
            max_exposure_total=cfg.units("max_exposure_total"),
            max_open_positions=cfg.max_open_positions,
            daily_loss_limit=cfg.units("daily_loss_limit"),
            max_age_ns=int(cfg.max_opportunity_age_s * 1e9),
            min_profit=cfg.units("min_profit"),
        )


@attrs.frozen
class Rejection:
    reason: RejectReason
    detail: str


# Limits that bind on size: an opportunity failing one is clipped, not rejected.
SIZE_LIMITS = frozenset(
    {
        RejectReason.MAX_NOTIONAL,
        RejectReason.INSUFFICIENT_BALANCE,
        RejectReason.INSUFFICIENT_POSITION,
        RejectReason.EXPOSURE_INSTRUMENT,
        RejectReason.EXPOSURE_PAIR,
        RejectReason.EXPOSURE_VENUE,
        RejectReason.EXPOSURE_TOTAL,
    }
)


@attrs.frozen
class Approval:
    """An accepted opportunity: the legs' reservation plans at the approved size.

    ``size < original`` means it was clipped to fit ``binding`` (both legs equally, on
    every leg venue's size step); ``edge`` is the expected edge at the approved size
    (the opportunity's own when not clipped, else the recomputed lower bound)."""

    plans: list[LegPlan]
    size: int
    original: int
    edge: int
    binding: RejectReason | None = None

    @property
    def clipped(self) -> bool:
        return self.size < self.original


def check_opportunity(
    opp: Opportunity,
    *,
    ledger: Ledger,
    ladder: TradingLadder,
    limits: Limits,
    rules: dict[Venue, VenueRules],
    now_ns: int,
) -> Approval | Rejection:
    """All checks, cheapest first; the first failure is the reason.

    A failure of a size-bound limit (:data:`SIZE_LIMITS`) clips the size of every leg to
    the largest that passes all checks, rounded down to the legs' size steps; it is a
    reject (with the binding limit's reason) only if that size is below a venue minimum
    or its expected edge is below ``limits.min_profit``."""
    static = _static_checks(
        opp, ladder=ladder, limits=limits, rules=rules, now_ns=now_ns, ledger=ledger
    )
    if static is not None:
        return static
    original = opp.legs[0].size
    first = _sized_checks(opp.legs, ledger=ledger, limits=limits, rules=rules)
    if not isinstance(first, Rejection):
        return Approval(first, original, original, opp.expected_edge)
    if first.reason not in SIZE_LIMITS or any(leg.size != original for leg in opp.legs):
        return first
    step = 1
    for leg in opp.legs:
        step = math.lcm(step, rules[leg.instrument.venue].size_step)
    floor_size = max(rules[leg.instrument.venue].min_size for leg in opp.legs)

    def too_small(size: int) -> bool:
        return any(
            rules[leg.instrument.venue].below_minimum(leg) for leg in _resized(opp.legs, size)
        )

    # Largest k with k * step < original that passes (every sized check is monotone).
    lo, hi = 1, (original - 1) // step
    best: list[LegPlan] | None = None
    best_size = 0
    while lo <= hi:
        mid = (lo + hi) // 2
        legs = _resized(opp.legs, mid * step)
        attempt = _sized_checks(legs, ledger=ledger, limits=limits, rules=rules)
        if isinstance(attempt, Rejection):
            hi = mid - 1
        else:
            best, best_size, lo = attempt, mid * step, mid + 1
    # The binding limit is the one that fails one step above the approved size (at the
    # venue minimum when nothing passes), which need not be the first failure at the
    # detected size.
    fits = best is not None and not too_small(best_size)
    above = best_size + step if fits else -(-floor_size // step) * step
    binding = first
    if above < original:
        at_above = _sized_checks(
            _resized(opp.legs, above), ledger=ledger, limits=limits, rules=rules
        )
        if isinstance(at_above, Rejection) and at_above.reason in SIZE_LIMITS:
            binding = at_above
    what = f"{binding.detail}; clipped {format_units(original)}"
    if best is None or not fits:
        size_text = format_units(best_size) if best is not None else "nothing"
        return Rejection(
            binding.reason,
            f"{what} -> {size_text} < venue minimum {format_units(floor_size)}",
        )
    net_edge = clipped_edge(opp, best_size, rules)
    if net_edge < limits.min_profit:
        return Rejection(
            binding.reason,
            f"{what} -> {format_units(best_size)}: edge {format_units(net_edge)} < min profit "
            f"{format_units(limits.min_profit)}",
        )
    return Approval(best, best_size, original, net_edge, binding.reason)


def clipped_edge(opp: Opportunity, size: int, rules: dict[Venue, VenueRules]) -> int:
    """Expected net edge of ``opp`` cut down to ``size`` (a lower bound, never assumed).

    The gross edge (``expected_edge + fees``) scales down at least proportionally: a
    smaller size takes only the best levels, so both legs' VWAP can only improve. Fees
    scale proportionally too, plus one rounding unit per leg (per-fill rounding, e.g.
    Kalshi's cent, can make a smaller fill's fee per share slightly larger)."""
    whole = opp.legs[0].size
    gross = opp.expected_edge + opp.fees
    fees = -(-opp.fees * size // whole)
    allowance = sum(rules[leg.instrument.venue].fees.round_unit for leg in opp.legs)
    return gross * size // whole - fees - allowance


def _resized(legs: tuple[OpportunityLeg, ...], size: int) -> tuple[OpportunityLeg, ...]:
    return tuple(
        OpportunityLeg(
            instrument=leg.instrument, side=leg.side, limit_price=leg.limit_price, size=size
        )
        for leg in legs
    )


def _static_checks(
    opp: Opportunity,
    *,
    ledger: Ledger,
    ladder: TradingLadder,
    limits: Limits,
    rules: dict[Venue, VenueRules],
    now_ns: int,
) -> Rejection | None:
    """Everything that does not depend on the size (or only rejects smaller sizes)."""
    if ladder.state is TradingState.HALTED:
        return Rejection(RejectReason.TRADING_HALTED, ladder.reason)
    if ladder.state is TradingState.REDUCING and any(leg.side is Side.BUY for leg in opp.legs):
        return Rejection(RejectReason.TRADING_REDUCING, ladder.reason)
    # An opportunity is as old as the tick that made it (its newest quote). A quiet book's
    # older quote is not stale on that account: its feed is live and its book unchanged,
    # and the detector already refused quotes older than its max_quote_age_s.
    age = now_ns - (opp.trigger_recv_ns or opp.recv_ns)
    if age > limits.max_age_ns:
        return Rejection(
            RejectReason.STALE, f"age {age / 1e6:.1f} ms > {limits.max_age_ns / 1e6:.1f} ms"
        )
    if not opp.legs:
        return Rejection(RejectReason.INVALID, "no legs")
    if len({leg.instrument for leg in opp.legs}) != len(opp.legs):
        return Rejection(RejectReason.INVALID, "two legs on one instrument")
    for leg in opp.legs:
        # Another execution's order on this instrument is still open: both were sized on
        # the same book, so this one would find the liquidity gone, fail that leg and
        # unwind the other at a loss (two strategies seeing one window at once).
        busy = ledger.live_by_instrument.get(leg.instrument)
        if busy:
            return Rejection(
                RejectReason.LEG_IN_FLIGHT,
                f"{leg.instrument.key()}: order {next(iter(busy))} still open",
            )
    if ledger.daily_loss() >= limits.daily_loss_limit:
        return Rejection(
            RejectReason.DAILY_LOSS,
            f"loss today {ledger.daily_loss()} >= limit {limits.daily_loss_limit}",
        )
    for i, leg in enumerate(opp.legs):
        venue_rules = rules.get(leg.instrument.venue)
        if venue_rules is None:
            return Rejection(RejectReason.UNKNOWN_VENUE, f"leg {i}: {leg.instrument.venue}")
        if leg.size <= 0 or not 0 < leg.limit_price < PRICE_ONE:
            return Rejection(
                RejectReason.INVALID, f"leg {i}: size {leg.size} price {leg.limit_price}"
            )
        if venue_rules.tick and leg.limit_price % venue_rules.tick:
            return Rejection(
                RejectReason.TICK_SIZE,
                f"leg {i}: price {leg.limit_price} off tick {venue_rules.tick}",
            )
        if venue_rules.below_minimum(leg):
            return Rejection(
                RejectReason.MIN_SIZE,
                f"leg {i}: size {leg.size} (sellable after fees "
                f"{venue_rules.sellable_after_buy(leg)}) < {venue_rules.min_size}",
            )
    return None


def _sized_checks(
    legs: tuple[OpportunityLeg, ...],
    *,
    ledger: Ledger,
    limits: Limits,
    rules: dict[Venue, VenueRules],
) -> list[LegPlan] | Rejection:
    """The checks that depend on the legs' size; each is monotone (a smaller size never
    fails one that a larger size passed)."""
    plans: list[LegPlan] = []
    need: dict[Venue, int] = {}
    for i, leg in enumerate(legs):
        venue_rules = rules[leg.instrument.venue]
        fee = venue_rules.fees.fee(leg.limit_price, leg.size)
        if leg.side is Side.BUY:
            value = notional(leg.limit_price, leg.size, Rounding.CEIL)
            reserve = value + fee
        else:
            value = notional(leg.limit_price, leg.size, Rounding.FLOOR)
            reserve = fee
            if ledger.available_shares(leg.instrument) < leg.size:
                return Rejection(
                    RejectReason.INSUFFICIENT_POSITION, f"leg {i}: sell {leg.size} not held"
                )
        if value > limits.max_notional_per_order:
            return Rejection(
                RejectReason.MAX_NOTIONAL,
                f"leg {i}: notional {value} > {limits.max_notional_per_order}",
            )
        venue = leg.instrument.venue
        need[venue] = need.get(venue, 0) + reserve
        plans.append(LegPlan(i, leg, reserve))

    for venue, amount in need.items():
        free = ledger.cash.get(venue, 0) - limits.balance_buffer
        if amount > free:
            return Rejection(
                RejectReason.INSUFFICIENT_BALANCE,
                f"{venue}: need {amount}, free {ledger.cash.get(venue, 0)} - buffer "
                f"{limits.balance_buffer}",
            )

    # Exposure after the trade (only buys add exposure), from the ledger's per-instrument
    # index: O(legs), whatever the fund holds.
    added: dict[InstrumentId, int] = {}
    for plan in plans:
        if plan.leg.side is Side.BUY:
            added[plan.leg.instrument] = added.get(plan.leg.instrument, 0) + plan.reserve
    for inst, extra in added.items():
        after = ledger.instrument_exposure(inst) + extra
        if after > limits.max_exposure_per_instrument:
            return Rejection(
                RejectReason.EXPOSURE_INSTRUMENT,
                f"{inst.key()}: {after} > {limits.max_exposure_per_instrument}",
            )
    added_total = sum(added.values())
    pair_after = sum(ledger.instrument_exposure(leg.instrument) for leg in legs) + added_total
    if pair_after > limits.max_exposure_per_pair:
        return Rejection(
            RejectReason.EXPOSURE_PAIR, f"pair: {pair_after} > {limits.max_exposure_per_pair}"
        )
    for venue in {inst.venue for inst in added}:
        venue_after = ledger.venue_exposure(venue) + sum(
            v for i, v in added.items() if i.venue is venue
        )
        if venue_after > limits.max_exposure_per_venue:
            return Rejection(
                RejectReason.EXPOSURE_VENUE,
                f"{venue}: {venue_after} > {limits.max_exposure_per_venue}",
            )
    total_after = ledger.total_exposure() + added_total
    if total_after > limits.max_exposure_total:
        return Rejection(
            RejectReason.EXPOSURE_TOTAL, f"total: {total_after} > {limits.max_exposure_total}"
        )
    open_now = ledger.open_instruments()
    new_positions = sum(1 for inst in added if inst not in open_now)
    opened = len(open_now) + new_positions
    if new_positions and opened > limits.max_open_positions:
        return Rejection(
            RejectReason.MAX_OPEN_POSITIONS,
            f"{opened} positions > {limits.max_open_positions}",
        )
    return plans
