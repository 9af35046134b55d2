"""Polymarket's book hash (docs/protocols.md), stated from scratch.

SHA-1 over the compact JSON of ``market, asset_id, timestamp, hash="", bids, asks,
min_order_size, tick_size, neg_risk, last_trade_price``. :class:`AssetMeta` holds the
per-token facts the hash needs but the frames do not always carry. This is the reference
statement; the feed's incremental form is :mod:`.hashed_book` (same bytes, tested).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import msgspec

from protocols.book import L2Book
from protocols.fixed import format_units


class AssetMeta:
    """Per-token facts the hash needs but the frames do not always carry."""

    __slots__ = ("last_trade_price", "market", "min_order_size", "neg_risk", "tick_size")

    def __init__(self) -> None:
        self.market = ""
        self.min_order_size = "5"  # the common value in captures; override via set_meta
        self.neg_risk: bool | None = None  # None = unknown, try both
        self.tick_size = ""
        self.last_trade_price = ""


def book_hash(
    market: str,
    asset_id: str,
    timestamp: str,
    bids: Iterable[tuple[str, str]],
    asks: Iterable[tuple[str, str]],
    min_order_size: str,
    tick_size: str,
    neg_risk: bool,
    last_trade_price: str,
) -> str:
    """Polymarket's book hash (hex SHA-1), levels in wire order as (price, size) strings."""
    doc = {
        "market": market,
        "asset_id": asset_id,
        "timestamp": timestamp,
        "hash": "",
        "bids": [{"price": p, "size": s} for p, s in bids],
        "asks": [{"price": p, "size": s} for p, s in asks],
        "min_order_size": min_order_size,
        "tick_size": tick_size,
        "neg_risk": neg_risk,
        "last_trade_price": last_trade_price,
    }
    return hashlib.sha1(msgspec.json.encode(doc), usedforsecurity=False).hexdigest()


def _verify(
    meta: AssetMeta,
    asset_id: str,
    timestamp: str,
    bids: list[tuple[str, str]],
    asks: list[tuple[str, str]],
    expected: str,
) -> bool:
    choices = (meta.neg_risk,) if meta.neg_risk is not None else (False, True)
    for neg_risk in choices:
        got = book_hash(
            meta.market,
            asset_id,
            timestamp,
            bids,
            asks,
            meta.min_order_size,
            meta.tick_size,
            neg_risk,
            meta.last_trade_price,
        )
        if got == expected:
            meta.neg_risk = neg_risk
            return True
    return False


def book_state_hash(book: L2Book, meta: AssetMeta, timestamp_ms: int, neg_risk: bool) -> str:
    """Hash of a local book's state, levels formatted canonically (minimal decimals).

    The from-scratch statement: formats every level. The feed's shadow books are
    :class:`HashedBook`, whose per-level fragments are kept formatted, see
    :func:`cached_book_state_hash` (same result, tested).

    Used to check ``price_changes[i].hash``; the venue formats levels minimally in every
    capture seen, so a mismatch caused by formatting alone is not expected.
    """
    bids = [(format_units(p), format_units(s)) for p, s in reversed(list(book.bid_levels()))]
    asks = [(format_units(p), format_units(s)) for p, s in reversed(list(book.ask_levels()))]
    symbol = book.instrument.symbol
    return book_hash(
        meta.market,
        symbol,
        str(timestamp_ms),
        bids,
        asks,
        meta.min_order_size,
        meta.tick_size,
        neg_risk,
        meta.last_trade_price,
    )
