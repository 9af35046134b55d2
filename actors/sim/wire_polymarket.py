"""Polymarket CLOB wire encoders: market channel, user channel, REST bodies (VENUES 1-3).

``PolyWire`` keeps its own copy of every token book *as last sent on the wire* so each
``price_changes`` entry carries the SHA-1 of the asset's book right after that entry
(VENUES 1.9), and a ``book`` snapshot on subscribe is consistent with the deltas that
follow it.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from actors.sim.book import ASK, BID, Change
from actors.sim.scenario import Market
from actors.sim.units import ONE, trim

_enc = msgspec.json.Encoder()
MIN_ORDER_SIZE = "5"


class AssetWire:
    """Wire-side state of one token book."""

    __slots__ = ("asks", "asset_id", "bids", "last_trade_price", "market", "outcome")

    def __init__(self, market: Market, asset_id: str, outcome: str) -> None:
        self.market = market
        self.asset_id = asset_id
        self.outcome = outcome
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.last_trade_price = ""

    def levels(self) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        """Wire lists: bids ascending, asks descending (best is the last element)."""
        bids = [{"price": trim(p), "size": trim(self.bids[p])} for p in sorted(self.bids)]
        asks = [
            {"price": trim(p), "size": trim(self.asks[p])}
            for p in sorted(self.asks, reverse=True)
        ]
        return bids, asks

    def best(self) -> tuple[str, str]:
        """(best_bid, best_ask) strings, ``"0"``/``"1"`` for an empty side."""
        bid = trim(max(self.bids)) if self.bids else "0"
        ask = trim(min(self.asks)) if self.asks else "1"
        return bid, ask


def book_hash(
    market: str,
    asset_id: str,
    timestamp: str,
    bids: list[dict[str, str]],
    asks: list[dict[str, str]],
    tick_size: str,
    last_trade_price: str,
    min_order_size: str = MIN_ORDER_SIZE,
    neg_risk: bool = False,
) -> str:
    """SHA-1 over the compact JSON of the documented fields, ``hash`` empty (VENUES 1.9)."""
    doc = {
        "market": market,
        "asset_id": asset_id,
        "timestamp": timestamp,
        "hash": "",
        "bids": bids,
        "asks": asks,
        "min_order_size": min_order_size,
        "tick_size": tick_size,
        "neg_risk": neg_risk,
        "last_trade_price": last_trade_price,
    }
    return hashlib.sha1(_enc.encode(doc)).hexdigest()


class PolyWire:
    """Encodes the scenario's change log into Polymarket market-channel objects."""

    def __init__(self, markets: list[Market]) -> None:
        self.by_book: dict[int, AssetWire] = {}
        self.by_asset: dict[str, AssetWire] = {}
        self.markets = {m.index: m for m in markets}
        for m in markets:
            for book, token, outcome in (
                (m.poly_yes, m.yes_token, "Yes"),
                (m.poly_no, m.no_token, "No"),
            ):
                a = AssetWire(m, token, outcome)
                a.bids = dict(book.levels(BID))
                a.asks = dict(book.levels(ASK))
                self.by_book[book.book_id] = a
                self.by_asset[token] = a
        self.bad_hashes = 0  # fault: the next N hashes are wrong

    def _hash(self, a: AssetWire, ts: str) -> str:
        bids, asks = a.levels()
        h = book_hash(
            a.market.condition_id, a.asset_id, ts, bids, asks,
            trim(a.market.poly_tick), a.last_trade_price,
        )
        if self.bad_hashes > 0:
            self.bad_hashes -= 1
            h = hashlib.sha1(h.encode()).hexdigest()
        return h

    def book(self, asset_id: str, ts_ms: int, with_extras: bool = True) -> dict[str, Any]:
        """A ``book`` event (WS) for the wire state of ``asset_id``."""
        a = self.by_asset[asset_id]
        ts = str(ts_ms)
        bids, asks = a.levels()
        out: dict[str, Any] = {
            "market": a.market.condition_id,
            "asset_id": a.asset_id,
            "timestamp": ts,
            "hash": self._hash(a, ts),
            "bids": bids,
            "asks": asks,
            "tick_size": trim(a.market.poly_tick),
            "event_type": "book",
        }
        if with_extras:
            out["last_trade_price"] = a.last_trade_price
        return out

    def price_changes(self, changes: list[Change], ts_ms: int) -> dict[int, dict[str, Any]]:
        """Apply Polymarket changes in order; one ``price_change`` object per market."""
        ts = str(ts_ms)
        per_market: dict[int, list[dict[str, str]]] = {}
        by_book = self.by_book
        for book_id, side, price, size in changes:
            a = by_book.get(book_id)
            if a is None:
                continue
            table = a.bids if side == BID else a.asks
            if size:
                table[price] = size
            else:
                table.pop(price, None)
            best_bid, best_ask = a.best()
            per_market.setdefault(a.market.index, []).append(
                {
                    "asset_id": a.asset_id,
                    "price": trim(price),
                    "size": trim(size),
                    "side": "BUY" if side == BID else "SELL",
                    "hash": self._hash(a, ts),
                    "best_bid": best_bid,
                    "best_ask": best_ask,
                }
            )
        out = {}
        for index, entries in per_market.items():
            market = self.markets[index]
            out[index] = {
                "market": market.condition_id,
                "price_changes": entries,
                "timestamp": ts,
                "event_type": "price_change",
            }
        return out

    def tick_size_change(self, m: Market, old: int, new: int, ts_ms: int) -> list[dict[str, str]]:
        return [
            {
                "asset_id": token,
                "event_type": "tick_size_change",
                "market": m.condition_id,
                "new_tick_size": trim(new),
                "old_tick_size": trim(old),
                "timestamp": str(ts_ms),
            }
            for token in (m.yes_token, m.no_token)
        ]

    def last_trade_price(
        self, asset_id: str, price: int, size: int, side: str, fee_rate_bps: int, ts_ms: int
    ) -> dict[str, str]:
        a = self.by_asset[asset_id]
        a.last_trade_price = trim(price)
        return {
            "asset_id": asset_id,
            "event_type": "last_trade_price",
            "fee_rate_bps": str(fee_rate_bps),
            "market": a.market.condition_id,
            "price": trim(price),
            "side": side,
            "size": trim(size),
            "timestamp": str(ts_ms),
        }


def encode(obj: Any) -> str:
    """Compact JSON text for one frame (an object or a list of objects)."""
    return _enc.encode(obj).decode()


def rest_book(wire: PolyWire, asset_id: str, ts_ms: int) -> dict[str, Any]:
    """``GET /book`` body, 2026 shape with ``min_order_size``/``neg_risk`` (VENUES 3.3)."""
    a = wire.by_asset[asset_id]
    ts = str(ts_ms)
    bids, asks = a.levels()
    return {
        "market": a.market.condition_id,
        "asset_id": a.asset_id,
        "timestamp": ts,
        "hash": wire._hash(a, ts),
        "bids": bids,
        "asks": asks,
        "min_order_size": MIN_ORDER_SIZE,
        "tick_size": trim(a.market.poly_tick),
        "neg_risk": False,
        "last_trade_price": a.last_trade_price,
    }


__all__ = ["ONE", "AssetWire", "PolyWire", "book_hash", "encode", "rest_book"]
