"""Typed, immutable messages: everything that crosses a mailbox.

All structs are frozen msgspec Structs (hashable where their fields are, cheap to
construct, encodable to JSON/msgpack for storage and the journal). Structs that hold only
scalars, enums and other such structs are ``gc=False``: they cannot form reference cycles,
so the cyclic GC never scans the millions of them a feed produces.

Units follow :mod:`protocols.fixed`: prices, sizes and cash are ints in 1e-6 units.

Timestamps: every market-data message carries ``venue_ts_ms`` (the venue's event time,
epoch ms, 0 if the venue gave none) and ``recv_ns`` (``time.monotonic_ns()`` when the
frame arrived). Opportunities and orders carry the chain ``recv_ns -> detect_ns ->
intent_ns -> send_ns`` so latency can be measured hop by hop.
"""

from __future__ import annotations

import enum
import hashlib

import msgspec

# --------------------------------------------------------------------------- enums


class Venue(enum.StrEnum):
    POLYMARKET = "polymarket"
    KALSHI = "kalshi"
    BINANCE = "binance"


class Outcome(enum.StrEnum):
    YES = "yes"
    NO = "no"


class Side(enum.StrEnum):
    """Order/trade direction."""

    BUY = "buy"
    SELL = "sell"


class BookSide(enum.StrEnum):
    BID = "bid"
    ASK = "ask"


class Liquidity(enum.StrEnum):
    MAKER = "maker"
    TAKER = "taker"


class TimeInForce(enum.StrEnum):
    GTC = "gtc"
    FOK = "fok"
    IOC = "ioc"  # Polymarket calls it FAK


class OrderState(enum.StrEnum):
    """Life of one order as the executor sees it. ``AMBIGUOUS`` is never "failed"."""

    PENDING = "pending"  # intent accepted, not yet sent
    SENT = "sent"
    OPEN = "open"  # acknowledged, resting
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    AMBIGUOUS = "ambiguous"  # outcome unknown: resolve by client_order_id first
    EXPIRED = "expired"


class Decision(enum.StrEnum):
    """What the fund manager did with an opportunity."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"


class FillStatus(enum.StrEnum):
    """Settlement progress of a fill (Polymarket trades move MATCHED -> MINED -> CONFIRMED)."""

    MATCHED = "matched"
    MINED = "mined"
    CONFIRMED = "confirmed"
    RETRYING = "retrying"
    FAILED = "failed"


# ------------------------------------------------------------------ identity, levels


class InstrumentId(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One tradable thing. Hashable: use it as a dict key.

    Polymarket: ``symbol`` is the CLOB token id (one book per token); ``outcome`` is set
    when known (the market channel does not say which token is YES).
    Kalshi: ``symbol`` is the market ticker; its single book is the YES view (NO bids
    appear as YES asks at 1 - p), so ``outcome`` is ``YES`` for book data.
    Binance: ``symbol`` is the upper-case pair, ``outcome`` is None.
    """

    venue: Venue
    symbol: str
    outcome: Outcome | None = None

    def key(self) -> str:
        """Stable text form for logs, metrics labels and storage."""
        if self.outcome is None:
            return f"{self.venue}:{self.symbol}"
        return f"{self.venue}:{self.symbol}:{self.outcome}"


class Level(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """One price level: ``[price, size]`` (encodes as a 2-array)."""

    price: int
    size: int


# --------------------------------------------------------------------- market data


class BookSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """A full L2 book for one instrument; replaces whatever the cache had.

    ``bids`` and ``asks`` are best-first (bids descending, asks ascending), whatever the
    wire order was. ``hash_ok`` is the decoder's verdict on the venue hash (None when the
    venue sent none or the format cannot be verified).
    """

    instrument: InstrumentId
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    venue_ts_ms: int
    recv_ns: int
    seq: int = 0  # Kalshi per-sid sequence; 0 = none
    sid: int = 0  # Kalshi subscription id
    hash: str = ""  # Polymarket book hash as sent
    hash_ok: bool | None = None
    tick_size: int = 0  # 0 = unknown


class BookDelta(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One level change.

    ``increment=False`` (Polymarket): ``size`` is the new absolute size, 0 removes the level.
    ``increment=True`` (Kalshi): ``size`` is a signed change to the resting size.
    ``best_bid``/``best_ask`` are the venue's claimed top after the change (-1 = not sent),
    a cheap consistency check; ``hash`` is the venue's hash of the book after the change.
    """

    instrument: InstrumentId
    side: BookSide
    price: int
    size: int
    venue_ts_ms: int
    recv_ns: int
    increment: bool = False
    seq: int = 0
    sid: int = 0
    hash: str = ""
    best_bid: int = -1
    best_ask: int = -1


class TickSizeChange(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    instrument: InstrumentId
    tick_size: int
    old_tick_size: int
    venue_ts_ms: int
    recv_ns: int


class Trade(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A public trade print (Polymarket last_trade_price, Binance aggTrade, Kalshi trade)."""

    instrument: InstrumentId
    price: int
    size: int
    taker_side: Side | None
    venue_ts_ms: int
    recv_ns: int
    trade_id: str = ""
    fee_rate_bps: int = 0


class VenueQuote(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Top of book as the venue states it (Binance bookTicker, Polymarket best_bid_ask,
    Kalshi ticker). ``-1`` prices / sizes mean "not given"; Binance ``update_id`` is ``u``.
    """

    instrument: InstrumentId
    bid: int
    ask: int
    venue_ts_ms: int
    recv_ns: int
    bid_size: int = -1
    ask_size: int = -1
    update_id: int = 0


MarketData = BookSnapshot | BookDelta | TickSizeChange | Trade | VenueQuote


class MarketDataBatch(msgspec.Struct, frozen=True, kw_only=True):
    """What a feed sends to the quote cache: every update decoded from one or more frames,
    in arrival order, for any number of instruments. One mailbox hop per batch."""

    venue: Venue
    updates: tuple[MarketData, ...]
    recv_ns: int


class TopOfBook(msgspec.Struct, frozen=True, kw_only=True):
    """Immutable top of book + a few levels, what the quote cache publishes to the detector.

    An empty side has price 0 and size 0 (test the size, not the price). ``version``
    increases on every change of that instrument's book.
    """

    instrument: InstrumentId
    bid: int
    bid_size: int
    ask: int
    ask_size: int
    bids: tuple[Level, ...]  # best-first, including the top
    asks: tuple[Level, ...]
    venue_ts_ms: int
    recv_ns: int
    version: int = 0
    stale: bool = False
    stale_reason: str = ""


# ------------------------------------------------------------------ trading flow


class OpportunityLeg(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    instrument: InstrumentId
    side: Side
    limit_price: int  # worst acceptable price
    size: int


class Opportunity(msgspec.Struct, frozen=True, kw_only=True):
    """An arbitrage found by a strategy. ``expected_edge`` is cash (1e-6 USD) for the whole
    size, net of every leg's fees (``fees`` is the fee part that was subtracted)."""

    opportunity_id: str
    strategy: str
    legs: tuple[OpportunityLeg, ...]
    expected_edge: int
    fees: int
    venue_ts_ms: int  # newest venue time among the quotes used
    recv_ns: int  # oldest receive time among the quotes used
    detect_ns: int
    # Receive time of the newest quote used: the tick that made the pair cross (latency
    # is measured from it). 0 when unknown.
    trigger_recv_ns: int = 0


def client_order_id(opportunity_id: str, leg_index: int, attempt: int = 0) -> str:
    """Deterministic client order id: the same intent always maps to the same id, so a
    retry after an ambiguous outcome cannot create a duplicate order."""
    digest = hashlib.blake2b(
        f"{opportunity_id}|{leg_index}|{attempt}".encode(), digest_size=12
    ).hexdigest()
    return f"arb-{digest}"


class OrderIntent(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One leg the fund manager has reserved money for; the executor's unit of work."""

    client_order_id: str
    opportunity_id: str
    leg_index: int
    instrument: InstrumentId
    side: Side
    limit_price: int
    size: int
    reserved: int  # cash (1e-6 USD) reserved for this leg, fees included
    time_in_force: TimeInForce
    recv_ns: int
    detect_ns: int
    intent_ns: int
    trigger_recv_ns: int = 0  # the opportunity's trigger tick (0: unwinds, unknown)


class OrderAck(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    client_order_id: str
    venue_order_id: str
    instrument: InstrumentId
    state: OrderState  # OPEN, PARTIALLY_FILLED or FILLED as the venue reported
    filled_size: int
    venue_ts_ms: int
    ack_ns: int


class OrderReject(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A definite "no": nothing rests at the venue, the reservation can be released."""

    client_order_id: str
    instrument: InstrumentId
    reason: str  # normalized, e.g. "insufficient_balance", "tick_size", "rate_limited"
    venue_code: str  # the venue's own code/message, verbatim
    retryable: bool
    ack_ns: int


class OrderAmbiguous(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Outcome unknown (timeout, connection reset after send). Resolve by client_order_id
    before anything is resubmitted; keep the reservation meanwhile."""

    client_order_id: str
    instrument: InstrumentId
    reason: str
    at_ns: int


class OrderUpdate(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A venue's private order event (Polymarket user ``order``; Kalshi user_orders)."""

    venue_order_id: str
    client_order_id: str
    instrument: InstrumentId
    side: Side
    price: int
    original_size: int
    filled_size: int
    state: OrderState
    venue_status: str  # verbatim, e.g. "LIVE", "CANCELED_order couldn't be fully filled"
    venue_ts_ms: int
    recv_ns: int


class Fill(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One execution of one of our orders. Dedupe on (venue, fill_id); a later message with
    the same id updates ``status`` (Polymarket) rather than adding size."""

    fill_id: str
    venue_order_id: str
    client_order_id: str
    instrument: InstrumentId
    side: Side
    price: int
    size: int
    fee: int  # cash, 1e-6 USD; -1 when the venue gives only a rate (see fee_rate_bps)
    liquidity: Liquidity
    status: FillStatus
    venue_ts_ms: int
    recv_ns: int
    fee_rate_bps: int = 0


class Position(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    instrument: InstrumentId
    size: int  # signed: + long, - short
    cost: int  # cash paid for the open size, fees included
    realized_pnl: int
    updated_ns: int


class Heartbeat(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    actor: str  # path, e.g. "arbtree/feeds/kalshi"
    seq: int
    sent_ns: int
    detail: str = ""


# ---------------------------------------------------------------- storage records


class TickRecord(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One top-of-book observation, as persisted (sampled or on change)."""

    instrument: InstrumentId
    bid: int
    bid_size: int
    ask: int
    ask_size: int
    venue_ts_ms: int
    recv_ns: int
    wall_ms: int  # epoch ms when recorded; monotonic ns do not survive a restart


class OpportunityRecord(msgspec.Struct, frozen=True, kw_only=True):
    opportunity: Opportunity
    decision: Decision
    reject_reason: str  # "" when accepted
    decided_ns: int
    wall_ms: int


class OrderRecord(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    client_order_id: str
    venue_order_id: str
    opportunity_id: str
    instrument: InstrumentId
    side: Side
    limit_price: int
    size: int
    filled_size: int
    state: OrderState
    reason: str
    updated_ns: int
    wall_ms: int


class FillRecord(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A fill as stored, with the fee the books charged for it (``FeeBook``): a
    Polymarket REST-derived fill reports no fee (``fill.fee`` -1), so the record carries
    the resolved one. ``fee`` -1 (a record from before these fields) stores ``fill.fee``."""

    fill: Fill
    wall_ms: int
    fee: int = -1  # cash value of the fee charged (1e-6 USD); 0 for a failed (undone) trade
    fee_shares: int = 0  # part of ``fee`` taken in shares (Polymarket buys)
    fee_estimated: bool = False  # the venue reported no fee amount: computed from a rate


class VenueBalance(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    venue: Venue
    cash: int
    reserved: int


class TradingOutcomeRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What a run's trades locked in so far (``actors.trading.outcome``), 1e-6 units:
    hedged pairs x $1 minus their cost and fees, the unhedged rest (``unhedged_mark`` -1
    when a held instrument had no bid), unwinds net of fees."""

    run_id: str
    wall_ms: int
    locked_edge: int
    hedged: int
    hedged_cost: int
    unhedged_size: int
    unhedged_cost: int
    unhedged_mark: int
    unwinds: int
    unwind_realized: int
    fees: int
    opportunities: int
    final: bool  # the run's last figures (written as it stopped)


class FundCheckpointRecord(msgspec.Struct, frozen=True, kw_only=True):
    """The fund manager's whole state at one moment: enough to restart from."""

    balances: tuple[VenueBalance, ...]
    positions: tuple[Position, ...]
    open_orders: tuple[str, ...]  # client_order_ids still unresolved
    taken_ns: int
    wall_ms: int
    # Defaults keep older records decodable. Fees paid since the books began, and the
    # daily-loss counters of UTC day ``loss_day`` (epoch day number, -1 = none): a restart
    # within that day resumes the daily loss limit where it stood instead of from zero.
    fees_paid: int = 0
    day_fees: int = 0
    day_realized: int = 0
    loss_day: int = -1


StorageRecord = TickRecord | OpportunityRecord | OrderRecord | FillRecord | FundCheckpointRecord
