"""Kalshi Trade API v2 wire formats: websocket commands and frames, REST orders, signing.

Frames decoded (envelope ``{"type", "sid", "seq"?, "msg", "id"?, "sending_ts_ms"?}``):
``orderbook_snapshot`` / ``orderbook_delta`` in the current fixed-point format
(``*_dollars_fp``, ``price_dollars``/``delta_fp``), the transitional one and the legacy
integer-cent one (``yes``/``no`` cents, ``price``/``delta``); ``ticker``; ``trade``;
``fill``; and the control frames ``subscribed``, ``ok``, ``unsubscribed``, ``error``
(as :class:`Control`). Unknown types are skipped and counted.

Normalization: a market's book is the YES view of ``InstrumentId(kalshi, ticker, YES)``.
Kalshi books are bids-only; a YES bid at p stays a bid at p and a NO bid at p becomes a
YES *ask* at 1 - p (exact in fixed point; Kalshi documents the equivalence), so the
quote cache keeps one ordinary book per market and ``protocols.book.mirror`` shows the
NO bids. Deltas are signed increments (``increment=True``).

Sequencing is per subscription id: :class:`SeqChecker`. Request signing (RSA-PSS,
SHA-256, salt = digest length) is pure computation given a key: :func:`sign_request`.
"""

from __future__ import annotations

import base64
import enum
from typing import Literal

import msgspec
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from protocols.errors import DecodeError, FixedPointError
from protocols.fixed import (
    PRICE_ONE,
    SIZE_ONE,
    cents_to_price,
    format_fixed,
    parse_price,
    parse_size,
    parse_units,
    price_memo,
    size_memo,
    units_memo,
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
    Outcome,
    Side,
    TimeInForce,
    Trade,
    Venue,
    VenueQuote,
)
from protocols.venues._common import DECODE_FAILURES as _DECODE_FAILURES

VENUE = "kalshi"
_K = Venue.KALSHI

# ================================================================= wire: data


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
    WireDelta | WireSnapshot | WireTicker | WireTrade | WireFill
    | WireSubscribed | WireOk | WireUnsubscribed | WireError
)  # fmt: skip


class _Probe(msgspec.Struct):
    type: str = ""


_FRAME = msgspec.json.Decoder(WireFrame)
_PROBE = msgspec.json.Decoder(_Probe)
_BARE_SNAPSHOT = msgspec.json.Decoder(SnapshotMsg)
_KNOWN = frozenset(
    ["orderbook_snapshot", "orderbook_delta", "ticker", "trade", "fill", "subscribed", "ok",
     "unsubscribed", "error"]
)  # fmt: skip


class ControlKind(enum.StrEnum):
    SUBSCRIBED = "subscribed"
    OK = "ok"
    UNSUBSCRIBED = "unsubscribed"
    ERROR = "error"


class Control(msgspec.Struct, frozen=True, kw_only=True):
    """A command response. ``code`` is Kalshi's error code (25 = buffer overflow, you
    were dropped: resubscribe); ``seq`` is set when the venue sent one."""

    kind: ControlKind
    id: int = 0
    sid: int = 0
    seq: int = 0
    channel: str = ""
    code: int = 0
    message: str = ""
    market_tickers: tuple[str, ...] = ()


KalshiMessage = MarketData | Fill | Control

# ================================================================= normalize


def _number_text(value: str | float) -> str:
    """A JSON number back to its decimal text. ``repr`` of a float is the shortest string
    that round-trips, which is the wire text for any number with <= 15 significant digits,
    so ``0.96`` maps to exactly 960_000; nothing is computed in binary floating point."""
    return value if isinstance(value, str) else repr(value)


def _price(dollars: str | float | None, cents: int | None) -> int:
    if dollars is not None:
        return price_memo(_number_text(dollars))
    if cents is not None:
        if not 0 <= cents <= 100:
            raise FixedPointError(cents, "cents outside 0..100")
        return cents_to_price(cents)
    raise DecodeError(VENUE, "missing price")


def _count(fp: str | float | None, whole: int | None) -> int:
    if isinstance(fp, str):
        return units_memo(fp)
    if isinstance(fp, float):
        return units_memo(repr(fp))
    if whole is not None:
        if abs(whole) > 10**15:
            raise FixedPointError(whole, "count too large")
        return whole * SIZE_ONE
    raise DecodeError(VENUE, "missing count")


def _ts_ms(ts_ms: int, ts: int | str | None) -> int:
    if ts_ms:
        return ts_ms
    if isinstance(ts, int) and 0 < ts < 10**11:  # seconds
        return ts * 1000
    return 0  # RFC3339 text only: not parsed on the hot path


class Decoder:
    """Decodes Kalshi websocket frames. One per connection; interns instruments."""

    def __init__(self) -> None:
        self._instruments: dict[str, InstrumentId] = {}
        self.skipped = 0

    def instrument(self, ticker: str) -> InstrumentId:
        inst = self._instruments.get(ticker)
        if inst is None:
            inst = InstrumentId(venue=_K, symbol=ticker, outcome=Outcome.YES)
            self._instruments[ticker] = inst
        return inst

    def decode(self, frame: bytes | str, recv_ns: int) -> list[KalshiMessage]:
        """Decode one frame. Raises only :class:`DecodeError`."""
        try:
            try:
                wire: WireFrame | SnapshotMsg = _FRAME.decode(frame)
            except msgspec.ValidationError:
                kind = _PROBE.decode(frame).type
                if kind in _KNOWN:
                    raise
                if kind:
                    self.skipped += 1
                    return []
                # A bare snapshot payload (logged without its envelope by some tools).
                wire = _BARE_SNAPSHOT.decode(frame)
            return [self._normalize(wire, recv_ns)]
        except DecodeError:
            raise
        except _DECODE_FAILURES as exc:
            raise DecodeError(VENUE, str(exc), frame) from None

    def _normalize(self, wire: WireFrame | SnapshotMsg, recv_ns: int) -> KalshiMessage:
        if isinstance(wire, WireDelta):
            m = wire.msg
            price = _price(m.price_dollars, m.price)
            size = _count(m.delta_fp, m.delta)
            if m.side == "yes":
                side = BookSide.BID
            elif m.side == "no":
                side, price = BookSide.ASK, PRICE_ONE - price
            else:
                raise DecodeError(VENUE, f"bad side {m.side!r}")
            return BookDelta(instrument=self.instrument(m.market_ticker), side=side,
                             price=price, size=size, venue_ts_ms=_ts_ms(m.ts_ms, m.ts),
                             recv_ns=recv_ns, increment=True, seq=wire.seq,
                             sid=wire.sid)  # fmt: skip
        if isinstance(wire, WireSnapshot):
            return self._snapshot(wire.msg, wire.sid, wire.seq, recv_ns)
        if isinstance(wire, SnapshotMsg):
            return self._snapshot(wire, 0, 0, recv_ns)
        if isinstance(wire, WireTicker):
            t = wire.msg
            bid = t.yes_bid_dollars
            ask = t.yes_ask_dollars
            return VenueQuote(
                instrument=self.instrument(t.market_ticker),
                bid=_price(bid, t.yes_bid) if bid is not None or t.yes_bid is not None else -1,
                ask=_price(ask, t.yes_ask) if ask is not None or t.yes_ask is not None else -1,
                bid_size=parse_size(t.yes_bid_size_fp) if t.yes_bid_size_fp else -1,
                ask_size=parse_size(t.yes_ask_size_fp) if t.yes_ask_size_fp else -1,
                venue_ts_ms=_ts_ms(t.ts_ms, t.ts) or wire.sending_ts_ms,
                recv_ns=recv_ns,
            )
        if isinstance(wire, WireTrade):
            tr = wire.msg
            taker = {"yes": Side.BUY, "no": Side.SELL}.get(tr.taker_side)
            return Trade(instrument=self.instrument(tr.market_ticker),
                         price=_price(tr.yes_price_dollars, tr.yes_price),
                         size=_count(tr.count_fp, tr.count), taker_side=taker,
                         venue_ts_ms=_ts_ms(tr.ts_ms, tr.ts), recv_ns=recv_ns,
                         trade_id=tr.trade_id)  # fmt: skip
        if isinstance(wire, WireFill):
            return _fill(wire.msg, recv_ns)
        return _control(wire)

    def _snapshot(self, m: SnapshotMsg, sid: int, seq: int, recv_ns: int) -> BookSnapshot:
        bids: list[Level] = []
        asks: list[Level] = []
        if m.yes_dollars_fp is not None or m.no_dollars_fp is not None:
            for p, c in m.yes_dollars_fp or ():
                bids.append(Level(price_memo(p), size_memo(c)))
            for p, c in m.no_dollars_fp or ():
                asks.append(Level(PRICE_ONE - price_memo(p), size_memo(c)))
        elif m.yes_dollars is not None or m.no_dollars is not None:
            for tp, tc in m.yes_dollars or ():
                bids.append(Level(parse_price(tp), _level_count(tc)))
            for tp, tc in m.no_dollars or ():
                asks.append(Level(PRICE_ONE - parse_price(tp), _level_count(tc)))
        else:
            for cents, whole in m.yes or ():
                bids.append(Level(_price(None, cents), _count(None, whole)))
            for cents, whole in m.no or ():
                asks.append(Level(PRICE_ONE - _price(None, cents), _count(None, whole)))
        bids.sort(key=_price_key, reverse=True)
        asks.sort(key=_price_key)
        return BookSnapshot(instrument=self.instrument(m.market_ticker), bids=tuple(bids),
                            asks=tuple(asks), venue_ts_ms=0, recv_ns=recv_ns, seq=seq,
                            sid=sid)  # fmt: skip


def _price_key(level: Level) -> int:
    return level.price


def _level_count(c: int | str) -> int:
    return parse_size(c) if isinstance(c, str) else _count(None, c)


def _fill(f: FillMsg, recv_ns: int) -> Fill:
    if f.side not in ("yes", "no") or f.action not in ("buy", "sell"):
        raise DecodeError(VENUE, f"bad fill side/action {f.side!r}/{f.action!r}")
    yes_price = _price(f.yes_price_dollars, f.yes_price)
    if f.side == "yes":
        price = yes_price
    elif f.no_price_dollars is not None:
        price = parse_price(f.no_price_dollars)
    else:
        price = PRICE_ONE - yes_price
    outcome = Outcome.YES if f.side == "yes" else Outcome.NO
    return Fill(
        fill_id=f.trade_id,
        venue_order_id=f.order_id,
        client_order_id=f.client_order_id,
        instrument=InstrumentId(venue=_K, symbol=f.market_ticker, outcome=outcome),
        side=Side.BUY if f.action == "buy" else Side.SELL,
        price=price,
        size=_count(f.count_fp, f.count),
        fee=parse_units(f.fee_cost),
        liquidity=Liquidity.TAKER if f.is_taker else Liquidity.MAKER,
        status=FillStatus.CONFIRMED,
        venue_ts_ms=_ts_ms(f.ts_ms, f.ts),
        recv_ns=recv_ns,
    )


def _control(wire: WireSubscribed | WireOk | WireUnsubscribed | WireError) -> Control:
    if isinstance(wire, WireSubscribed):
        return Control(kind=ControlKind.SUBSCRIBED, id=wire.id, sid=wire.msg.sid,
                       channel=wire.msg.channel)  # fmt: skip
    if isinstance(wire, WireOk):
        tickers = wire.market_tickers
        if tickers is None and wire.msg is not None:
            tickers = wire.msg.market_tickers
        return Control(kind=ControlKind.OK, id=wire.id, sid=wire.sid, seq=wire.seq,
                       market_tickers=tuple(tickers or ()))  # fmt: skip
    if isinstance(wire, WireUnsubscribed):
        return Control(kind=ControlKind.UNSUBSCRIBED, id=wire.id, sid=wire.sid, seq=wire.seq)
    return Control(kind=ControlKind.ERROR, id=wire.id, code=wire.msg.code,
                   message=wire.msg.msg)  # fmt: skip


# ================================================================= sequencing


class SeqChecker:
    """Per-``sid`` sequence check: a snapshot (re)anchors, every other sequenced frame
    must be exactly ``last + 1``. A gap invalidates every book on that sid."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: dict[int, int] = {}

    def check(self, sid: int, seq: int, snapshot: bool = False) -> str:
        """Return "" if in order, else the reason (the caller marks books stale)."""
        if not seq:
            return ""  # unsequenced frame (ticker, fill, bare legacy payload)
        last = self._last.get(sid)
        self._last[sid] = seq
        if snapshot:
            return ""
        if last is None:
            return f"sid {sid}: seq {seq} before any snapshot"
        if seq != last + 1:
            return f"sid {sid}: seq gap {last} -> {seq}"
        return ""

    def forget(self, sid: int) -> None:
        self._last.pop(sid, None)


# ================================================================= commands


class SubscribeParams(msgspec.Struct, kw_only=True, omit_defaults=True):
    channels: list[str]
    market_ticker: str | None = None
    market_tickers: list[str] | None = None
    send_initial_snapshot: bool | None = None
    use_yes_price: bool | None = None


class UnsubscribeParams(msgspec.Struct, kw_only=True):
    sids: list[int]


class UpdateParams(msgspec.Struct, kw_only=True, omit_defaults=True):
    sids: list[int]
    action: Literal["add_markets", "delete_markets", "get_snapshot"]
    market_tickers: list[str] | None = None


class Command(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: int
    cmd: str
    params: SubscribeParams | UnsubscribeParams | UpdateParams | None = None


_ENCODER = msgspec.json.Encoder()


def subscribe(cmd_id: int, channels: list[str], market_tickers: list[str]) -> bytes:
    """``subscribe`` command (the orderbook channel takes tickers, not market ids)."""
    params = SubscribeParams(channels=channels, market_tickers=market_tickers)
    return _ENCODER.encode(Command(id=cmd_id, cmd="subscribe", params=params))


def unsubscribe(cmd_id: int, sids: list[int]) -> bytes:
    return _ENCODER.encode(
        Command(id=cmd_id, cmd="unsubscribe", params=UnsubscribeParams(sids=sids))
    )


def update_subscription(
    cmd_id: int,
    sid: int,
    action: Literal["add_markets", "delete_markets", "get_snapshot"],
    market_tickers: list[str] | None = None,
) -> bytes:
    """``update_subscription``; ``get_snapshot`` is the resync after a gap."""
    params = UpdateParams(sids=[sid], action=action, market_tickers=market_tickers)
    return _ENCODER.encode(Command(id=cmd_id, cmd="update_subscription", params=params))


# ================================================================= REST orders


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


class CreateOrderResponse(msgspec.Struct, kw_only=True):
    order: RestOrder | None = None
    # error shapes: {"code","message","details","service"} or {"error": "..."}
    code: str | int | None = None
    message: str = ""
    error: str | None = None


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
            filled = _count(order.fill_count_fp, order.fill_count) if (
                order.fill_count_fp is not None or order.fill_count is not None) else 0  # fmt: skip
        except FixedPointError:
            filled = 0
        state = {"executed": OrderState.FILLED, "canceled": OrderState.CANCELLED}.get(
            order.status, OrderState.PARTIALLY_FILLED if filled else OrderState.OPEN
        )
        return OrderAck(client_order_id=client_order_id, venue_order_id=order.order_id,
                        instrument=instrument, state=state, filled_size=filled, venue_ts_ms=0,
                        ack_ns=ack_ns)  # fmt: skip
    code = str(resp.code or resp.error or http_status)
    reason = {429: "rate_limited", 401: "unauthorized", 409: "conflict"}.get(
        http_status, "venue_error" if http_status >= 500 else "invalid_order"
    )
    return OrderReject(client_order_id=client_order_id, instrument=instrument, reason=reason,
                       venue_code=f"{code}: {resp.message}" if resp.message else code,
                       retryable=http_status == 429 or http_status >= 500,
                       ack_ns=ack_ns)  # fmt: skip


# ================================================================= signing


def load_private_key(pem: bytes, password: bytes | None = None) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=password)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("Kalshi API keys are RSA keys")
    return key


def sign_request(
    key: rsa.RSAPrivateKey, key_id: str, timestamp_ms: int, method: str, path: str
) -> dict[str, str]:
    """The three ``KALSHI-ACCESS-*`` headers for one request.

    Signs ``timestamp + METHOD + path`` with the query string removed (path includes the
    ``/trade-api/v2`` prefix; for the websocket handshake use ``GET /trade-api/ws/v2``).
    """
    ts = str(timestamp_ms)
    message = (ts + method.upper() + path.split("?", 1)[0]).encode()
    signature = key.sign(
        message,
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
        hashes.SHA256(),
    )
    return {
        "KALSHI-ACCESS-KEY": key_id,
        "KALSHI-ACCESS-TIMESTAMP": ts,
        "KALSHI-ACCESS-SIGNATURE": base64.b64encode(signature).decode(),
    }


def verify_signature(
    public_key: rsa.RSAPublicKey, signature_b64: str, timestamp_ms: int, method: str, path: str
) -> bool:
    """Check a signature as the venue would (used by the simulated venue and tests)."""
    from cryptography.exceptions import InvalidSignature

    message = (str(timestamp_ms) + method.upper() + path.split("?", 1)[0]).encode()
    try:
        public_key.verify(
            base64.b64decode(signature_b64),
            message,
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
            hashes.SHA256(),
        )
    except (InvalidSignature, ValueError):
        return False
    return True
