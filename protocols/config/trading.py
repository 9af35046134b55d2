"""Configuration of the trading path: fund manager, trading-state ladder, executor, watchdog.

msgspec Structs with ``forbid_unknown_fields=True`` and defaults for everything. Money is
written as decimal *strings* of US dollars (``"100"``, ``"0.50"``) and parsed exactly with
:func:`protocols.fixed.parse_units` by the code that uses it (see the ``*_units`` helpers);
times are float seconds (they drive timers, never a trade decision).

Secrets are never part of this schema: live keys come from the environment or key files
whose *paths* are named by environment variables (see ``docs/trading.md``).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from protocols.config.limits import (
    DAY_S,
    Capacity,
    Count,
    CountOrOff,
    Dollars,
    Jitter,
    PositiveDollars,
    PriceStep,
    Rate,
    Seconds,
    SecondsOrOff,
    Shares,
)
from protocols.fixed import parse_units


class _Cfg(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    pass


class FundLimitsConfig(_Cfg, frozen=True):
    """Pre-trade limits checked on every opportunity (all dollar amounts are strings)."""

    balance_buffer: Dollars = "5"  # per venue: cash that is never committed
    max_notional_per_order: PositiveDollars = "100"
    max_exposure_per_instrument: PositiveDollars = "250"
    max_exposure_per_pair: PositiveDollars = "400"
    max_exposure_per_venue: PositiveDollars = "1000"
    max_exposure_total: PositiveDollars = "1500"
    max_open_positions: Count = 50
    daily_loss_limit: PositiveDollars = "50"
    max_opportunity_age_s: Seconds = 0.5
    # An opportunity too big for a size-bound limit (notional per order, balance, exposure)
    # is clipped to fit; still rejected if its expected edge at the clipped size is below
    # this. Keep it equal to market.detector.min_profit.
    min_profit: Dollars = "0.01"

    def units(self, name: str) -> int:
        """A dollar field as exact 1e-6 USD units (``units("balance_buffer")``)."""
        value = getattr(self, name)
        if not isinstance(value, str):
            raise TypeError(f"{name} is not a money field")
        return parse_units(value)


TradingStateName = Literal["active", "reducing", "halted"]


class TradingStateConfig(_Cfg, frozen=True):
    """The ACTIVE -> REDUCING -> HALTED ladder's start state and kill switch."""

    initial: TradingStateName = "active"
    # A file whose existence halts trading (latched). "" disables the kill-switch file.
    kill_switch_file: str = ""
    kill_switch_poll_s: Seconds = 0.25


class RetentionConfig(_Cfg, frozen=True):
    """How long per-order records outlive the order (docs/trading.md, "Retention").

    A terminal (DONE) order, its per-fill booking records and fill-dedup keys (fund
    manager) and its fill watermarks, links and fill ids (executor) are dropped
    ``retain_done_s`` after the order became terminal: long enough for every late report a
    venue sends about it (a duplicate fill from the other path, a late user-channel fill, a
    Polymarket MATCHED -> FAILED reversal). Orders not terminal are never dropped."""

    retain_done_s: Annotated[float, msgspec.Meta(gt=0, le=30 * DAY_S)] = 3600.0
    # Backstop: at most this many terminal orders kept (and as many fill records without a
    # tracked order); beyond it the oldest go early, counted and logged. ~1.75 KB each.
    max_done_orders: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)] = 50_000
    # How often the fund manager retires what is due (O(retired) per sweep, off the hot path).
    sweep_interval_s: Seconds = 10.0
    # Ids of the last retired orders remembered (FIFO, ~0.33 KB each), so a late report
    # about one is recognized as such (never booked, counted, logged, REDUCING) rather than
    # taken for an unknown order's.
    remember_retired: Annotated[int, msgspec.Meta(ge=0, le=10_000_000)] = 20_000


class FundManagerConfig(_Cfg, frozen=True):
    limits: FundLimitsConfig = msgspec.field(default_factory=FundLimitsConfig)
    state: TradingStateConfig = msgspec.field(default_factory=TradingStateConfig)
    retention: RetentionConfig = msgspec.field(default_factory=RetentionConfig)
    # Fallback checkpoint file when storage provides no loader ("" = none).
    checkpoint_file: str = ""
    # Paper mode without a venue balance endpoint: starting cash per venue (dollars).
    paper_balances: dict[str, Dollars] = msgspec.field(
        default_factory=lambda: {"polymarket": "1000", "kalshi": "1000"}
    )
    # Cash difference tolerated between the checkpoint and the venue at start-up (dollars).
    reconcile_tolerance: Dollars = "0"
    checkpoint_interval_s: Seconds = 30.0
    # Re-run the pre-trade checks on the last opportunity this often, keeping the decision
    # path in the CPU caches (actors.trading.rehearsal); 0 = off.
    rehearse_interval_s: SecondsOrOff = 0.0
    inbox_capacity: Capacity = 64  # detector -> fund manager (BLOCK, small)
    # Direct dispatch on the detector -> fund manager edge: an opportunity found while the
    # fund manager is idle is decided in the detector's step (supervision.mailbox).
    direct: bool = True
    outcomes_capacity: Capacity = 1024  # executor -> fund manager (BLOCK, never dropped)
    intents_capacity: Capacity = 256  # fund manager -> executor (BLOCK, never dropped)

    def __post_init__(self) -> None:
        # An opportunity id is forgotten with its last order, at least retain_done_s after
        # it was accepted: a replay of it must be stale by then, never a second execution.
        if self.retention.retain_done_s <= self.limits.max_opportunity_age_s:
            raise ValueError(
                "retention.retain_done_s must be greater than limits.max_opportunity_age_s"
            )


class RetryConfig(_Cfg, frozen=True):
    """Transport-error retries: delay(n) = min(max_s, base_s * 2**n) * (1 + U*jitter)."""

    attempts: Count = 3  # total tries, the first included
    base_s: Seconds = 0.05
    max_s: Seconds = 0.2
    jitter: Jitter = 0.2


class RelookupConfig(_Cfg, frozen=True):
    """Re-lookups of AMBIGUOUS orders whose lookups all failed at the time: the executor
    keeps looking each one up by client order id (never resending it) until the venue
    answers; the n-th re-lookup waits min(max_s, interval_s * 2**n) * (1 + U*jitter)."""

    interval_s: Seconds = 1.0
    max_s: Seconds = 30.0
    jitter: Jitter = 0.2


class RateLimitConfig(_Cfg, frozen=True):
    """Token bucket for order writes: ``rate_per_s`` sustained, ``burst`` tokens at most."""

    rate_per_s: Annotated[float, msgspec.Meta(gt=0, le=100_000)] = 10.0
    burst: Annotated[float, msgspec.Meta(ge=1, le=100_000)] = 10.0


class BreakerConfig(_Cfg, frozen=True):
    """One circuit breaker per venue: ``failure_threshold`` consecutive failures open it for
    ``open_s`` (a 429 opens it for Retry-After, or ``rate_limited_open_s``); then
    ``half_open_probes`` trial requests decide between closed and open again."""

    failure_threshold: Count = 5
    open_s: Seconds = 5.0
    rate_limited_open_s: Seconds = 1.0
    half_open_probes: Count = 1


class HttpConfig(_Cfg, frozen=True):
    """httpx.AsyncClient settings (one client per venue, pooled, keep-alive)."""

    connect_timeout_s: Seconds = 1.0
    read_timeout_s: Seconds = 2.0
    write_timeout_s: Seconds = 1.0
    pool_timeout_s: Seconds = 0.5
    max_connections: Count = 16
    max_keepalive_connections: CountOrOff = 8
    keepalive_expiry_s: Seconds = 30.0
    # A cheap read per venue at start and then this often, so orders find an open
    # connection (a TCP connect on the order path costs milliseconds); 0 turns it off.
    keep_warm_s: SecondsOrOff = 10.0
    # Connections kept warm per venue: one per leg that may be in flight to one venue at
    # once, so every leg finds one idle. A complement execution sends both legs to one
    # venue, and a window often triggers two executions in the same step (complement and
    # cross-venue): with 2, the third leg paid a connect (the p99 of tick -> order).
    keep_warm_connections: Annotated[int, msgspec.Meta(ge=1, le=64)] = 4
    # "keepalive": arbtree's lean HTTP/1.1 pool (actors/trading/keepalive_transport.py),
    # which writes an order in one send from the calling task's step, over http:// and
    # https:// (TLS on a memory BIO); "httpcore": httpx's default transport.
    transport: Literal["keepalive", "httpcore"] = "keepalive"
    # PEM file of a CA trusted in addition to the system's (paper mode: the sim's own CA,
    # set by ``arbtree run``); "" = the system's trust store only.
    ca_file: str = ""


class VenueExecConfig(_Cfg, frozen=True):
    """One venue's order endpoint. In paper mode ``rest_url`` is the simulated venue's base
    URL (``arbtree run`` fills it in); in live mode it is the real venue."""

    enabled: bool = True
    rest_url: str = ""
    rate_limit: RateLimitConfig = msgspec.field(default_factory=RateLimitConfig)
    # Taker fee model for reservations and for fills that report neither a fee nor a rate
    # (reservations: ceil(fee_rate * size * p * (1 - p)) at ``fee_round`` dollars; fills:
    # each venue's own rounding, see actors/trading/fees.py).
    fee_rate: Rate = "0"
    fee_round: PriceStep = "0.000001"
    tick_size: PriceStep = "0.01"
    min_size: Shares = "1"
    # Order sizes are multiples of this (shares): clipped sizes are rounded down to it.
    size_step: Shares = "0.01"
    # The venue's user channel (our fills): Polymarket's user websocket (``/ws/user``),
    # Kalshi's market websocket (subscribed to the ``fill`` channel). "" = not connected
    # (fills then come from REST acks and lookups only). ``arbtree run`` fills it from the
    # sim in paper mode.
    user_ws_url: str = ""
    # Polymarket: condition ids to subscribe to on the user channel ([] = all markets).
    user_markets: list[str] = msgspec.field(default_factory=list)
    # Polymarket live orders (EIP-712 signed; keys from the environment, see docs/trading.md):
    # "eoa" trades the key's own funds; "proxy" / "safe" sign for the wallet in
    # POLYMARKET_FUNDER. Orders on neg-risk markets are signed for the neg-risk exchange:
    # ``arbtree run`` adds the tokens of every market.detector.polymarket entry with
    # ``neg_risk = true`` to ``neg_risk_tokens``.
    signature_type: Literal["eoa", "proxy", "safe"] = "eoa"
    chain_id: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)] = 137
    # Polymarket: where positions are read for reconciliation (the data API,
    # ``GET /positions?user=<address>``); "" = ``rest_url`` (the sim serves it there).
    positions_url: str = ""
    neg_risk_tokens: list[str] = msgspec.field(default_factory=list)


def _default_polymarket() -> VenueExecConfig:
    return VenueExecConfig(
        rest_url="",
        rate_limit=RateLimitConfig(rate_per_s=200.0, burst=350.0),
        # Only when the venue's own rate is unknown (a REST-derived fill before the user
        # channel reported this market's fee_rate_bps): the highest category rate, so the
        # shares received are never over-estimated.
        fee_rate="0.072",
        fee_round="0.00001",
        tick_size="0.01",
        min_size="5",
    )


def _default_kalshi() -> VenueExecConfig:
    return VenueExecConfig(
        rest_url="",
        rate_limit=RateLimitConfig(rate_per_s=10.0, burst=10.0),
        fee_rate="0.07",
        fee_round="0.01",
        tick_size="0.01",
        min_size="1",
        size_step="1",
    )


class UserChannelConfig(_Cfg, frozen=True):
    """The user-channel actors (one per venue with ``user_ws_url``)."""

    # Reconnect backoff: min(max_s, min_s * 2**n) * (1 + U*jitter), reset after data.
    reconnect_min_s: Seconds = 0.1
    reconnect_max_s: Seconds = 5.0
    reconnect_jitter: Jitter = 0.2
    connect_timeout_s: Seconds = 5.0
    # Polymarket wants a text PING every <= 10 s.
    ping_interval_s: Seconds = 5.0
    message_queue_size: Capacity = 1024
    # PEM file of a CA trusted in addition to the system's (paper mode: the sim's own CA,
    # set by ``arbtree run``); "" = the system's trust store only.
    ca_file: str = ""
    # Wait at most this long after a venue's REST ack for the user channel to report the
    # fills (with their real fee), before falling back to the REST-derived fill.
    fill_wait_s: SecondsOrOff = 0.25


class ExecutorConfig(_Cfg, frozen=True):
    mode: Literal["paper", "live"] = "paper"
    # Direct dispatch on the fund manager -> executor edge: an execution decided while the
    # executor is idle has its legs written in the deciding step (supervision.mailbox;
    # the replies are awaited by the executor's own tasks); false = queued.
    direct: bool = True
    # Live trading needs this flag AND the environment variable ARBTREE_LIVE=yes.
    live: bool = False
    polymarket: VenueExecConfig = msgspec.field(default_factory=_default_polymarket)
    kalshi: VenueExecConfig = msgspec.field(default_factory=_default_kalshi)
    http: HttpConfig = msgspec.field(default_factory=HttpConfig)
    retry: RetryConfig = msgspec.field(default_factory=RetryConfig)
    breaker: BreakerConfig = msgspec.field(default_factory=BreakerConfig)
    time_in_force: Literal["fok", "ioc"] = "fok"
    # Rebuild the last execution's order requests (unsent, unsigned) this often, keeping
    # the order path in the CPU caches (actors.trading.rehearsal); 0 = off.
    rehearse_interval_s: SecondsOrOff = 0.0
    # A filled leg whose partner did not fill is unwound within this delay.
    max_leg_delay_s: Seconds = 0.5
    # Unwind price: at most this far (dollars) through the fill price, floored at one tick.
    unwind_max_slippage: Rate = "0.10"
    ambiguous_lookup_attempts: Count = 5
    relookup: RelookupConfig = msgspec.field(default_factory=RelookupConfig)
    max_concurrent_executions: Count = 8
    drain_timeout_s: Seconds = 5.0
    user_channel: UserChannelConfig = msgspec.field(default_factory=UserChannelConfig)


class WatchdogConfig(_Cfg, frozen=True):
    check_interval_s: Seconds = 0.5
    # Restarts (by the watchdog or the supervisors) counted in this window escalate:
    restart_window_s: Seconds = 60.0
    restarts_to_reducing: Count = 3
    restarts_to_halted: Count = 6
    # Storage unhealthy (down / spilling) for this long -> REDUCING, then HALTED.
    storage_down_reducing_s: Seconds = 30.0
    storage_down_halted_s: Seconds = 120.0
    # A restarted actor is given this long to heartbeat again before another restart.
    restart_grace_s: Seconds = 2.0


class TradingConfig(_Cfg, frozen=True):
    fund: FundManagerConfig = msgspec.field(default_factory=FundManagerConfig)
    executor: ExecutorConfig = msgspec.field(default_factory=ExecutorConfig)
    watchdog: WatchdogConfig = msgspec.field(default_factory=WatchdogConfig)
