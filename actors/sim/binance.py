"""Binance Spot reference stream: seeded top-of-book walk, ``bookTicker`` and ``aggTrade``.

Pure and deterministic like the scenario: ``BinanceFeed.step(ts_ms)`` advances one
``step_interval`` with its own ``random.Random`` (seeded from the sim seed, so enabling
Binance never changes the Polymarket/Kalshi frames) and returns the new payloads as
``(stream name, encoded payload)`` pairs. The venue wraps them per connection: combined
streams as ``{"stream": name, "data": payload}``, raw ``/ws/<name>`` as the bare payload
(docs/protocols.md, "Binance spot").

Payloads are exactly the venue's: spot ``bookTicker`` is ``u, s, b, B, a, A`` with no
event time, ``u`` increasing but not contiguous; ``aggTrade`` is ``e, E, s, a, p, q, f, l,
T, m, M`` with ``a`` contiguous per symbol and ``m = true`` when the buyer was the maker
(the taker sold). Prices and quantities are 8-decimal strings; all state is exact ints in
1e-6 units (prices on a 0.01 tick, quantities on a 0.00001 step).
"""

from __future__ import annotations

import math
import random

import attrs

from actors.sim.units import ONE

TICK = 10_000  # 0.01 USD
QTY_STEP = 10  # 0.00001 base asset
START_PRICES = {"BTCUSDT": 84_000, "ETHUSDT": 3_200, "SOLUSDT": 180, "BNBUSDT": 600}
BOOK_TICKER = "bookTicker"
AGG_TRADE = "aggTrade"
STREAM_KINDS = (BOOK_TICKER, AGG_TRADE)


def decimal8(value: int) -> str:
    """1e-6 units as Binance writes them: exactly 8 decimals (``"84598.05000000"``)."""
    whole, frac = divmod(value, ONE)
    return f"{whole}.{frac:06d}00"


def stream_names(symbol: str) -> tuple[str, str]:
    """The two stream names the sim serves for ``symbol`` (symbol lowercase)."""
    low = symbol.lower()
    return f"{low}@{BOOK_TICKER}", f"{low}@{AGG_TRADE}"


@attrs.define
class Quote:
    """One symbol's top of book and its counters."""

    symbol: str
    mid: int  # hidden fair price, 1e-6 USD
    bid: int
    bid_qty: int
    ask: int
    ask_qty: int
    update_id: int  # bookTicker ``u``
    agg_id: int  # last aggTrade ``a``
    trade_id: int  # last trade id (``l`` of the last aggTrade)
    book_stream: str = ""
    trade_stream: str = ""

    def book_ticker(self) -> str:
        return (
            f'{{"u":{self.update_id},"s":"{self.symbol}","b":"{decimal8(self.bid)}",'
            f'"B":"{decimal8(self.bid_qty)}","a":"{decimal8(self.ask)}",'
            f'"A":"{decimal8(self.ask_qty)}"}}'
        )


class BinanceFeed:
    """Seeded random walk of each symbol's top of book on the sim clock."""

    def __init__(
        self,
        seed: int,
        symbols: tuple[str, ...],
        step_interval: float,
        quote_rate: float,
        trade_rate: float,
        volatility: float,
    ) -> None:
        self.rng = random.Random(f"binance:{seed}")
        self.step_interval = step_interval
        self.quote_rate = quote_rate
        self.trade_rate = trade_rate
        self.volatility = volatility
        self.quotes: dict[str, Quote] = {}
        self._quote_budget = 0.0
        self._trade_budget = 0.0
        rng = self.rng
        for symbol in symbols:
            base = START_PRICES.get(symbol, 100)
            mid = round(base * ONE * (0.9 + 0.2 * rng.random()))
            q = Quote(
                symbol=symbol,
                mid=mid,
                bid=0,
                bid_qty=0,
                ask=0,
                ask_qty=0,
                update_id=rng.randint(10**9, 5 * 10**9),
                agg_id=rng.randint(10**8, 5 * 10**9),
                trade_id=rng.randint(10**9, 8 * 10**9),
            )
            q.book_stream, q.trade_stream = stream_names(symbol)
            self._requote(q)
            self.quotes[symbol] = q
        self.streams: frozenset[str] = frozenset(
            name for q in self.quotes.values() for name in (q.book_stream, q.trade_stream)
        )

    def _qty(self) -> int:
        # log-uniform-ish sizes from 0.00001 to ~2 units of the base asset
        return QTY_STEP * max(1, round(10 ** (self.rng.random() * 5.3)))

    def _requote(self, q: Quote) -> None:
        rng = self.rng
        bid = q.mid - q.mid % TICK
        spread = TICK if rng.random() < 0.8 else 2 * TICK
        q.bid, q.ask = bid, bid + spread
        q.bid_qty, q.ask_qty = self._qty(), self._qty()
        q.update_id += rng.randint(1, 40)  # monotonic, not contiguous (as the venue)

    def step(self, ts_ms: int) -> list[tuple[str, str]]:
        """Advance one step; the payloads it produced, in order, as (stream, JSON)."""
        rng = self.rng
        dt = self.step_interval
        out: list[tuple[str, str]] = []
        quotes = list(self.quotes.values())
        if not quotes:
            return out
        scale = self.volatility * math.sqrt(dt)
        for q in quotes:
            q.mid = max(TICK, q.mid + round(rng.gauss(0.0, scale) * q.mid))
        self._quote_budget += self.quote_rate * dt * len(quotes)
        while self._quote_budget >= 1.0:
            self._quote_budget -= 1.0
            q = quotes[rng.randrange(len(quotes))]
            self._requote(q)
            out.append((q.book_stream, q.book_ticker()))
        self._trade_budget += self.trade_rate * dt * len(quotes) * 2 * rng.random()
        while self._trade_budget >= 1.0:
            self._trade_budget -= 1.0
            q = quotes[rng.randrange(len(quotes))]
            out.append((q.trade_stream, self._trade(q, ts_ms)))
        return out

    def _trade(self, q: Quote, ts_ms: int) -> str:
        rng = self.rng
        buyer_maker = rng.random() < 0.5  # the taker sold into the bid
        price = q.bid if buyer_maker else q.ask
        first = q.trade_id + 1
        q.trade_id = first + rng.randint(0, 3)
        q.agg_id += 1
        qty = self._qty()
        maker = "true" if buyer_maker else "false"
        return (
            f'{{"e":"aggTrade","E":{ts_ms},"s":"{q.symbol}","a":{q.agg_id},'
            f'"p":"{decimal8(price)}","q":"{decimal8(qty)}","f":{first},"l":{q.trade_id},'
            f'"T":{ts_ms},"m":{maker},"M":true}}'
        )


def combined(stream: str, payload: str) -> str:
    """The combined-stream wrapper around an encoded payload."""
    return f'{{"stream":"{stream}","data":{payload}}}'
