"""Configuration of the simulated venue (plain frozen attrs: built by tests and the CLI)."""

from __future__ import annotations

import enum

import attrs

from actors.sim.units import ONE


class Venue(enum.Enum):
    """Which simulated venue a fault or instrument belongs to."""

    POLYMARKET = "polymarket"
    KALSHI = "kalshi"
    BINANCE = "binance"


class FaultKind(enum.Enum):
    """Faults the chaos harness can inject (see ``actors.sim.faults``)."""

    WS_CLOSE = "ws_close"  # abrupt TCP close of websocket connections, no close frame
    WS_STALL = "ws_stall"  # no data for ``duration`` s; PING/PONG and pings keep working
    WS_MALFORMED = "ws_malformed"  # ``count`` garbage frames on every connection
    KALSHI_SEQ_GAP = "kalshi_seq_gap"  # skip ``count`` seq numbers on each Kalshi sid
    POLY_BAD_HASH = "poly_bad_hash"  # next ``count`` Polymarket book/price_change hashes wrong
    REST_500 = "rest_500"  # next ``count`` requests answer 500
    REST_429 = "rest_429"  # next ``count`` requests answer 429
    REST_SLOW = "rest_slow"  # next ``count`` requests are delayed by ``delay`` s
    REST_TIMEOUT = "rest_timeout"  # next ``count`` requests never answer (held, then closed)
    REST_DROP_RESPONSE = "rest_drop"  # next ``count`` requests execute, reply is lost
    # Next ``count`` Polymarket trades settle FAILED (user channel: MATCHED, then FAILED
    # instead of CONFIRMED); the account's cash and shares are left as before the trade.
    POLY_TRADE_FAILED = "poly_trade_failed"


@attrs.frozen
class FaultSpec:
    """One fault. ``at`` (seconds after start) is used only in ``SimConfig.faults``."""

    kind: FaultKind
    venue: Venue | None = None  # None: every venue
    count: int = 1
    duration: float = 1.0
    delay: float = 1.0
    at: float = 0.0


# Polymarket fee categories and their taker rates x 1e6 (2026-04; docs/protocols.md, "Fees").
POLY_CATEGORIES: tuple[tuple[str, int], ...] = (
    ("crypto", 72_000),
    ("sports", 30_000),
    ("politics", 40_000),
    ("economics", 50_000),
    ("geopolitics", 0),
)


WINDOW_KINDS = ("poly_complement", "cross_poly_yes_kalshi_no", "cross_kalshi_yes_poly_no")


@attrs.frozen
class SimConfig:
    """Everything that shapes a sim run. Same config + same seed => same frames."""

    seed: int = 1
    markets: int = 4
    rate: float = 200.0  # target book-level updates per second, all venues together
    step_interval: float = 0.01  # seconds of sim time per scenario step
    window_rate: float = 0.05  # arbitrage windows opened per second (all markets)
    window_duration: float = 5.0  # mean window life, seconds (uniform 0.5x..1.5x)
    # The first window opens at this sim time if none opened before (0: only the rate):
    # a short run then shows a trade; the rate applies after it as before.
    first_window: float = 3.0
    window_size: int = 100 * ONE  # shares at the best level of a window's cheap leg
    # Which window kinds the scenario injects (a subset of ``WINDOW_KINDS``); the
    # e2e benchmark asks for complement windows only, so a one-venue bot sees them all.
    window_kinds: tuple[str, ...] = WINDOW_KINDS
    window_edge_min: int = 10_000  # gross per-share edge beyond fees, 1e-6 USD
    window_edge_max: int = 40_000
    levels: int = 5  # price levels per side
    half_spread: int = 15_000  # 1e-6 USD from a venue's mid to its best bid/ask
    noise: int = 10_000  # max per-venue deviation of the quoted mid from the fair value
    volatility: float = 0.005  # fair-value random walk, probability units per sqrt(s)
    kalshi_legacy_cents: bool = False  # emit the 2023-2025 integer-cent book format
    array_frame_probability: float = 0.3  # Polymarket frames batched as a JSON array
    epoch_ms: int | None = None  # wire timestamp of sim time 0 (None: wall clock at start)
    host: str = "127.0.0.1"
    tls: bool = False  # serve wss:// and https:// with a CA made for the run (actors.sim.tls)
    polymarket_port: int = 0
    kalshi_port: int = 0
    rest_port: int = 0
    binance_port: int | None = None  # None: no Binance reference stream; 0: a free port
    binance_symbols: tuple[str, ...] = ("BTCUSDT",)
    binance_quote_rate: float = 50.0  # bookTicker updates per second per symbol
    binance_trade_rate: float = 10.0  # aggTrade events per second per symbol (mean)
    binance_volatility: float = 0.0002  # relative random walk of the price per sqrt(s)
    binance_ping_interval: float = 20.0  # websocket Ping frames, as the venue
    ground_truth_path: str | None = None
    starting_cash: int = 10_000 * ONE  # per venue account, 1e-6 USD
    poly_min_order_size: int = 5 * ONE
    kalshi_ping_interval: float = 10.0
    send_buffer: int = 20_000  # frames queued per connection before it is dropped as slow
    faults: tuple[FaultSpec, ...] = ()

    def __attrs_post_init__(self) -> None:
        if self.markets < 1:
            raise ValueError("markets must be >= 1")
        if self.step_interval <= 0:
            raise ValueError("step_interval must be > 0")
        if self.levels < 2:
            raise ValueError("levels must be >= 2")
        if not self.window_kinds or not set(self.window_kinds) <= set(WINDOW_KINDS):
            raise ValueError(f"window_kinds: one or more of {', '.join(WINDOW_KINDS)}")
        if not 0 < self.window_edge_min <= self.window_edge_max:
            raise ValueError("need 0 < window_edge_min <= window_edge_max")
        for symbol in self.binance_symbols:
            if not symbol.isalnum() or symbol != symbol.upper():
                raise ValueError(f"binance symbols are uppercase alphanumerics, not {symbol!r}")
