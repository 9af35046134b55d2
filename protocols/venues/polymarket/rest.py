"""Polymarket CLOB REST: the signed order and ``POST /order`` body and response, error
codes mapped to reasons, and ``GET /book`` decoded to a hash-verified snapshot.
"""

from __future__ import annotations

import msgspec

from protocols.errors import DecodeError
from protocols.fixed import Rounding, notional, parse_price
from protocols.messages import BookSnapshot, InstrumentId, OrderAck, OrderReject, OrderState, Side
from protocols.venues._common import DECODE_FAILURES as _DECODE_FAILURES
from protocols.venues._common import ms_value
from protocols.venues.polymarket._shared import _P, VENUE, WireLevel, _levels
from protocols.venues.polymarket.hashing import AssetMeta, _verify
from protocols.venues.polymarket.market import MarketDecoder


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
        return OrderAck(
            client_order_id=client_order_id,
            venue_order_id=resp.order_i_d,
            instrument=instrument,
            state=state,
            filled_size=0,
            venue_ts_ms=0,
            ack_ns=ack_ns,
        )
    code = resp.error_msg or resp.error or "unknown"
    reason, retryable = ERROR_CODES.get(code, ("venue_error", False))
    if code.startswith("Trading is currently"):
        reason, retryable = "trading_disabled", True
    return OrderReject(
        client_order_id=client_order_id,
        instrument=instrument,
        reason=reason,
        venue_code=code,
        retryable=retryable,
        ack_ns=ack_ns,
    )


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
            hash_ok = _verify(
                meta,
                wire.asset_id,
                str(wire.timestamp),
                [(lv.price, lv.size) for lv in wire.bids],
                [(lv.price, lv.size) for lv in wire.asks],
                wire.hash,
            )
        inst = (
            decoder.instrument(wire.asset_id)
            if decoder
            else InstrumentId(venue=_P, symbol=wire.asset_id)
        )
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
