"""What a Kalshi command response normalizes to (:class:`Control`), and the union of
everything :class:`~protocols.venues.kalshi.decoder.Decoder` returns.
"""

from __future__ import annotations

import enum

import msgspec

from protocols.messages import (
    Fill,
    MarketData,
)


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
