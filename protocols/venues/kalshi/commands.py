"""Kalshi websocket commands we send: ``subscribe``, ``unsubscribe`` and
``update_subscription`` (``get_snapshot`` is the resync after a sequence gap).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from protocols.venues.kalshi._shared import _ENCODER


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
