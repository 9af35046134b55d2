"""Polymarket CLOB wire encoders: market channel, user channel, REST bodies
(docs/protocols.md).

``PolyWire`` keeps its own copy of every token book *as last sent on the wire* so each
``price_changes`` entry carries the SHA-1 of the asset's book right after that entry
(docs/protocols.md, "Polymarket market channel"), and a ``book`` snapshot on subscribe is
consistent with the deltas that follow it.

The hash runs once per entry (up to ~15k times a second at full load), so the wire state
is kept in the shape the hash needs: every level's compact JSON fragment is encoded once
when it changes, each side keeps its prices sorted (``bisect``) and its joined JSON list,
and the hash input is one f-string over those cached pieces; the tests check its bytes
against an independent statement of the algorithm (``tests/sim/helpers.py``).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left, insort
from typing import Any

import msgspec

from actors.sim.book import ASK, BID, Change
from actors.sim.scenario import Market
from actors.sim.units import ONE, trim

_enc = msgspec.json.Encoder()
_sha1 = hashlib.sha1
MIN_ORDER_SIZE = "5"

_PRICES: dict[int, str] = {}


def price_text(price: int) -> str:
    """``trim(price)``, memoized: prices live on a small grid, sizes do not."""
    text = _PRICES.get(price)
    if text is None:
        text = _PRICES[price] = trim(price)
    return text


class _Side:
    """One side of a token book as the wire shows it, with its encodings cached.

    ``prices`` is ascending; the wire order is ascending for bids and descending for
    asks (best last either way). ``json`` is the comma-joined level objects in wire order.
    """

    __slots__ = ("descending", "frags", "json", "prices", "sizes")

    def __init__(self, levels: list[tuple[int, int]], descending: bool) -> None:
        self.descending = descending
        self.sizes: dict[int, int] = {}
        self.frags: dict[int, str] = {}
        self.prices: list[int] = []
        for price, size in levels:
            self.set(price, size)

    def set(self, price: int, size: int) -> str:
        """Record a level's new absolute size (0 removes it) and rejoin; returns the size text."""
        sizes = self.sizes
        if size:
            text = trim(size)
            if price not in sizes:
                insort(self.prices, price)
            sizes[price] = size
            self.frags[price] = f'{{"price":"{price_text(price)}","size":"{text}"}}'
        else:
            text = "0"
            if price in sizes:
                del sizes[price]
                del self.frags[price]
                prices = self.prices
                del prices[bisect_left(prices, price)]
        self.rejoin()
        return text

    def rejoin(self) -> None:
        frags = self.frags
        order = reversed(self.prices) if self.descending else self.prices
        self.json = ",".join([frags[p] for p in order])

    def wire(self) -> list[dict[str, str]]:
        """The wire list of ``{"price", "size"}`` objects."""
        order = reversed(self.prices) if self.descending else self.prices
        return [{"price": price_text(p), "size": trim(self.sizes[p])} for p in order]


class AssetWire:
    """Wire-side state of one token book."""

    __slots__ = ("_head", "asks", "asset_id", "bids", "last_trade_price", "market", "outcome")

    def __init__(
        self,
        market: Market,
        asset_id: str,
        outcome: str,
        bids: list[tuple[int, int]],
        asks: list[tuple[int, int]],
    ) -> None:
        self.market = market
        self.asset_id = asset_id
        self.outcome = outcome
        self.bids = _Side(bids, descending=False)
        self.asks = _Side(asks, descending=True)
        self.last_trade_price = ""
        self._head = f'{{"market":"{market.condition_id}","asset_id":"{asset_id}","timestamp":"'

    def levels(self) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        """Wire lists: bids ascending, asks descending (best is the last element)."""
        return self.bids.wire(), self.asks.wire()

    def best(self) -> tuple[str, str]:
        """(best_bid, best_ask) strings, ``"0"``/``"1"`` for an empty side."""
        bids, asks = self.bids.prices, self.asks.prices
        return (
            price_text(bids[-1]) if bids else "0",
            price_text(asks[0]) if asks else "1",
        )

    def hash_input(self, ts: str) -> bytes:
        """The exact bytes ``book_hash`` hashes for this book at ``ts``."""
        return (
            f'{self._head}{ts}","hash":"","bids":[{self.bids.json}],"asks":[{self.asks.json}],'
            f'"min_order_size":"{MIN_ORDER_SIZE}","tick_size":"{price_text(self.market.poly_tick)}",'
            f'"neg_risk":false,"last_trade_price":"{self.last_trade_price}"}}'
        ).encode()


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
                a = AssetWire(m, token, outcome, book.levels(BID), book.levels(ASK))
                self.by_book[book.book_id] = a
                self.by_asset[token] = a
        self.bad_hashes = 0  # fault: the next N hashes are wrong

    def _hash(self, a: AssetWire, ts: str) -> str:
        h = _sha1(a.hash_input(ts)).hexdigest()
        if self.bad_hashes > 0:
            self.bad_hashes -= 1
            h = _sha1(h.encode()).hexdigest()
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
            "tick_size": price_text(a.market.poly_tick),
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
        sha1 = _sha1
        for book_id, side, price, size in changes:
            a = by_book.get(book_id)
            if a is None:
                continue
            wire_side = a.bids if side == BID else a.asks
            size_text = wire_side.set(price, size)
            bids, asks = a.bids.prices, a.asks.prices
            h = sha1(a.hash_input(ts)).hexdigest()
            if self.bad_hashes > 0:
                self.bad_hashes -= 1
                h = sha1(h.encode()).hexdigest()
            entries = per_market.get(a.market.index)
            if entries is None:
                entries = per_market[a.market.index] = []
            entries.append(
                {
                    "asset_id": a.asset_id,
                    "price": price_text(price),
                    "size": size_text,
                    "side": "BUY" if side == BID else "SELL",
                    "hash": h,
                    "best_bid": price_text(bids[-1]) if bids else "0",
                    "best_ask": price_text(asks[0]) if asks else "1",
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
    """``GET /book`` body, 2026 shape with ``min_order_size``/``neg_risk``."""
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
        "tick_size": price_text(a.market.poly_tick),
        "neg_risk": False,
        "last_trade_price": a.last_trade_price,
    }


__all__ = ["ONE", "AssetWire", "PolyWire", "encode", "price_text", "rest_book"]
