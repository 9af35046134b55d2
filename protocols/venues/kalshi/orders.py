"""Kalshi REST orders: the ``POST /portfolio/orders`` body, its response, and the
response turned into an ack or a definite reject.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from protocols.errors import DecodeError, FixedPointError
from protocols.fixed import (
    format_fixed,
)
from protocols.messages import (
    InstrumentId,
    OrderAck,
    OrderReject,
    OrderState,
    Outcome,
    Side,
    TimeInForce,
)
from protocols.venues._common import DECODE_FAILURES as _DECODE_FAILURES
from protocols.venues.kalshi._shared import _ENCODER, VENUE, _count


class CreateOrderRequest(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``POST /trade-api/v2/portfolio/orders`` body (fixed-point fields)."""

    ticker: str
    side: Literal["yes", "no"]
    action: Literal["buy", "sell"]
    count_fp: str
    client_order_id: str
    yes_price_dollars: str | None = None
    no_price_dollars: str | None = None
    time_in_force: str | None = None
    post_only: bool | None = None
    reduce_only: bool | None = None


_TIF = {
    TimeInForce.GTC: "good_till_canceled",
    TimeInForce.FOK: "fill_or_kill",
    TimeInForce.IOC: "immediate_or_cancel",
}


def create_order_request(
    ticker: str,
    outcome: Outcome,
    side: Side,
    price: int,
    size: int,
    client_order_id: str,
    tif: TimeInForce = TimeInForce.GTC,
) -> CreateOrderRequest:
    """Build a create-order body; price is the chosen outcome's price (4 dp on the wire),
    size in 1e-6 contracts (2 dp on the wire). Unrepresentable values raise."""
    price_text = format_fixed(price, 4)
    return CreateOrderRequest(
        ticker=ticker,
        side="yes" if outcome is Outcome.YES else "no",
        action="buy" if side is Side.BUY else "sell",
        count_fp=format_fixed(size, 2),
        client_order_id=client_order_id,
        yes_price_dollars=price_text if outcome is Outcome.YES else None,
        no_price_dollars=price_text if outcome is Outcome.NO else None,
        time_in_force=_TIF[tif],
    )


def encode_create_order(req: CreateOrderRequest) -> bytes:
    return _ENCODER.encode(req)


class RestOrder(msgspec.Struct, kw_only=True):
    order_id: str
    client_order_id: str = ""
    ticker: str = ""
    status: str = ""  # resting | canceled | executed
    fill_count_fp: str | None = None
    remaining_count_fp: str | None = None
    fill_count: int | None = None


class ErrorBody(msgspec.Struct, kw_only=True):
    code: str | int | None = None
    message: str = ""


class CreateOrderResponse(msgspec.Struct, kw_only=True):
    order: RestOrder | None = None
    # error shapes: {"code","message","details","service"}, {"error": "..."} or
    # {"error": {"code","message",...}}
    code: str | int | None = None
    message: str = ""
    error: str | ErrorBody | None = None


_CREATE_RESPONSE = msgspec.json.Decoder(CreateOrderResponse)


def decode_create_order_response(data: bytes | str) -> CreateOrderResponse:
    try:
        return _CREATE_RESPONSE.decode(data)
    except _DECODE_FAILURES as exc:
        raise DecodeError(VENUE, str(exc), data) from None


def order_outcome(
    resp: CreateOrderResponse,
    http_status: int,
    client_order_id: str,
    instrument: InstrumentId,
    ack_ns: int,
) -> OrderAck | OrderReject:
    """Ack on 201 with an order; otherwise a definite reject (429/5xx are retryable)."""
    order = resp.order
    if http_status in (200, 201) and order is not None:
        try:
            filled = (
                _count(order.fill_count_fp, order.fill_count)
                if (order.fill_count_fp is not None or order.fill_count is not None)
                else 0
            )
        except FixedPointError:
            filled = 0
        state = {"executed": OrderState.FILLED, "canceled": OrderState.CANCELLED}.get(
            order.status, OrderState.PARTIALLY_FILLED if filled else OrderState.OPEN
        )
        return OrderAck(
            client_order_id=client_order_id,
            venue_order_id=order.order_id,
            instrument=instrument,
            state=state,
            filled_size=filled,
            venue_ts_ms=0,
            ack_ns=ack_ns,
        )
    error: str | int | None
    message = resp.message
    if isinstance(resp.error, ErrorBody):
        error, message = resp.error.code, message or resp.error.message
    else:
        error = resp.error
    code = str(resp.code or error or http_status)
    reason = {429: "rate_limited", 401: "unauthorized", 409: "conflict"}.get(
        http_status, "venue_error" if http_status >= 500 else "invalid_order"
    )
    return OrderReject(
        client_order_id=client_order_id,
        instrument=instrument,
        reason=reason,
        venue_code=f"{code}: {message}" if message else code,
        retryable=http_status == 429 or http_status >= 500,
        ack_ns=ack_ns,
    )
