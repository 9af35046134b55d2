"""Kalshi websocket frames as they arrive: the envelope per ``type`` and its ``msg``
payload, in the current fixed-point format, the transitional one and the legacy
integer-cent one. Decoding and normalization live in :mod:`.decoder`.
"""

from __future__ import annotations

import msgspec


class SnapshotMsg(msgspec.Struct):
    market_ticker: str
    market_id: str = ""
    yes_dollars_fp: list[tuple[str, str]] | None = None
    no_dollars_fp: list[tuple[str, str]] | None = None
    yes_dollars: list[tuple[str, int | str]] | None = None  # transitional
    no_dollars: list[tuple[str, int | str]] | None = None
    yes: list[tuple[int, int]] | None = None  # legacy cents, whole contracts
    no: list[tuple[int, int]] | None = None


class DeltaMsg(msgspec.Struct):
    market_ticker: str
    side: str
    # Strings on the wire; some clients report occasional JSON numbers (see _number_text).
    price_dollars: str | float | None = None
    delta_fp: str | float | None = None
    price: int | None = None  # legacy cents
    delta: int | None = None  # legacy whole contracts
    market_id: str = ""
    ts_ms: int = 0
    ts: str | int | None = None
    client_order_id: str = ""


class TickerMsg(msgspec.Struct):
    market_ticker: str
    yes_bid_dollars: str | None = None
    yes_ask_dollars: str | None = None
    yes_bid_size_fp: str | None = None
    yes_ask_size_fp: str | None = None
    yes_bid: int | None = None  # legacy cents
    yes_ask: int | None = None
    ts_ms: int = 0
    ts: int | str | None = None


class TradeMsg(msgspec.Struct):
    market_ticker: str
    trade_id: str = ""
    yes_price_dollars: str | None = None
    count_fp: str | None = None
    yes_price: int | None = None
    count: int | None = None
    taker_side: str = ""
    ts_ms: int = 0
    ts: int | str | None = None


class FillMsg(msgspec.Struct):
    trade_id: str
    order_id: str
    market_ticker: str
    side: str  # yes | no
    action: str  # buy | sell
    is_taker: bool = True
    client_order_id: str = ""
    yes_price_dollars: str | None = None
    no_price_dollars: str | None = None
    yes_price: int | None = None
    count_fp: str | None = None
    count: int | None = None
    fee_cost: str = "0"
    ts_ms: int = 0
    ts: int | None = None


class WireSnapshot(msgspec.Struct, tag_field="type", tag="orderbook_snapshot"):
    msg: SnapshotMsg
    sid: int = 0
    seq: int = 0


class WireDelta(msgspec.Struct, tag_field="type", tag="orderbook_delta"):
    msg: DeltaMsg
    sid: int = 0
    seq: int = 0


class WireTicker(msgspec.Struct, tag_field="type", tag="ticker"):
    msg: TickerMsg
    sid: int = 0
    sending_ts_ms: int = 0


class WireTrade(msgspec.Struct, tag_field="type", tag="trade"):
    msg: TradeMsg
    sid: int = 0
    seq: int = 0


class WireFill(msgspec.Struct, tag_field="type", tag="fill"):
    msg: FillMsg
    sid: int = 0


class SubscribedMsg(msgspec.Struct):
    channel: str = ""
    sid: int = 0


class WireSubscribed(msgspec.Struct, tag_field="type", tag="subscribed"):
    msg: SubscribedMsg = msgspec.field(default_factory=SubscribedMsg)
    id: int = 0


class OkMsg(msgspec.Struct):
    market_tickers: list[str] = []


class WireOk(msgspec.Struct, tag_field="type", tag="ok"):
    id: int = 0
    sid: int = 0
    seq: int = 0
    market_tickers: list[str] | None = None
    msg: OkMsg | None = None


class WireUnsubscribed(msgspec.Struct, tag_field="type", tag="unsubscribed"):
    sid: int = 0
    id: int = 0
    seq: int = 0


class ErrorMsg(msgspec.Struct):
    code: int = 0
    msg: str = ""


class WireError(msgspec.Struct, tag_field="type", tag="error"):
    msg: ErrorMsg = msgspec.field(default_factory=ErrorMsg)
    id: int = 0


WireFrame = (
    WireDelta
    | WireSnapshot
    | WireTicker
    | WireTrade
    | WireFill
    | WireSubscribed
    | WireOk
    | WireUnsubscribed
    | WireError
)
