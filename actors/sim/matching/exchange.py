""":class:`Exchange`: both simulated venues' order handling over the scenario's books, and
:meth:`Exchange.sweep`, which fills resting orders of either venue as maker.
"""

from __future__ import annotations

from actors.sim.matching.core import _book_side
from actors.sim.matching.kalshi import KalshiOrders
from actors.sim.matching.polymarket import PolymarketOrders
from actors.sim.units import ONE


class Exchange(PolymarketOrders, KalshiOrders):
    """Both venues' order state over the scenario's books."""

    def sweep(self) -> None:
        """Fill resting orders the market maker's quotes now cross (as maker, no fee)."""
        for order in list(self.orders.values()):
            if not order.resting:
                continue
            book, side, to_order = _book_side(order)
            best = book.mm_depth(side)
            if not best or not self._crosses(order, best[0][0], to_order):
                continue
            qty = order.remaining
            self._unrest(order)
            if order.buy:
                acct = self.poly if order.venue == "polymarket" else self.kalshi
                acct.reserved += order.price * qty // ONE  # released again by the fill
            if order.venue == "polymarket":
                self._poly_fill(order, order.price, qty, taker=False)
                order.status = "matched"
                self._poly_order_event(order, "UPDATE")
            else:
                self._kalshi_fill(order, order.price, qty, taker=False)
                order.status = "matched"
