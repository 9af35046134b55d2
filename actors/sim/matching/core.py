"""Matching shared by both simulated venues: order ids, crossing the market maker's
liquidity in the sim's own books (best first, FOK all-or-nothing, Polymarket's
complement token consumed too), and resting/un-resting orders with cash reservations.

:class:`ExchangeCore` holds the state; the venue halves (:mod:`.polymarket`,
:mod:`.kalshi`) build on it and :class:`~actors.sim.matching.exchange.Exchange` joins them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from actors.sim.book import ASK, BID, SimBook
from actors.sim.matching.orders import Account, Order, Response, UserEvent
from actors.sim.scenario import Market, Scenario
from actors.sim.units import ONE


def _book_side(order: Order) -> tuple[SimBook, int, Callable[[int], int]]:
    """(book, side a taker hits, map book price -> order price) for ``order``."""
    m = order.market
    if order.venue == "polymarket":
        book = m.poly_yes if order.outcome == "yes" else m.poly_no
        return book, (ASK if order.buy else BID), (lambda p: p)
    yes_terms = (order.outcome == "yes") == order.buy  # buy yes / sell no: hit YES asks
    if order.outcome == "yes":
        return m.kalshi, (ASK if yes_terms else BID), (lambda p: p)
    return m.kalshi, (ASK if yes_terms else BID), (lambda p: ONE - p)


class ExchangeCore:
    """State and venue-neutral matching over the scenario's books."""

    def __init__(self, scenario: Scenario, clock: Callable[[], int], cash: int) -> None:
        self.scenario = scenario
        self.clock = clock
        self.poly = Account(cash)
        self.kalshi = Account(cash)
        self.orders: dict[str, Order] = {}
        self.responses: dict[str, Response] = {}  # idempotency key -> first response
        self.events: list[UserEvent] = []
        self.trades: list[tuple[str, str, int, int]] = []  # (venue, instrument, price, size)
        self.failing_trades = 0  # next Polymarket trades that fail settlement (fault hook)
        self._seq = 0
        self.tokens: dict[str, tuple[Market, str]] = {}
        self.tickers: dict[str, Market] = {}
        for m in scenario.markets:
            self.tokens[m.yes_token] = (m, "yes")
            self.tokens[m.no_token] = (m, "no")
            self.tickers[m.ticker] = m

    def _id(self, prefix: str) -> str:
        self._seq += 1
        digest = hashlib.sha256(f"{self.scenario.config.seed}:{prefix}:{self._seq}".encode())
        h = digest.hexdigest()
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}"

    # -- shared matching ----------------------------------------------------------------

    def _record_fill(
        self,
        venue: str,
        order: Order,
        price: int,
        qty: int,
        notional: int,
        fee: int,
        taker: bool,
        id_prefix: str,
    ) -> tuple[str, int]:
        """Book a fill on the order itself (the account is the venue's own business);
        returns the trade id and the fill's time."""
        order.filled += qty
        if taker:
            order.taker_fees += fee
            order.taker_cost += notional
        else:
            order.maker_cost += notional
        now = self.clock()
        order.updated_ms = now
        trade_id = self._id(id_prefix)
        order.trade_ids.append(trade_id)
        self.trades.append((venue, order.instrument, price, qty))
        return trade_id, now

    def _crosses(self, order: Order, book_price: int, to_order: Callable[[int], int]) -> bool:
        p = to_order(book_price)
        return p <= order.price if order.buy else p >= order.price

    def _match(self, order: Order) -> list[tuple[int, int]]:
        """Fill ``order`` against market-maker liquidity; returns (order price, qty)."""
        book, side, to_order = _book_side(order)
        depth = book.mm_depth(side)  # best first for this order, in either price terms
        available = sum(q for p, q in depth if self._crosses(order, p, to_order))
        if order.tif == "FOK" and available < order.remaining:
            return []
        fills: list[tuple[int, int]] = []
        want = order.remaining
        for p, q in depth:
            if want <= 0 or not self._crosses(order, p, to_order):
                break
            take = min(q, want)
            want -= take
            book.consume(side, p, take)
            if order.venue == "polymarket":
                self._mirror(order, side, p, take)
            fills.append((to_order(p), take))
        return fills

    def _mirror(self, order: Order, side: int, price: int, qty: int) -> None:
        """The same maker shows on the complement token at 1 - p: consume it there too."""
        m = order.market
        other = m.poly_no if order.outcome == "yes" else m.poly_yes
        oside = BID if side == ASK else ASK
        have = other.mm[oside].get(ONE - price, 0)
        if have:
            other.consume(oside, ONE - price, min(have, qty))

    # -- resting orders -----------------------------------------------------------------

    def _rest(self, order: Order) -> None:
        book, side, to_order = _book_side(order)
        rest_side = BID if side == ASK else ASK
        book.add_own(rest_side, to_order(order.price), order.remaining)
        order.resting = True
        order.status = "live"
        if order.buy:
            acct = self.poly if order.venue == "polymarket" else self.kalshi
            acct.reserved += order.price * order.remaining // ONE

    def _unrest(self, order: Order) -> None:
        book, side, to_order = _book_side(order)
        rest_side = BID if side == ASK else ASK
        book.add_own(rest_side, to_order(order.price), -order.remaining)
        order.resting = False
        if order.buy:
            acct = self.poly if order.venue == "polymarket" else self.kalshi
            acct.reserved -= order.price * order.remaining // ONE
