"""Kalshi Trade API v2 wire encoders: orderbook channel, fills, REST bodies (docs/protocols.md).

Kalshi books are bids only: the sim's Kalshi book is in YES terms, so a YES bid change is
a ``yes`` level and a YES ask at p is a ``no`` bid at 1 - p. Deltas are signed increments
against the wire state kept here. Message bodies are encoded once per change and wrapped
per connection with that subscription's ``sid`` and ``seq``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from actors.sim.book import ASK, BID, Change
from actors.sim.scenario import Market
from actors.sim.units import ONE, fixed

_enc = msgspec.json.Encoder()


def rfc3339(ts_ms: int) -> str:
    t = dt.datetime.fromtimestamp(ts_ms / 1000, tz=dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts_ms % 1000:03d}000Z"


class TickerWire:
    """Wire-side state of one Kalshi market: YES bids and NO bids."""

    __slots__ = ("market", "no", "yes")

    def __init__(self, market: Market) -> None:
        self.market = market
        self.yes: dict[int, int] = dict(market.kalshi.levels(BID))
        self.no: dict[int, int] = {ONE - p: s for p, s in market.kalshi.levels(ASK)}


class KalshiWire:
    """Encodes the scenario's change log into Kalshi ``orderbook_delta`` message bodies."""

    def __init__(self, markets: list[Market], legacy_cents: bool = False) -> None:
        self.legacy = legacy_cents
        self.by_book: dict[int, TickerWire] = {m.kalshi.book_id: TickerWire(m) for m in markets}
        self.by_ticker: dict[str, TickerWire] = {t.market.ticker: t for t in self.by_book.values()}

    def snapshot_msg(self, ticker: str) -> str:
        """The ``msg`` body of an ``orderbook_snapshot`` (levels ascending, best last)."""
        t = self.by_ticker[ticker]
        m = t.market
        body: dict[str, Any] = {"market_ticker": m.ticker, "market_id": m.kalshi_market_id}
        for key, table in (("yes", t.yes), ("no", t.no)):
            if not table:
                continue  # an empty side is absent
            if self.legacy:
                body[key] = [[p // 10_000, s // ONE] for p, s in sorted(table.items())]
            else:
                body[f"{key}_dollars_fp"] = [
                    [fixed(p, 4), fixed(s, 2)] for p, s in sorted(table.items())
                ]
        return _enc.encode(body).decode()

    def deltas(self, changes: list[Change], ts_ms: int) -> list[tuple[str, str]]:
        """(ticker, encoded ``msg`` body) per Kalshi change, in order."""
        out: list[tuple[str, str]] = []
        ts = rfc3339(ts_ms)
        by_book = self.by_book
        for book_id, side, price, size in changes:
            t = by_book.get(book_id)
            if t is None:
                continue
            if side == BID:
                key, table, p = "yes", t.yes, price
            else:
                key, table, p = "no", t.no, ONE - price
            delta = size - table.get(p, 0)
            if delta == 0:
                continue
            if size:
                table[p] = size
            else:
                table.pop(p, None)
            m = t.market
            if self.legacy:
                body = (
                    f'{{"market_ticker":"{m.ticker}","market_id":"{m.kalshi_market_id}",'
                    f'"price":{p // 10_000},"delta":{delta // ONE},"side":"{key}","ts":"{ts}"}}'
                )
            else:
                body = (
                    f'{{"market_ticker":"{m.ticker}","market_id":"{m.kalshi_market_id}",'
                    f'"price_dollars":"{fixed(p, 4)}","delta_fp":"{fixed(delta, 2)}",'
                    f'"side":"{key}","ts":"{ts}","ts_ms":{ts_ms}}}'
                )
            out.append((m.ticker, body))
        return out

    def rest_orderbook(self, ticker: str, depth: int = 0) -> dict[str, Any]:
        """``GET /markets/{ticker}/orderbook`` body (REST keys ``yes_dollars``)."""
        t = self.by_ticker[ticker]
        book: dict[str, Any] = {}
        for key, table in (("yes_dollars", t.yes), ("no_dollars", t.no)):
            levels = sorted(table.items())
            if depth:
                levels = levels[-depth:]
            book[key] = [[fixed(p, 4), fixed(s, 2)] for p, s in levels]
        return {"orderbook_fp": book}


def envelope(kind: str, sid: int, seq: int | None, msg: str) -> str:
    """A data frame around a pre-encoded ``msg`` body."""
    if seq is None:
        return f'{{"type":"{kind}","sid":{sid},"msg":{msg}}}'
    return f'{{"type":"{kind}","sid":{sid},"seq":{seq},"msg":{msg}}}'


def encode(obj: Any) -> str:
    return _enc.encode(obj).decode()
