"""Polymarket user channel (``/ws/user``): order and trade events, decoded by
:class:`UserDecoder` into :class:`~protocols.messages.OrderUpdate` and
:class:`~protocols.messages.Fill`.
"""

from __future__ import annotations

import msgspec

from protocols.errors import DecodeError
from protocols.fixed import parse_price, parse_size
from protocols.messages import (
    Fill,
    FillStatus,
    InstrumentId,
    Liquidity,
    OrderState,
    OrderUpdate,
    Outcome,
    Side,
)
from protocols.venues._common import DECODE_FAILURES as _DECODE_FAILURES
from protocols.venues._common import int_text, ms_value
from protocols.venues.polymarket._shared import _P, _PROBE, VENUE, _elements, _taker


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
                Fill(
                    fill_id=ev.id,
                    venue_order_id=ev.taker_order_id,
                    client_order_id="",
                    instrument=InstrumentId(
                        venue=_P, symbol=ev.asset_id, outcome=_outcome(ev.outcome)
                    ),
                    side=taker_side,
                    price=parse_price(ev.price),
                    size=parse_size(ev.size),
                    fee=-1,
                    liquidity=Liquidity.TAKER,
                    status=status,
                    venue_ts_ms=ts,
                    recv_ns=recv_ns,
                    fee_rate_bps=int_text(ev.fee_rate_bps),
                )
            ]
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
                Fill(
                    fill_id=f"{ev.id}:{i}",
                    venue_order_id=mo.order_id,
                    client_order_id="",
                    instrument=InstrumentId(
                        venue=_P, symbol=asset, outcome=_outcome(mo.outcome or ev.outcome)
                    ),
                    side=side,
                    price=parse_price(mo.price),
                    size=parse_size(mo.matched_amount),
                    fee=0,
                    liquidity=Liquidity.MAKER,
                    status=status,
                    venue_ts_ms=ts,
                    recv_ns=recv_ns,
                    fee_rate_bps=int_text(mo.fee_rate_bps),
                )
            )
        return fills
