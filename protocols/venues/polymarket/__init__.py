"""Polymarket CLOB wire formats: market channel, user channel, REST order and book.

One module per job; every name is re-exported here, so ``from protocols.venues.polymarket
import X`` and ``polymarket.X`` work as they did when this was one module:

* :mod:`.market`: market channel (``/ws/market``) wire structs and :class:`MarketDecoder`
* :mod:`.user`: user channel (``/ws/user``) wire structs and :class:`UserDecoder`
* :mod:`.rest`: ``POST /order`` body, response and error codes; ``GET /book``
* :mod:`.hashing`: the book hash stated from scratch, :class:`AssetMeta`
* :mod:`.hashed_book`: :class:`HashedBook`, the feed's incrementally hashed shadow book
* :mod:`.checks`: per-delta hash and claimed-top checks against a book
* :mod:`._shared`: the venue name, the level struct and helpers the others share

Market channel: a text frame is one JSON object or a JSON array of them, or the plain text
``PONG``. Event types decoded: ``book``, ``price_change`` (the current ``price_changes``
list and both legacy shapes: 2024 single-level flat and the pre-2025-09 ``changes`` list),
``tick_size_change``, ``last_trade_price``, ``best_bid_ask``. Other event types
(``new_market``, ``market_resolved``, future ones) are skipped one by one and counted in
:attr:`MarketDecoder.skipped`.

Normalization: one :class:`~protocols.messages.InstrumentId` per token (``outcome``
None: the channel does not say which token is YES). Book levels become best-first
:class:`Level` tuples (the wire sends bids ascending and asks descending). Price-change
sizes are absolute (``increment=False``).

Book hash (docs/protocols.md): SHA-1 over the compact JSON of ``market, asset_id,
timestamp, hash="", bids, asks, min_order_size, tick_size, neg_risk, last_trade_price``.
``min_order_size`` and ``neg_risk`` are not on the wire; register them with
:meth:`MarketDecoder.set_meta` (from REST ``/book`` or the market object). For an asset
with no registered ``neg_risk`` both values are tried and the one that verifies is kept.
"""

from protocols.venues.polymarket._shared import VENUE, WireLevel
from protocols.venues.polymarket.checks import check_delta_hash, check_delta_top
from protocols.venues.polymarket.hashed_book import (
    HashedBook,
    HashLadder,
    cached_book_state_hash,
)
from protocols.venues.polymarket.hashing import AssetMeta, book_hash, book_state_hash
from protocols.venues.polymarket.market import (
    MarketDecoder,
    WireBestBidAsk,
    WireBook,
    WireChange,
    WireLastTrade,
    WireMarketEvent,
    WirePriceChange,
    WirePriceChangeEntry,
    WireTickSizeChange,
)
from protocols.venues.polymarket.rest import (
    ERROR_CODES,
    PostOrderBody,
    PostOrderResponse,
    RestBook,
    SignedOrder,
    decode_post_order_response,
    decode_rest_book,
    encode_post_order,
    order_amounts,
    order_outcome,
)
from protocols.venues.polymarket.user import (
    UserDecoder,
    WireMakerOrder,
    WireOrder,
    WireTrade,
    WireUserEvent,
    order_state,
)

__all__ = [
    "ERROR_CODES",
    "VENUE",
    "AssetMeta",
    "HashLadder",
    "HashedBook",
    "MarketDecoder",
    "PostOrderBody",
    "PostOrderResponse",
    "RestBook",
    "SignedOrder",
    "UserDecoder",
    "WireBestBidAsk",
    "WireBook",
    "WireChange",
    "WireLastTrade",
    "WireLevel",
    "WireMakerOrder",
    "WireMarketEvent",
    "WireOrder",
    "WirePriceChange",
    "WirePriceChangeEntry",
    "WireTickSizeChange",
    "WireTrade",
    "WireUserEvent",
    "book_hash",
    "book_state_hash",
    "cached_book_state_hash",
    "check_delta_hash",
    "check_delta_top",
    "decode_post_order_response",
    "decode_rest_book",
    "encode_post_order",
    "order_amounts",
    "order_outcome",
    "order_state",
]
