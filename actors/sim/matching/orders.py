"""The sim exchange's records: accounts, orders, user-channel events, the rejection
error and the identities (API key, maker address, Kalshi user) the sim answers with.
"""

from __future__ import annotations

from typing import Any

import attrs

from actors.sim.scenario import Market

API_KEY = "00000000-0000-4000-8000-00000000517a"  # the sim's single Polymarket API key
MAKER_ADDRESS = "0x5151515151515151515151515151515151515151"
MM_OWNER = "00000000-0000-4000-8000-0000000000aa"
KALSHI_USER = "sim-user"

Response = tuple[int, dict[str, Any]]


class OrderError(Exception):
    """A rejected order: HTTP status and venue error code."""

    def __init__(self, status: int, code: str, message: str = "") -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message or code


@attrs.define
class Account:
    """One venue account: cash, per-instrument positions, reservations for resting orders."""

    cash: int
    reserved: int = 0
    positions: dict[str, int] = attrs.Factory(dict)  # token id, or "TICKER:yes"/"TICKER:no"


@attrs.define
class Order:
    """An order on either venue, prices in the terms of the instrument bought or sold."""

    venue: str
    order_id: str
    client_order_id: str
    market: Market
    instrument: str  # Polymarket token id; Kalshi ticker
    outcome: str  # "yes" | "no"
    buy: bool
    price: int
    size: int
    tif: str  # "FOK" | "FAK" | "GTC"
    created_ms: int
    filled: int = 0
    status: str = "live"  # live | matched | canceled
    taker_fees: int = 0
    maker_fees: int = 0
    taker_cost: int = 0
    maker_cost: int = 0
    fee_shares: int = 0  # Polymarket buys: shares the venue kept as the fee (settled trades)
    failed: int = 0  # Polymarket: filled size whose trades then settled FAILED
    trade_ids: list[str] = attrs.Factory(list)
    updated_ms: int = 0
    resting: bool = False

    @property
    def remaining(self) -> int:
        return self.size - self.filled


@attrs.frozen
class UserEvent:
    """A user-channel event: Polymarket (filter: condition id) or Kalshi (fill msg)."""

    venue: str
    market: str  # condition id or ticker
    body: dict[str, Any]
