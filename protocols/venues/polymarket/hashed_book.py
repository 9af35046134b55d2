"""The feed's shadow book per Polymarket token: an :class:`~protocols.book.L2Book` that
keeps each level's hash fragment pre-encoded, so a state hash is one join (of a changed
side only) and one SHA-1.

Hot path (every price change is checked against it); :func:`cached_book_state_hash`
produces exactly the bytes :func:`.hashing.book_state_hash` hashes.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left

import msgspec

from protocols.book import L2Book, Ladder
from protocols.fixed import format_units
from protocols.messages import InstrumentId, Level
from protocols.venues.polymarket.hashing import AssetMeta

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
    descending by price (the wire's order)."""

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
            b'{"market":'
            + _enc_str(meta.market)
            + b',"asset_id":'
            + _enc_str(book.instrument.symbol)
            + b',"timestamp":"'
        )
    tail_key = (meta.min_order_size, meta.tick_size, neg_risk, meta.last_trade_price)
    tail = _TAILS.get(tail_key)
    if tail is None:
        if len(_TAILS) >= _PIECES_LIMIT:
            _TAILS.clear()
        tail = _TAILS[tail_key] = (
            b',"min_order_size":'
            + _enc_str(meta.min_order_size)
            + b',"tick_size":'
            + _enc_str(meta.tick_size)
            + (b',"neg_risk":true' if neg_risk else b',"neg_risk":false')
            + b',"last_trade_price":'
            + _enc_str(meta.last_trade_price)
            + b"}"
        )
    data = b"".join(
        (
            head,
            str(timestamp_ms).encode(),
            b'","hash":"","bids":',
            book.bids.json_list(),
            b',"asks":',
            book.asks.json_list(),
            tail,
        )
    )
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


_enc_str = msgspec.json.Encoder().encode
_PIECES_LIMIT = 100_000
_HEADS: dict[tuple[str, str], bytes] = {}
_TAILS: dict[tuple[str, str, bool, str], bytes] = {}
