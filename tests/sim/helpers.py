"""Independent re-implementations of the documented wire rules, for checking the sim."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

from trio_websocket import WebSocketConnection

from actors.sim import SimConfig
from actors.sim.scenario import Scenario
from actors.sim.wire_kalshi import KalshiWire
from actors.sim.wire_polymarket import PolyWire, encode


def documented_hash(
    market: str,
    asset_id: str,
    timestamp: str,
    bids: list[dict[str, str]],
    asks: list[dict[str, str]],
    tick_size: str,
    last_trade_price: str,
) -> str:
    """docs/protocols.md: SHA-1 of compact JSON of the ten documented keys, hash set to ""."""
    doc = {
        "market": market,
        "asset_id": asset_id,
        "timestamp": timestamp,
        "hash": "",
        "bids": bids,
        "asks": asks,
        "min_order_size": "5",
        "tick_size": tick_size,
        "neg_risk": False,
        "last_trade_price": last_trade_price,
    }
    return hashlib.sha1(json.dumps(doc, separators=(",", ":")).encode()).hexdigest()


class ClientBook:
    """A client's Polymarket token book kept from the wire strings, hash-checked."""

    def __init__(self, book: dict[str, Any]) -> None:
        self.market = book["market"]
        self.asset_id = book["asset_id"]
        self.tick = book["tick_size"]
        self.ltp = book.get("last_trade_price", "")
        self.bids = {Decimal(x["price"]): x for x in book["bids"]}
        self.asks = {Decimal(x["price"]): x for x in book["asks"]}
        assert self.hash(book["timestamp"]) == book["hash"]

    def lists(self) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        return (
            [self.bids[p] for p in sorted(self.bids)],
            [self.asks[p] for p in sorted(self.asks, reverse=True)],
        )

    def hash(self, ts: str) -> str:
        bids, asks = self.lists()
        return documented_hash(self.market, self.asset_id, ts, bids, asks, self.tick, self.ltp)

    def apply(self, entry: dict[str, str]) -> None:
        table = self.bids if entry["side"] == "BUY" else self.asks
        price = Decimal(entry["price"])
        if Decimal(entry["size"]) == 0:
            table.pop(price, None)
        else:
            table[price] = {"price": entry["price"], "size": entry["size"]}

    def top(self) -> tuple[Decimal | None, Decimal | None]:
        return (max(self.bids) if self.bids else None, min(self.asks) if self.asks else None)


def frames(text: str | bytes) -> list[dict[str, Any]]:
    """A Polymarket text frame is one object or an array of objects."""
    obj = json.loads(text)
    return obj if isinstance(obj, list) else [obj]


async def drain_forever(ws: WebSocketConnection) -> None:
    while True:
        await ws.get_message()


EPOCH = 1_780_000_000_000


def run_frames(seed: int, steps: int = 400) -> tuple[list[str], list[str]]:
    """Every frame the engine + encoders produce for ``steps`` steps, and the ground truth."""
    cfg = SimConfig(seed=seed, window_rate=1.0, window_duration=1.0, rate=500)
    sc = Scenario(cfg, EPOCH)
    poly = PolyWire(sc.markets)
    kal = KalshiWire(sc.markets)
    out: list[str] = [encode(poly.book(m.yes_token, EPOCH)) for m in sc.markets]
    out += [kal.snapshot_msg(m.ticker) for m in sc.markets]
    for _ in range(steps):
        sc.step()
        changes = list(sc.log)
        sc.log.clear()
        ts = sc.now_ms()
        out += [encode(o) for o in poly.price_changes(changes, ts).values()]
        out += [body for _, body in kal.deltas(changes, ts)]
    return out, [w.to_json() for w in sc.windows]
