"""Polymarket market channel (``/ws/market``): wire structs and :class:`MarketDecoder`.

A text frame is one JSON object or a JSON array of them, or the plain text ``PONG``.
Event types decoded: ``book``, ``price_change`` (the current ``price_changes`` list and
both legacy shapes: 2024 single-level flat and the pre-2025-09 ``changes`` list),
``tick_size_change``, ``last_trade_price``, ``best_bid_ask``. Other event types
(``new_market``, ``market_resolved``, future ones) are skipped one by one and counted in
:attr:`MarketDecoder.skipped`.

Normalization: one :class:`~protocols.messages.InstrumentId` per token (``outcome``
None: the channel does not say which token is YES). Book levels become best-first
:class:`Level` tuples (the wire sends bids ascending and asks descending). Price-change
sizes are absolute (``increment=False``). ``book`` snapshots are hash-verified with
:mod:`.hashing`.
"""

from __future__ import annotations

import msgspec

from protocols.errors import DecodeError
from protocols.fixed import parse_price, parse_size, price_memo, size_memo
from protocols.messages import (
    BookDelta,
    BookSide,
    BookSnapshot,
    InstrumentId,
    MarketData,
    TickSizeChange,
    Trade,
    VenueQuote,
)
from protocols.venues._common import DECODE_FAILURES as _DECODE_FAILURES
from protocols.venues._common import int_text, ms_value
from protocols.venues.polymarket._shared import (
    _P,
    _PROBE,
    VENUE,
    WireLevel,
    _elements,
    _levels,
    _taker,
)
from protocols.venues.polymarket.hashing import AssetMeta, _verify


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

_MARKET_FRAME = msgspec.json.Decoder(list[WireMarketEvent] | WireMarketEvent)
_MARKET_EVENT = msgspec.json.Decoder(WireMarketEvent)
_KNOWN_MARKET = frozenset(
    ["book", "price_change", "tick_size_change", "last_trade_price", "best_bid_ask"]
)


_SIDES = {"BUY": BookSide.BID, "SELL": BookSide.ASK, "buy": BookSide.BID, "sell": BookSide.ASK}


def _side(text: str) -> BookSide:
    if text == "BUY" or text == "buy":
        return BookSide.BID
    if text == "SELL" or text == "sell":
        return BookSide.ASK
    raise DecodeError(VENUE, f"bad side {text!r}", text)


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
                Trade(
                    instrument=self.instrument(ev.asset_id),
                    price=parse_price(ev.price),
                    size=parse_size(ev.size),
                    taker_side=_taker(ev.side),
                    venue_ts_ms=ms_value(ev.timestamp),
                    recv_ns=recv_ns,
                    trade_id=ev.transaction_hash,
                    fee_rate_bps=int_text(ev.fee_rate_bps),
                )
            )
        elif isinstance(ev, WireTickSizeChange):
            self.meta(ev.asset_id).tick_size = ev.new_tick_size
            out.append(
                TickSizeChange(
                    instrument=self.instrument(ev.asset_id),
                    tick_size=parse_price(ev.new_tick_size),
                    old_tick_size=parse_price(ev.old_tick_size),
                    venue_ts_ms=ms_value(ev.timestamp),
                    recv_ns=recv_ns,
                )
            )
        else:
            out.append(
                VenueQuote(
                    instrument=self.instrument(ev.asset_id),
                    bid=parse_price(ev.best_bid),
                    ask=parse_price(ev.best_ask),
                    venue_ts_ms=ms_value(ev.timestamp),
                    recv_ns=recv_ns,
                )
            )

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
            hash_ok = _verify(
                meta,
                ev.asset_id,
                str(ev.timestamp),
                [(lv.price, lv.size) for lv in ev.bids],
                [(lv.price, lv.size) for lv in ev.asks],
                ev.hash,
            )
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
                    BookDelta(
                        instrument=asset(e.asset_id, market),
                        side=side,
                        price=price_memo(e.price),
                        size=size_memo(e.size),
                        venue_ts_ms=ts,
                        recv_ns=recv_ns,
                        hash=e.hash,
                        best_bid=-1 if bb is None else price_memo(bb),
                        best_ask=-1 if ba is None else price_memo(ba),
                    )
                )
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
                    BookDelta(
                        instrument=inst,
                        side=_side(c.side),
                        price=parse_price(c.price),
                        size=parse_size(c.size),
                        venue_ts_ms=ts,
                        recv_ns=recv_ns,
                        hash=ev.hash if i == last else "",
                    )
                )
            return
        if ev.price is None or ev.size is None or ev.side is None:
            raise DecodeError(VENUE, "legacy price_change missing price/size/side")
        out.append(
            BookDelta(
                instrument=inst,
                side=_side(ev.side),
                price=parse_price(ev.price),
                size=parse_size(ev.size),
                venue_ts_ms=ts,
                recv_ns=recv_ns,
                hash=ev.hash,
            )
        )
