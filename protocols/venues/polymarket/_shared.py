"""What the Polymarket channels and REST share: the venue name, the price/size level
struct, splitting a frame into its events, and reading a taker side and a level list.

Kept apart so the market channel, user channel and REST modules each import these once
instead of from one another.
"""

from __future__ import annotations

import msgspec

from protocols.errors import DecodeError
from protocols.fixed import price_memo, size_memo
from protocols.messages import Level, Side, Venue

VENUE = "polymarket"
_P = Venue.POLYMARKET


class WireLevel(msgspec.Struct, gc=False):
    price: str
    size: str


class _Probe(msgspec.Struct):
    event_type: str = ""


_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_PROBE = msgspec.json.Decoder(_Probe)


def _elements(frame: bytes | str) -> list[msgspec.Raw]:
    """The frame's events as undecoded JSON: the array's elements, or the one object."""
    data = frame.encode() if isinstance(frame, str) else frame
    if data.lstrip()[:1] == b"[":
        return _RAW_LIST.decode(data)
    return [msgspec.Raw(data)]


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
