"""The sim's own L2 books: exact ints, market-maker and client liquidity kept apart.

Every change to a displayed level is appended to a shared change log, which the wire
encoders turn into ``price_change`` entries / ``orderbook_delta`` frames. Takers match
only market-maker liquidity (the sim has one client account per venue, so a client
never trades with itself); resting client orders add to the displayed size.
"""

from __future__ import annotations

BID = 0
ASK = 1

# (book id, side, price, new displayed size) -- tuples: the hot path allocates millions.
Change = tuple[int, int, int, int]


class SimBook:
    """One instrument's book, prices in the instrument's own terms (1e-6 USD)."""

    __slots__ = ("_log", "book_id", "consumed", "desired", "mm", "own")

    def __init__(self, book_id: int, log: list[Change]) -> None:
        self.book_id = book_id
        self._log = log
        self.mm: tuple[dict[int, int], dict[int, int]] = ({}, {})
        self.own: tuple[dict[int, int], dict[int, int]] = ({}, {})
        # What the market maker last wanted: consumed liquidity stays consumed until the
        # maker actually moves or resizes that level (then it is replenished).
        self.desired: tuple[dict[int, int], dict[int, int]] = ({}, {})
        self.consumed = 0  # takes so far (ground truth looks again only after one)

    def size(self, side: int, price: int) -> int:
        return self.mm[side].get(price, 0) + self.own[side].get(price, 0)

    def _put(self, table: dict[int, int], side: int, price: int, size: int) -> None:
        if size > 0:
            table[price] = size
        else:
            table.pop(price, None)
        self._log.append((self.book_id, side, price, self.size(side, price)))

    def render(self, side: int, desired: dict[int, int]) -> None:
        """Move the market maker to ``desired``, logging only levels that differ."""
        old = self.desired[side]
        mm = self.mm[side]
        for price in old.keys() - desired.keys():
            if price in mm:
                self._put(mm, side, price, 0)
        for price, size in desired.items():
            if old.get(price) != size:
                self._put(mm, side, price, size)
        self.desired = (desired, self.desired[1]) if side == BID else (self.desired[0], desired)

    def consume(self, side: int, price: int, qty: int) -> None:
        """A taker took ``qty`` of market-maker liquidity at ``price``."""
        mm = self.mm[side]
        left = mm.get(price, 0) - qty
        if left < 0:
            raise ValueError("consumed more than the level holds")
        self.consumed += 1
        self._put(mm, side, price, left)

    def add_own(self, side: int, price: int, qty: int) -> None:
        """Add (``qty`` > 0) or remove (< 0) resting client size at ``price``."""
        own = self.own[side]
        self._put(own, side, price, own.get(price, 0) + qty)

    def levels(self, side: int) -> list[tuple[int, int]]:
        """Displayed levels, ascending by price."""
        mm, own = self.mm[side], self.own[side]
        prices = sorted(mm.keys() | own.keys())
        return [(p, mm.get(p, 0) + own.get(p, 0)) for p in prices]

    def best(self, side: int) -> int | None:
        """Best displayed price (highest bid / lowest ask), None when the side is empty."""
        keys = self.mm[side].keys() | self.own[side].keys()
        if not keys:
            return None
        return max(keys) if side == BID else min(keys)

    def mm_depth(self, side: int) -> list[tuple[int, int]]:
        """Market-maker liquidity a taker can hit, best first."""
        return sorted(self.mm[side].items(), reverse=(side == BID))
