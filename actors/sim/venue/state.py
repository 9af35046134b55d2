"""The simulated venue's state: scenario, exchange, wire encoders, connections and the
trio-based clock, with the public queries (URLs, ground truth, the sim's own books) and
the fault hooks :class:`~actors.sim.faults.Faults` calls back into.

:class:`VenueState` is the base the publishing, websocket and REST parts build on.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import attrs
import trio

from actors.sim.binance import STREAM_KINDS, BinanceFeed
from actors.sim.book import ASK, BID
from actors.sim.config import FaultKind, FaultSpec, SimConfig, Venue
from actors.sim.connections import Conn
from actors.sim.endpoints import SimEndpoints
from actors.sim.faults import Faults
from actors.sim.matching import Exchange
from actors.sim.scenario import Market, Scenario
from actors.sim.units import ONE
from actors.sim.windows import WindowRecord
from actors.sim.wire_kalshi import KalshiWire
from actors.sim.wire_polymarket import PolyWire

if TYPE_CHECKING:  # the check imports Polymarket's SDK (~0.5 s): only tests that use it
    from actors.sim.polymarket_auth import PolymarketAuth

MALFORMED: dict[Venue, tuple[str, ...]] = {
    Venue.POLYMARKET: (
        '{"event_type":"price_change","market":"0x',
        "not json at all",
        '[{"event_type":"book","asset_id":',
        '{"event_type":"mystery_event","payload":[1,2,3]}',
    ),
    Venue.KALSHI: (
        '{"type":"orderbook_delta","sid":',
        "\x00\x01garbage",
        '{"type":"orderbook_delta","sid":1,"seq":"x","msg":null}',
    ),
    Venue.BINANCE: ('{"stream":', "garbage"),
}


@attrs.frozen
class BookView:
    """A snapshot of one of the sim's books: levels ascending by price, 1e-6 units."""

    bids: tuple[tuple[int, int], ...]
    asks: tuple[tuple[int, int], ...]


class VenueState(SimEndpoints):
    """State, public queries and fault hooks of a simulated venue."""

    def __init__(self, config: SimConfig, epoch_ms: int) -> None:
        self.config = config
        self.scenario = Scenario(config, epoch_ms)
        self.exchange = Exchange(self.scenario, self.now_ms, config.starting_cash)
        self.poly_wire = PolyWire(self.scenario.markets)
        self.kalshi_wire = KalshiWire(self.scenario.markets, config.kalshi_legacy_cents)
        self.faults = Faults(self._ws_fault, self._bad_hash, self._trade_failed)
        self.conns: set[Conn] = set()
        self._t0 = trio.current_time()
        self._last_ms = epoch_ms
        self._rng = random.Random(config.seed ^ 0x5EED)
        self._gt_file: Any = None
        self.host = config.host
        self.polymarket_port = self.kalshi_port = self.rest_port = self.binance_port = 0
        self.frames_published = 0
        # Set (by a test) to check L2 headers and order signatures as the real CLOB does.
        self.polymarket_auth: PolymarketAuth | None = None
        self.binance: BinanceFeed | None = None
        if config.binance_port is not None:
            self.binance = BinanceFeed(
                config.seed,
                config.binance_symbols,
                config.step_interval,
                config.binance_quote_rate,
                config.binance_trade_rate,
                config.binance_volatility,
            )

    # -- public queries -----------------------------------------------------------------

    @property
    def binance_ws_url(self) -> str:
        """Base URL of the Binance stream server (add ``/stream?streams=...`` or ``/ws/<s>``)."""
        if self.binance is None:
            raise RuntimeError("the Binance stream is off: set SimConfig(binance_port=0)")
        return f"{self._ws}://{self.host}:{self.binance_port}"

    def binance_stream_url(self, *streams: str) -> str:
        """Combined-stream URL; default every stream of every configured symbol."""
        names = streams or tuple(
            f"{s.lower()}@{kind}" for s in self.config.binance_symbols for kind in STREAM_KINDS
        )
        return f"{self.binance_ws_url}/stream?streams={'/'.join(names)}"

    def binance_quote(self, symbol: str) -> tuple[int, int, int, int]:
        """The sim's current top of book for ``symbol``: (bid, bid qty, ask, ask qty), 1e-6."""
        if self.binance is None:
            raise RuntimeError("the Binance stream is off")
        q = self.binance.quotes[symbol]
        return q.bid, q.bid_qty, q.ask, q.ask_qty

    @property
    def markets(self) -> list[Market]:
        return self.scenario.markets

    @property
    def windows(self) -> list[WindowRecord]:
        """Ground truth: every window injected so far."""
        return list(self.scenario.windows)

    def poly_book(self, token_id: str) -> BookView:
        """The sim's true book for a Polymarket token."""
        m, outcome = self.exchange.tokens[token_id]
        book = m.poly_yes if outcome == "yes" else m.poly_no
        return BookView(tuple(book.levels(BID)), tuple(book.levels(ASK)))

    def kalshi_book(self, ticker: str) -> tuple[tuple[tuple[int, int], ...], ...]:
        """The sim's true Kalshi book as the wire shows it: (YES bids, NO bids), ascending."""
        book = self.exchange.tickers[ticker].kalshi
        no = sorted((ONE - p, s) for p, s in book.levels(ASK))
        return tuple(book.levels(BID)), tuple(no)

    def now_ms(self) -> int:
        """Wire timestamp now: epoch + trio time since start, never going backwards."""
        ms = self.scenario.epoch_ms + round((trio.current_time() - self._t0) * 1000)
        self._last_ms = max(self._last_ms, ms)
        return self._last_ms

    # -- faults -------------------------------------------------------------------------

    def _bad_hash(self, count: int) -> None:
        self.poly_wire.bad_hashes = count

    def _trade_failed(self, count: int) -> None:
        self.exchange.failing_trades = count

    def _ws_fault(self, spec: FaultSpec) -> None:
        for conn in list(self.conns):
            if spec.venue is not None and conn.venue is not spec.venue:
                continue
            if spec.kind is FaultKind.WS_CLOSE:
                conn.abort()
            elif spec.kind is FaultKind.WS_MALFORMED:
                junk = MALFORMED[conn.venue]
                for i in range(spec.count):
                    conn.push(junk[i % len(junk)])
            elif spec.kind is FaultKind.KALSHI_SEQ_GAP and conn.venue is Venue.KALSHI:
                conn.seq_gap += spec.count
