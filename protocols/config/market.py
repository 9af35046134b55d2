"""Configuration of the market-data path: feeds, quote cache, detector.

msgspec Structs with ``forbid_unknown_fields=True`` (a typo in a TOML key is an error, not a
silently ignored setting) and defaults for everything that has a sensible one. Prices and
sizes in this schema are decimal *strings* (``"0.005"``) parsed with
:mod:`protocols.fixed` into exact ints by the code that uses them; times are float seconds
(they only drive timers, never a trade decision).

Load from TOML with ``msgspec.toml.decode(data, type=MarketConfig)``.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from protocols.config.limits import (
    Bytes,
    Capacity,
    Count,
    CountOrOff,
    Dollars,
    Jitter,
    Multiplier,
    Rate,
    Seconds,
    SecondsOrOff,
    Shares,
)
from protocols.messages import Venue


class ReconnectConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Exponential backoff with jitter: delay(n) = min(max_s, min_s * 2**n) * (1 + U*jitter).

    The first retry comes after ``min_s`` (default 0.1 s, so within ~250 ms with jitter).
    """

    min_s: Seconds = 0.1
    max_s: Seconds = 30.0
    jitter: Jitter = 0.5
    # A connection that stayed up (and delivered data) this long resets the attempt count.
    reset_after_s: Seconds = 10.0


class CircuitBreakerConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Stop hammering a venue: after ``failure_threshold`` consecutive failed connections
    (connect error, or dropped before any data) the breaker opens for ``open_s``; then one
    trial connection is allowed (half-open). Each re-open doubles ``open_s`` up to
    ``max_open_s``."""

    failure_threshold: Count = 5
    open_s: Seconds = 30.0
    max_open_s: Seconds = 300.0


class LivenessConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Liveness is data, not pings.

    * ``first_book_s``: subscribed but no first book for this long -> resubscribe.
    * ``no_data_s``: an instrument with no data for this long -> resubscribe.
    * ``resubscribes_before_reconnect``: that many resubscribes without data -> reconnect.
    * ``connection_silence_s``: no frame at all (data, pong or control) -> reconnect.
    """

    first_book_s: Seconds = 10.0
    no_data_s: Seconds = 60.0
    resubscribes_before_reconnect: CountOrOff = 1
    connection_silence_s: Seconds = 30.0
    check_interval_s: Seconds = 1.0


class FeedConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """One websocket connection to one venue."""

    name: str  # child id in the feeds supervisor, e.g. "polymarket"
    venue: Venue
    url: str  # market websocket URL (sim or real)
    rest_url: str = ""  # REST base for resync (Polymarket GET /book); "" = resubscribe instead
    instruments: list[str] = msgspec.field(default_factory=list)  # token ids / tickers / pairs
    ping_interval_s: Seconds = 10.0  # Polymarket text PING; ws ping for Kalshi/Binance
    pong_timeout_s: Seconds = 30.0
    liveness: LivenessConfig = msgspec.field(default_factory=LivenessConfig)
    reconnect: ReconnectConfig = msgspec.field(default_factory=ReconnectConfig)
    breaker: CircuitBreakerConfig = msgspec.field(default_factory=CircuitBreakerConfig)
    raw_frame_logging: bool = False  # log every raw frame at DEBUG (off: it is the hot path)
    decode_error_log_every: Count = 100  # log 1st, then every Nth decode error
    # Bytes per socket read: the feed handles every message one read completes as one
    # batch, so under load one read carries many frames instead of a part of one.
    receive_buffer_bytes: Bytes = 65_536
    max_batch: Count = 256  # frames per batch (per end-of-batch checks and send to the cache)
    max_message_bytes: Bytes = 4 << 20  # a larger message closes the connection (1009)
    # PEM file of a CA trusted in addition to the system's for wss:// (paper mode: the
    # sim's own CA, set by ``arbtree run``); "" = the system's trust store only.
    ca_file: str = ""
    # After handing a read's batch to the quote cache, let the market path (cache,
    # detector, what they wake) run before the next socket read: wait for the loop to go
    # idle (cut by the liveness check after liveness.check_interval_s). False = read again
    # at once.
    pipeline_first: bool = True
    # Polymarket: a hash mismatch is "suspect" (docs/protocols.md); resync after this many in a row.
    hash_mismatch_threshold: Count = 2
    verify_hashes: bool = True
    # Polymarket: the whole-book hash (SHA-1 per token) at most this often per token; the
    # crossed and claimed-top checks run on every batch. 0 = hash every batch.
    hash_check_interval_s: SecondsOrOff = 0.1
    connect_timeout_s: Seconds = 10.0


class QuoteCacheConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    staleness_limit_s: Seconds = 30.0  # a book not updated for this long is stale
    tick_sample_interval_s: SecondsOrOff = 1.0  # changed tops persisted this often; 0 = off
    sweep_interval_s: Seconds = 0.5
    depth_levels: Count = 10  # levels per side in each published TopOfBook
    inbox_capacity: Capacity = 1024  # feed -> cache (BLOCK), in batches
    publish_capacity: Capacity = 4096  # cache -> detector (COALESCE by instrument)
    # Direct dispatch on the feed -> cache edge: a batch sent while the cache is idle is
    # applied and published in the feed's step (supervision.mailbox); false = queued.
    direct: bool = True


class PolymarketMarket(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """A binary Polymarket market: its two CLOB tokens and its fee category."""

    name: str
    yes_token: str
    no_token: str
    category: str = "other"
    neg_risk: bool = False  # a multi-outcome (neg-risk) market: its orders go to that exchange


class KalshiMarket(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    name: str
    ticker: str
    fee_multiplier: Multiplier = "1"
    maker_fees: bool = False  # series fee_type quadratic_with_maker_fees


class CrossVenuePair(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """The same event on Polymarket and Kalshi. ``resolution_note`` must say why the two
    resolve identically (resolution sources, cut-off times): a mismatch is not arbitrage."""

    name: str
    polymarket: str  # PolymarketMarket.name
    kalshi: str  # KalshiMarket.name
    resolution_note: str


class FeeConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    # Polymarket taker rate per category (docs/protocols.md); unknown categories use "other".
    polymarket_rates: dict[str, Rate] = msgspec.field(
        default_factory=lambda: {
            "crypto": "0.072",
            "sports": "0.03",
            "finance": "0.04",
            "politics": "0.04",
            "economics": "0.05",
            "culture": "0.05",
            "weather": "0.05",
            "other": "0.05",
            "mentions": "0.04",
            "tech": "0.04",
            "geopolitics": "0",
        }
    )
    kalshi_taker_rate: Rate = "0.07"
    kalshi_maker_rate: Rate = "0.0175"


class DetectorConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    strategies: list[str] = msgspec.field(default_factory=lambda: ["complement", "cross_venue"])
    # Net edge per share (USD) every share bought must keep; never negative (a negative
    # edge would allow trades that lose money on paper).
    min_edge: Rate = "0.005"
    min_profit: Dollars = "0.01"  # net cash for the whole opportunity
    max_size: Shares = "1000"  # shares per opportunity (cap)
    cooldown_s: SecondsOrOff = 0.5  # per pair, after an emitted opportunity
    # After an emission a pair waits until its tops have not crossed for this long in a row
    # before a new dislocation counts (then up to ``trades_per_episode`` again).
    episode_gap_s: SecondsOrOff = 0.25
    # Opportunities one episode (window) may yield, each ``cooldown_s`` after the last and
    # planned on the book as it is then: the edge left after a trade is traded too.
    trades_per_episode: Count = 1
    # > 0: a plan stops at the first level pair whose per-share edge is below this
    # fraction of the best level pair's, keeping exposure for the best level's refills.
    depth_edge_ratio: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.0
    max_quote_age_s: Seconds = 2.0  # a quote received longer ago than this is not traded
    polymarket_size_step: Shares = "0.01"
    kalshi_size_step: Shares = "1"
    polymarket: list[PolymarketMarket] = msgspec.field(default_factory=list)
    kalshi: list[KalshiMarket] = msgspec.field(default_factory=list)
    pairs: list[CrossVenuePair] = msgspec.field(default_factory=list)
    fees: FeeConfig = msgspec.field(default_factory=FeeConfig)
    outbox_capacity: Capacity = 64  # detector -> fund manager (BLOCK, small)
    # Direct dispatch on the cache -> detector edge: a top published while the detector is
    # idle is evaluated in the cache's step (supervision.mailbox); false = queued.
    direct: bool = True


class MarketConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    feeds: list[FeedConfig] = msgspec.field(default_factory=list)
    quote_cache: QuoteCacheConfig = msgspec.field(default_factory=QuoteCacheConfig)
    detector: DetectorConfig = msgspec.field(default_factory=DetectorConfig)
