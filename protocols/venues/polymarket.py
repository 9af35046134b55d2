"""Polymarket CLOB wire formats: market channel, user channel, REST order and book.

Market channel (``/ws/market``): a text frame is one JSON object or a JSON array of
them, or the plain text ``PONG``. Event types decoded: ``book``, ``price_change`` (the
current ``price_changes`` list and both legacy shapes: 2024 single-level flat and the
pre-2025-09 ``changes`` list), ``tick_size_change``, ``last_trade_price``,
``best_bid_ask``. Other event types (``new_market``, ``market_resolved``, future ones)
are skipped one by one and counted in :attr:`MarketDecoder.skipped`.

Normalization: one :class:`~protocols.messages.InstrumentId` per token (``outcome``
None: the channel does not say which token is YES). Book levels become best-first
:class:`Level` tuples (the wire sends bids ascending and asks descending). Price-change
sizes are absolute (``increment=False``).

Book hash (VENUES.md 1.9): SHA-1 over the compact JSON of ``market, asset_id,
timestamp, hash="", bids, asks, min_order_size, tick_size, neg_risk, last_trade_price``.
``min_order_size`` and ``neg_risk`` are not on the wire; register them with
:meth:`MarketDecoder.set_meta` (from REST ``/book`` or the market object). For an asset
with no registered ``neg_risk`` both values are tried and the one that verifies is kept.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Iterable

import msgspec

from protocols.book import L2Book, Ladder
from protocols.errors import DecodeError
from protocols.fixed import (
    PRICE_ONE,
    Rounding,
    format_units,
    notional,
    parse_price,
    parse_size,
    price_memo,
    size_memo,
)
from protocols.messages import (
    BookDelta,
    BookSide,
    BookSnapshot,
    Fill,
    FillStatus,
    InstrumentId,
    Level,
    Liquidity,
    MarketData,
    OrderAck,
    OrderReject,
    OrderState,
    OrderUpdate,
    Outcome,
    Side,
    TickSizeChange,
    Trade,
    Venue,
    VenueQuote,
)
from protocols.venues._common import DECODE_FAILURES as _DECODE_FAILURES
from protocols.venues._common import int_text, ms_value

VENUE = "polymarket"
_P = Venue.POLYMARKET

# ============================================================== market channel wire


class WireLevel(msgspec.Struct, gc=False):
    price: str
    size: str


class WireBook(msgspec.Struct, tag_field="event_type", tag="book"):
    asset_id: str
    bids: list[WireLevel] = []
    asks: list[WireLevel] = []
    market: str = ""
    timestamp: str | int = ""
    hash: str = ""
    tick_size: str | None = None
    last_trade_price: str | None = None


class WireChange(msgspec.Struct, gc=False):
    price: str
    size: str
    side: str


class WirePriceChangeEntry(msgspec.Struct, gc=False):
    asset_id: str
    price: str
    size: str
    side: str
    hash: str = ""
    best_bid: str | None = None
    best_ask: str | None = None


class WirePriceChange(msgspec.Struct, tag_field="event_type", tag="price_change"):
    """All three shapes: ``price_changes`` (current), ``changes`` (pre-2025-09) and the
    2024 flat single level (``asset_id``/``price``/``size``/``side`` at top level)."""

    market: str = ""
    timestamp: str | int = ""
    price_changes: list[WirePriceChangeEntry] | None = None
    changes: list[WireChange] | None = None
    asset_id: str | None = None
    price: str | None = None
    size: str | None = None
    side: str | None = None
    hash: str = ""


class WireTickSizeChange(msgspec.Struct, tag_field="event_type", tag="tick_size_change"):
    asset_id: str
    new_tick_size: str
    old_tick_size: str = "0"
    market: str = ""
    timestamp: str | int = ""


class WireLastTrade(msgspec.Struct, tag_field="event_type", tag="last_trade_price"):
    asset_id: str
    price: str
    size: str = "0"
    side: str | None = None
    fee_rate_bps: str | int = "0"
    market: str = ""
    timestamp: str | int = ""
    transaction_hash: str = ""


class WireBestBidAsk(msgspec.Struct, tag_field="event_type", tag="best_bid_ask"):
    asset_id: str
    best_bid: str
    best_ask: str
    market: str = ""
    timestamp: str | int = ""


WireMarketEvent = WireBook | WirePriceChange | WireTickSizeChange | WireLastTrade | WireBestBidAsk


class _Probe(msgspec.Struct):
    event_type: str = ""


_MARKET_FRAME = msgspec.json.Decoder(list[WireMarketEvent] | WireMarketEvent)
_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_MARKET_EVENT = msgspec.json.Decoder(WireMarketEvent)
_PROBE = msgspec.json.Decoder(_Probe)
_KNOWN_MARKET = frozenset(["book", "price_change", "tick_size_change", "last_trade_price",
                           "best_bid_ask"])  # fmt: skip


def _elements(frame: bytes | str) -> list[msgspec.Raw]:
    """The frame's events as undecoded JSON: the array's elements, or the one object."""
    data = frame.encode() if isinstance(frame, str) else frame
    if data.lstrip()[:1] == b"[":
        return _RAW_LIST.decode(data)
    return [msgspec.Raw(data)]


# ================================================================= book hash


class AssetMeta:
    """Per-token facts the hash needs but the frames do not always carry."""

    __slots__ = ("last_trade_price", "market", "min_order_size", "neg_risk", "tick_size")

    def __init__(self) -> None:
        self.market = ""
        self.min_order_size = "5"  # the common value in captures; override via set_meta
        self.neg_risk: bool | None = None  # None = unknown, try both
        self.tick_size = ""
        self.last_trade_price = ""


def book_hash(
    market: str,
    asset_id: str,
    timestamp: str,
    bids: Iterable[tuple[str, str]],
    asks: Iterable[tuple[str, str]],
    min_order_size: str,
    tick_size: str,
    neg_risk: bool,
    last_trade_price: str,
) -> str:
    """Polymarket's book hash (hex SHA-1), levels in wire order as (price, size) strings."""
    doc = {
        "market": market,
        "asset_id": asset_id,
        "timestamp": timestamp,
        "hash": "",
        "bids": [{"price": p, "size": s} for p, s in bids],
        "asks": [{"price": p, "size": s} for p, s in asks],
        "min_order_size": min_order_size,
        "tick_size": tick_size,
        "neg_risk": neg_risk,
        "last_trade_price": last_trade_price,
    }
    return hashlib.sha1(msgspec.json.encode(doc), usedforsecurity=False).hexdigest()


def _verify(
    meta: AssetMeta,
    asset_id: str,
    timestamp: str,
    bids: list[tuple[str, str]],
    asks: list[tuple[str, str]],
    expected: str,
) -> bool:
    choices = (meta.neg_risk,) if meta.neg_risk is not None else (False, True)
    for neg_risk in choices:
        got = book_hash(meta.market, asset_id, timestamp, bids, asks, meta.min_order_size,
                        meta.tick_size, neg_risk, meta.last_trade_price)  # fmt: skip
        if got == expected:
            meta.neg_risk = neg_risk
            return True
    return False


def book_state_hash(book: L2Book, meta: AssetMeta, timestamp_ms: int, neg_risk: bool) -> str:
    """Hash of a local book's state, levels formatted canonically (minimal decimals).

    The from-scratch statement: formats every level. The feed's shadow books are
    :class:`HashedBook`, whose per-level fragments are kept formatted, see
    :func:`cached_book_state_hash` (same result, tested).

    Used to check ``price_changes[i].hash``; the venue formats levels minimally in every
    capture seen, so a mismatch caused by formatting alone is not expected.
    """
    bids = [(format_units(p), format_units(s)) for p, s in reversed(list(book.bid_levels()))]
    asks = [(format_units(p), format_units(s)) for p, s in reversed(list(book.ask_levels()))]
    symbol = book.instrument.symbol
    return book_hash(meta.market, symbol, str(timestamp_ms), bids, asks, meta.min_order_size,
                     meta.tick_size, neg_risk, meta.last_trade_price)  # fmt: skip


_PRICE_TEXT: dict[int, bytes] = {}


def _price_text(price: int) -> bytes:
    """``format_units(price)`` as bytes, memoized (prices live on a small grid)."""
    text = _PRICE_TEXT.get(price)
    if text is None:
        if len(_PRICE_TEXT) >= 100_000:
            _PRICE_TEXT.clear()
        text = _PRICE_TEXT[price] = format_units(price).encode()
    return text


def _fragment(price: int, size: int) -> bytes:
    """One level as the hash encodes it: ``{"price":"0.5","size":"200"}``."""
    return b'{"price":"' + _price_text(price) + b'","size":"' + format_units(size).encode() + b'"}'


class HashLadder(Ladder):
    """A :class:`Ladder` that keeps each level's hash fragment in ``parts``, a list
    parallel to ``keys`` (None: that level changed and is formatted on the next hash),
    and the side's joined JSON list (rebuilt only after a change). Keys ascending is the
    wire order on both sides: bids ascending by price, asks keyed by ``-price`` so
    descending by price (VENUES 1.4)."""

    __slots__ = ("joined", "parts")

    def __init__(self, sign: int) -> None:
        super().__init__(sign)
        self.parts: list[bytes | None] = []
        self.joined: bytes | None = None  # None: rebuild on the next json_list()

    def clear(self) -> None:
        super().clear()
        self.parts.clear()
        self.joined = None

    def load(self, levels: tuple[Level, ...]) -> None:
        super().load(levels)
        self.parts = [None] * len(self.keys)
        self.joined = None

    def set(self, price: int, size: int) -> None:
        key = price * self.sign
        sizes = self.sizes
        keys = self.keys
        self.head = None
        self.joined = None
        if size > 0:
            i = bisect_left(keys, key)
            if key in sizes:
                self.parts[i] = None
            else:
                keys.insert(i, key)
                self.parts.insert(i, None)
            sizes[key] = size
        elif sizes.pop(key, None) is not None:
            i = bisect_left(keys, key)
            del keys[i]
            del self.parts[i]

    def json_list(self) -> bytes:
        """The side's wire list as compact JSON: ``[{"price":..,"size":..},...]``."""
        joined = self.joined
        if joined is None:
            parts = self.parts
            keys = self.keys
            sizes = self.sizes
            sign = self.sign
            i = 0
            try:
                while True:
                    i = parts.index(None, i)
                    key = keys[i]
                    parts[i] = _fragment(key * sign, sizes[key])
            except ValueError:
                pass
            joined = self.joined = b"[" + b",".join(parts) + b"]"  # type: ignore[arg-type]
        return joined


class HashedBook(L2Book):
    """An :class:`L2Book` whose state hash is one join (only of a changed side) and one
    SHA-1: the feed's shadow book per Polymarket token."""

    __slots__ = ()

    bids: HashLadder
    asks: HashLadder

    def __init__(self, instrument: InstrumentId) -> None:
        super().__init__(instrument)
        self.bids = HashLadder(1)
        self.asks = HashLadder(-1)


def cached_book_state_hash(
    book: HashedBook, meta: AssetMeta, timestamp_ms: int, neg_risk: bool
) -> str:
    """:func:`book_state_hash` from the book's cached level fragments: the same bytes,
    assembled from pre-encoded pieces (strings JSON-encoded as msgspec encodes them)."""
    head_key = (meta.market, book.instrument.symbol)
    head = _HEADS.get(head_key)
    if head is None:
        if len(_HEADS) >= _PIECES_LIMIT:
            _HEADS.clear()
        head = _HEADS[head_key] = (
            b'{"market":' + _enc_str(meta.market) + b',"asset_id":'
            + _enc_str(book.instrument.symbol) + b',"timestamp":"'
        )  # fmt: skip
    tail_key = (meta.min_order_size, meta.tick_size, neg_risk, meta.last_trade_price)
    tail = _TAILS.get(tail_key)
    if tail is None:
        if len(_TAILS) >= _PIECES_LIMIT:
            _TAILS.clear()
        tail = _TAILS[tail_key] = (
            b',"min_order_size":' + _enc_str(meta.min_order_size)
            + b',"tick_size":' + _enc_str(meta.tick_size)
            + (b',"neg_risk":true' if neg_risk else b',"neg_risk":false')
            + b',"last_trade_price":' + _enc_str(meta.last_trade_price) + b"}"
        )  # fmt: skip
    data = b"".join((head, str(timestamp_ms).encode(), b'","hash":"","bids":',
                     book.bids.json_list(), b',"asks":', book.asks.json_list(), tail))  # fmt: skip
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


_enc_str = msgspec.json.Encoder().encode
_PIECES_LIMIT = 100_000
_HEADS: dict[tuple[str, str], bytes] = {}
_TAILS: dict[tuple[str, str, bool, str], bytes] = {}


def check_delta_hash(book: L2Book, meta: AssetMeta, delta: BookDelta) -> bool | None:
    """Verify a price-change entry's hash against ``book`` after the delta was applied.
    None when there is nothing to check (no hash, or unknown tick size: legacy frames).
    A :class:`HashedBook` is hashed from its cached fragments."""
    if not delta.hash or not meta.tick_size:
        return None
    choices = (meta.neg_risk,) if meta.neg_risk is not None else (False, True)
    for neg_risk in choices:
        if isinstance(book, HashedBook):
            got = cached_book_state_hash(book, meta, delta.venue_ts_ms, neg_risk)
        else:
            got = book_state_hash(book, meta, delta.venue_ts_ms, neg_risk)
        if got == delta.hash:
            meta.neg_risk = neg_risk
            return True
    return False


def check_delta_top(book: L2Book, delta: BookDelta) -> bool | None:
    """Does the venue's claimed top (``best_bid``/``best_ask`` on a price_changes entry)
    match ``book`` after the delta? Empty sides are claimed as "0" and "1". None when the
    entry carried no claim (legacy shapes). Cheap: use it on every entry; the hash is the
    thorough check."""
    if delta.best_bid < 0 or delta.best_ask < 0:
        return None
    bid = book.best_bid()
    ask = book.best_ask()
    return (bid[0] if bid else 0) == delta.best_bid and (
        ask[0] if ask else PRICE_ONE
    ) == delta.best_ask


# ============================================================ market decoder


_SIDES = {"BUY": BookSide.BID, "SELL": BookSide.ASK, "buy": BookSide.BID, "sell": BookSide.ASK}


def _side(text: str) -> BookSide:
    if text == "BUY" or text == "buy":
        return BookSide.BID
    if text == "SELL" or text == "sell":
        return BookSide.ASK
    raise DecodeError(VENUE, f"bad side {text!r}", text)


def _taker(text: str | None) -> Side | None:
    if text is None or text == "":
        return None
    if text in ("BUY", "buy"):
        return Side.BUY
    if text in ("SELL", "sell"):
        return Side.SELL
    raise DecodeError(VENUE, f"bad side {text!r}", text)


def _levels(wire: list[WireLevel], best_last: bool) -> tuple[Level, ...]:
    out = [Level(price_memo(lv.price), size_memo(lv.size)) for lv in wire]
    # Wire order is best-last (bids ascending, asks descending); sort defensively
    # (a sort of an already ordered list is linear) rather than trust it.
    return tuple(sorted(out, key=lambda lv: lv.price, reverse=best_last))


class MarketDecoder:
    """Decodes market-channel frames into normalized messages. One per connection.

    Stateful only in what it learns (instrument interning and :class:`AssetMeta`); it
    holds no books and does no I/O.
    """

    def __init__(self) -> None:
        self._instruments: dict[str, InstrumentId] = {}
        self._meta: dict[str, AssetMeta] = {}
        self.skipped = 0  # unknown event types skipped
        self.pongs = 0

    # -- registry
    def instrument(self, asset_id: str) -> InstrumentId:
        inst = self._instruments.get(asset_id)
        if inst is None:
            inst = InstrumentId(venue=_P, symbol=asset_id)
            self._instruments[asset_id] = inst
        return inst

    def meta(self, asset_id: str) -> AssetMeta:
        meta = self._meta.get(asset_id)
        if meta is None:
            meta = self._meta[asset_id] = AssetMeta()
        return meta

    def set_meta(
        self, asset_id: str, *, min_order_size: str | None = None, neg_risk: bool | None = None
    ) -> None:
        meta = self.meta(asset_id)
        if min_order_size is not None:
            meta.min_order_size = min_order_size
        if neg_risk is not None:
            meta.neg_risk = neg_risk

    # -- entry point
    def decode(self, frame: bytes | str, recv_ns: int) -> list[MarketData]:
        """Decode one websocket text frame. Raises only :class:`DecodeError`."""
        try:
            if frame == b"PONG" or frame == "PONG":
                self.pongs += 1
                return []
            try:
                events = _MARKET_FRAME.decode(frame)
            except msgspec.ValidationError:
                events = self._decode_lenient(frame)
            out: list[MarketData] = []
            if isinstance(events, list):
                for ev in events:
                    self._normalize(ev, recv_ns, out)
            else:
                self._normalize(events, recv_ns, out)
            return out
        except DecodeError:
            raise
        except _DECODE_FAILURES as exc:
            raise DecodeError(VENUE, str(exc), frame) from None

    def _decode_lenient(self, frame: bytes | str) -> list[WireMarketEvent]:
        """Slow path: decode element by element, skipping unknown event types."""
        out: list[WireMarketEvent] = []
        for item in _elements(frame):
            kind = _PROBE.decode(item).event_type
            if kind not in _KNOWN_MARKET:
                self.skipped += 1
                continue
            out.append(_MARKET_EVENT.decode(item))  # a malformed known event is an error
        return out

    def _normalize(self, ev: WireMarketEvent, recv_ns: int, out: list[MarketData]) -> None:
        if isinstance(ev, WirePriceChange):
            self._price_change(ev, recv_ns, out)
        elif isinstance(ev, WireBook):
            out.append(self._book(ev, recv_ns))
        elif isinstance(ev, WireLastTrade):
            meta = self.meta(ev.asset_id)
            meta.last_trade_price = ev.price
            out.append(
                Trade(instrument=self.instrument(ev.asset_id), price=parse_price(ev.price),
                      size=parse_size(ev.size), taker_side=_taker(ev.side),
                      venue_ts_ms=ms_value(ev.timestamp), recv_ns=recv_ns,
                      trade_id=ev.transaction_hash, fee_rate_bps=int_text(ev.fee_rate_bps))
            )  # fmt: skip
        elif isinstance(ev, WireTickSizeChange):
            self.meta(ev.asset_id).tick_size = ev.new_tick_size
            out.append(
                TickSizeChange(instrument=self.instrument(ev.asset_id),
                               tick_size=parse_price(ev.new_tick_size),
                               old_tick_size=parse_price(ev.old_tick_size),
                               venue_ts_ms=ms_value(ev.timestamp), recv_ns=recv_ns)
            )  # fmt: skip
        else:
            out.append(
                VenueQuote(instrument=self.instrument(ev.asset_id), bid=parse_price(ev.best_bid),
                           ask=parse_price(ev.best_ask), venue_ts_ms=ms_value(ev.timestamp),
                           recv_ns=recv_ns)
            )  # fmt: skip

    def _book(self, ev: WireBook, recv_ns: int) -> BookSnapshot:
        meta = self.meta(ev.asset_id)
        if ev.market:
            meta.market = ev.market
        if ev.tick_size is not None:
            meta.tick_size = ev.tick_size
        if ev.last_trade_price is not None:
            meta.last_trade_price = ev.last_trade_price
        ts = ms_value(ev.timestamp)
        hash_ok: bool | None = None
        # 2024 frames (no tick_size) use an older, unreproducible hash: don't judge them.
        if ev.hash and ev.tick_size is not None:
            hash_ok = _verify(meta, ev.asset_id, str(ev.timestamp),
                              [(lv.price, lv.size) for lv in ev.bids],
                              [(lv.price, lv.size) for lv in ev.asks], ev.hash)  # fmt: skip
        return BookSnapshot(
            instrument=self.instrument(ev.asset_id),
            bids=_levels(ev.bids, True),
            asks=_levels(ev.asks, False),
            venue_ts_ms=ts,
            recv_ns=recv_ns,
            hash=ev.hash,
            hash_ok=hash_ok,
            tick_size=parse_price(ev.tick_size) if ev.tick_size else 0,
        )

    def _asset(self, asset_id: str, market: str) -> InstrumentId:
        """Interned instrument; the first sighting also records the asset's market."""
        inst = self._instruments.get(asset_id)
        if inst is None:
            inst = self.instrument(asset_id)
            if market:
                self.meta(asset_id).market = market
        return inst

    def _price_change(self, ev: WirePriceChange, recv_ns: int, out: list[MarketData]) -> None:
        ts = ms_value(ev.timestamp)
        entries = ev.price_changes
        if entries is not None:
            asset = self._asset
            market = ev.market
            append = out.append
            for e in entries:
                bb, ba = e.best_bid, e.best_ask
                side = _SIDES.get(e.side)
                if side is None:
                    raise DecodeError(VENUE, f"bad side {e.side!r}")
                append(
                    BookDelta(instrument=asset(e.asset_id, market), side=side,
                              price=price_memo(e.price), size=size_memo(e.size),
                              venue_ts_ms=ts, recv_ns=recv_ns, hash=e.hash,
                              best_bid=-1 if bb is None else price_memo(bb),
                              best_ask=-1 if ba is None else price_memo(ba))
                )  # fmt: skip
            return
        if ev.asset_id is None:
            raise DecodeError(VENUE, "price_change without price_changes or asset_id")
        inst = self.instrument(ev.asset_id)
        if ev.market:
            self.meta(ev.asset_id).market = ev.market
        if ev.changes is not None:  # pre-2025-09: one asset, many levels, one hash at the end
            last = len(ev.changes) - 1
            for i, c in enumerate(ev.changes):
                out.append(
                    BookDelta(instrument=inst, side=_side(c.side), price=parse_price(c.price),
                              size=parse_size(c.size), venue_ts_ms=ts, recv_ns=recv_ns,
                              hash=ev.hash if i == last else "")
                )  # fmt: skip
            return
        if ev.price is None or ev.size is None or ev.side is None:
            raise DecodeError(VENUE, "legacy price_change missing price/size/side")
        out.append(
            BookDelta(instrument=inst, side=_side(ev.side), price=parse_price(ev.price),
                      size=parse_size(ev.size), venue_ts_ms=ts, recv_ns=recv_ns, hash=ev.hash)
        )  # fmt: skip


# ============================================================== user channel


class WireMakerOrder(msgspec.Struct):
    order_id: str
    matched_amount: str
    price: str
    owner: str = ""
    asset_id: str = ""
    outcome: str = ""
    side: str | None = None
    fee_rate_bps: str | int = "0"
    maker_address: str = ""


class WireOrder(msgspec.Struct, tag_field="event_type", tag="order"):
    id: str
    asset_id: str
    side: str
    price: str
    original_size: str
    size_matched: str = "0"
    type: str = ""
    status: str = ""
    market: str = ""
    outcome: str = ""
    owner: str = ""
    timestamp: str | int = ""
    created_at: str | int = ""
    associate_trades: list[str] | None = None


class WireTrade(msgspec.Struct, tag_field="event_type", tag="trade"):
    id: str
    asset_id: str
    side: str
    price: str
    size: str
    status: str = ""
    taker_order_id: str = ""
    trader_side: str = "TAKER"
    fee_rate_bps: str | int = "0"
    market: str = ""
    outcome: str = ""
    owner: str = ""
    timestamp: str | int = ""
    match_time: str | int = ""
    matchtime: str | int = ""
    bucket_index: int | str | None = None
    transaction_hash: str = ""
    maker_orders: list[WireMakerOrder] = []


WireUserEvent = WireOrder | WireTrade
_USER_FRAME = msgspec.json.Decoder(list[WireUserEvent] | WireUserEvent)
_USER_EVENT = msgspec.json.Decoder(WireUserEvent)

_FILL_STATUS = {
    "MATCHED": FillStatus.MATCHED,
    "MINED": FillStatus.MINED,
    "CONFIRMED": FillStatus.CONFIRMED,
    "RETRYING": FillStatus.RETRYING,
    "FAILED": FillStatus.FAILED,
}


def _outcome(text: str) -> Outcome | None:
    low = text.lower()
    return Outcome.YES if low == "yes" else Outcome.NO if low == "no" else None


def order_state(status: str, original: int, matched: int) -> OrderState:
    """Map a user-channel order status (matched by prefix: FOK kills append text)."""
    if status.startswith("CANCELED") or status.startswith("CANCELLED"):
        return OrderState.CANCELLED
    if status == "MATCHED" or (original and matched >= original):
        return OrderState.FILLED
    if matched > 0:
        return OrderState.PARTIALLY_FILLED
    if status in ("LIVE", "DELAYED", "UNMATCHED"):
        return OrderState.OPEN
    return OrderState.OPEN


class UserDecoder:
    """Decodes user-channel frames into :class:`OrderUpdate` and :class:`Fill`.

    ``api_key`` picks our entries out of ``maker_orders`` when we were the maker; by
    default the trade's own ``owner`` field (the channel is filtered to our key) is used.
    """

    def __init__(self, api_key: str | None = None) -> None:
        self.api_key = api_key
        self.skipped = 0
        self.pongs = 0

    def decode(self, frame: bytes | str, recv_ns: int) -> list[OrderUpdate | Fill]:
        try:
            if frame == b"PONG" or frame == "PONG":
                self.pongs += 1
                return []
            try:
                events = _USER_FRAME.decode(frame)
            except msgspec.ValidationError:
                events = []
                for item in _elements(frame):
                    if _PROBE.decode(item).event_type not in ("order", "trade"):
                        self.skipped += 1
                        continue
                    events.append(_USER_EVENT.decode(item))
            out: list[OrderUpdate | Fill] = []
            for ev in events if isinstance(events, list) else [events]:
                if isinstance(ev, WireOrder):
                    out.append(self._order(ev, recv_ns))
                else:
                    out.extend(self._trade(ev, recv_ns))
            return out
        except DecodeError:
            raise
        except _DECODE_FAILURES as exc:
            raise DecodeError(VENUE, str(exc), frame) from None

    def _order(self, ev: WireOrder, recv_ns: int) -> OrderUpdate:
        original = parse_size(ev.original_size)
        matched = parse_size(ev.size_matched)
        taker = _taker(ev.side)
        if taker is None:
            raise DecodeError(VENUE, "order without side")
        return OrderUpdate(
            venue_order_id=ev.id,
            client_order_id="",
            instrument=InstrumentId(venue=_P, symbol=ev.asset_id, outcome=_outcome(ev.outcome)),
            side=taker,
            price=parse_price(ev.price),
            original_size=original,
            filled_size=matched,
            state=order_state(ev.status, original, matched),
            venue_status=ev.status,
            venue_ts_ms=ms_value(ev.timestamp),
            recv_ns=recv_ns,
        )

    def _trade(self, ev: WireTrade, recv_ns: int) -> list[Fill]:
        status = _FILL_STATUS.get(ev.status.upper())
        if status is None:
            raise DecodeError(VENUE, f"unknown trade status {ev.status!r}")
        taker_side = _taker(ev.side)
        if taker_side is None:
            raise DecodeError(VENUE, "trade without side")
        ts = ms_value(ev.timestamp) or ms_value(ev.match_time or ev.matchtime) * 1000
        if ev.trader_side.upper() != "MAKER":
            return [
                Fill(fill_id=ev.id, venue_order_id=ev.taker_order_id, client_order_id="",
                     instrument=InstrumentId(venue=_P, symbol=ev.asset_id,
                                             outcome=_outcome(ev.outcome)),
                     side=taker_side, price=parse_price(ev.price), size=parse_size(ev.size),
                     fee=-1, liquidity=Liquidity.TAKER, status=status, venue_ts_ms=ts,
                     recv_ns=recv_ns, fee_rate_bps=int_text(ev.fee_rate_bps))
            ]  # fmt: skip
        owner = self.api_key or ev.owner
        fills = []
        for i, mo in enumerate(ev.maker_orders):
            if owner and mo.owner != owner:
                continue
            asset = mo.asset_id or ev.asset_id
            if mo.side:
                side = _taker(mo.side) or taker_side
            elif asset == ev.asset_id:  # same token: the maker took the other side
                side = Side.SELL if taker_side is Side.BUY else Side.BUY
            else:  # complementary token: both sides buy (mint) or both sell (merge)
                side = taker_side
            fills.append(
                Fill(fill_id=f"{ev.id}:{i}", venue_order_id=mo.order_id, client_order_id="",
                     instrument=InstrumentId(venue=_P, symbol=asset,
                                             outcome=_outcome(mo.outcome or ev.outcome)),
                     side=side, price=parse_price(mo.price), size=parse_size(mo.matched_amount),
                     fee=0, liquidity=Liquidity.MAKER, status=status, venue_ts_ms=ts,
                     recv_ns=recv_ns, fee_rate_bps=int_text(mo.fee_rate_bps))
            )  # fmt: skip
        return fills


# ===================================================================== REST


class SignedOrder(msgspec.Struct, kw_only=True, rename="camel"):
    """A CLOB V2 signed order as posted (signing is EIP-712, done by the caller).
    ``maker_amount``/``taker_amount`` are 6-dp integers as strings (see order_amounts)."""

    salt: int
    maker: str
    signer: str
    token_id: str
    maker_amount: str
    taker_amount: str
    side: str  # "BUY" | "SELL"
    expiration: str
    signature_type: int
    timestamp: str
    metadata: str
    builder: str
    signature: str


class PostOrderBody(msgspec.Struct, kw_only=True, rename="camel"):
    order: SignedOrder
    owner: str
    order_type: str  # GTC | GTD | FOK | FAK
    defer_exec: bool = False
    post_only: bool = False


class PostOrderResponse(msgspec.Struct, kw_only=True, rename="camel"):
    success: bool = False
    error_msg: str = ""
    order_i_d: str = msgspec.field(default="", name="orderID")
    status: str = ""
    making_amount: str = ""
    taking_amount: str = ""
    transactions_hashes: list[str] = []
    trade_i_ds: list[str] = msgspec.field(default_factory=list, name="tradeIDs")
    error: str = ""  # HTTP-level errors: {"error": "..."}


class RestBook(msgspec.Struct):
    asset_id: str
    bids: list[WireLevel] = []
    asks: list[WireLevel] = []
    market: str = ""
    timestamp: str | int = ""
    hash: str = ""
    min_order_size: str | None = None
    tick_size: str | None = None
    neg_risk: bool | None = None
    last_trade_price: str | None = None


_ENCODER = msgspec.json.Encoder()
_ORDER_RESPONSE = msgspec.json.Decoder(PostOrderResponse)
_REST_BOOK = msgspec.json.Decoder(RestBook)

# errorMsg -> (normalized reason, retryable)
ERROR_CODES: dict[str, tuple[str, bool]] = {
    "INVALID_ORDER_MIN_TICK_SIZE": ("tick_size", False),
    "INVALID_ORDER_MIN_SIZE": ("min_size", False),
    "INVALID_ORDER_DUPLICATED": ("duplicate", False),
    "INVALID_ORDER_NOT_ENOUGH_BALANCE": ("insufficient_balance", False),
    "INVALID_ORDER_EXPIRATION": ("expiration", False),
    "INVALID_ORDER_ERROR": ("invalid_order", False),
    "INVALID_POST_ONLY_ORDER_TYPE": ("post_only_type", False),
    "INVALID_POST_ONLY_ORDER": ("post_only_would_cross", False),
    "EXECUTION_ERROR": ("execution_error", True),
    "ORDER_DELAYED": ("delayed", True),
    "DELAYING_ORDER_ERROR": ("delay_error", True),
    "FOK_ORDER_NOT_FILLED_ERROR": ("fok_not_filled", False),
    "MARKET_NOT_READY": ("market_not_ready", True),
}


def order_amounts(side: Side, price: int, size: int) -> tuple[str, str]:
    """``(makerAmount, takerAmount)`` for a limit order, as 6-dp integer strings.

    BUY gives USDC (price x size, rounded up so the order can fill at ``price``) and takes
    shares; SELL the reverse (USDC rounded down). Sizes are already 1e-6 shares.
    """
    if size <= 0 or not 0 < price < 1_000_000:
        raise ValueError("order needs size > 0 and 0 < price < 1")
    if side is Side.BUY:
        return str(notional(price, size, Rounding.CEIL)), str(size)
    return str(size), str(notional(price, size, Rounding.FLOOR))


def encode_post_order(body: PostOrderBody) -> bytes:
    """Compact JSON body, byte-for-byte what must be HMAC-signed and sent."""
    return _ENCODER.encode(body)


def decode_post_order_response(data: bytes | str) -> PostOrderResponse:
    try:
        return _ORDER_RESPONSE.decode(data)
    except _DECODE_FAILURES as exc:
        raise DecodeError(VENUE, str(exc), data) from None


def order_outcome(
    resp: PostOrderResponse, client_order_id: str, instrument: InstrumentId, ack_ns: int
) -> OrderAck | OrderReject:
    """Turn a ``POST /order`` response into an ack or a definite reject."""
    if resp.success and resp.order_i_d:
        state = OrderState.FILLED if resp.status == "matched" else OrderState.OPEN
        return OrderAck(client_order_id=client_order_id, venue_order_id=resp.order_i_d,
                        instrument=instrument, state=state, filled_size=0, venue_ts_ms=0,
                        ack_ns=ack_ns)  # fmt: skip
    code = resp.error_msg or resp.error or "unknown"
    reason, retryable = ERROR_CODES.get(code, ("venue_error", False))
    if code.startswith("Trading is currently"):
        reason, retryable = "trading_disabled", True
    return OrderReject(client_order_id=client_order_id, instrument=instrument, reason=reason,
                       venue_code=code, retryable=retryable, ack_ns=ack_ns)  # fmt: skip


def decode_rest_book(
    data: bytes | str, recv_ns: int, decoder: MarketDecoder | None = None
) -> BookSnapshot:
    """``GET /book`` response -> snapshot, hash verified when the response is the full
    (2025+) shape. With ``decoder``, also registers the token's meta there."""
    try:
        wire = _REST_BOOK.decode(data)
        meta = decoder.meta(wire.asset_id) if decoder is not None else AssetMeta()
        if wire.market:
            meta.market = wire.market
        if wire.min_order_size is not None:
            meta.min_order_size = wire.min_order_size
        if wire.neg_risk is not None:
            meta.neg_risk = wire.neg_risk
        if wire.tick_size is not None:
            meta.tick_size = wire.tick_size
        if wire.last_trade_price is not None:
            meta.last_trade_price = wire.last_trade_price
        hash_ok: bool | None = None
        if wire.hash and wire.tick_size is not None and wire.neg_risk is not None:
            hash_ok = _verify(meta, wire.asset_id, str(wire.timestamp),
                              [(lv.price, lv.size) for lv in wire.bids],
                              [(lv.price, lv.size) for lv in wire.asks], wire.hash)  # fmt: skip
        inst = decoder.instrument(wire.asset_id) if decoder else InstrumentId(
            venue=_P, symbol=wire.asset_id)  # fmt: skip
        return BookSnapshot(
            instrument=inst,
            bids=_levels(wire.bids, True),
            asks=_levels(wire.asks, False),
            venue_ts_ms=ms_value(wire.timestamp),
            recv_ns=recv_ns,
            hash=wire.hash,
            hash_ok=hash_ok,
            tick_size=parse_price(wire.tick_size) if wire.tick_size else 0,
        )
    except DecodeError:
        raise
    except _DECODE_FAILURES as exc:
        raise DecodeError(VENUE, str(exc), data) from None
