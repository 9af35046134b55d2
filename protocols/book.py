"""L2 order books: one per instrument, fed by normalized snapshots and deltas.

Each side is a sorted list of integer price keys (bisect, O(log n) search; the list
shift on insert/remove is a memmove that is negligible at book sizes) plus a dict
key -> size, so the best price is O(1) (the last key) and a level update touches two
containers and allocates nothing. Bids are keyed by ``price`` and asks by ``-price``,
so on both sides the best level is at the *end* of the list, where most updates happen.

Staleness: a delta that would make a level negative, or a caller-detected sequence gap
or hash mismatch (:meth:`L2Book.mark_stale`), marks the book stale with a reason; only
the next snapshot clears it. A crossed book is reported by :meth:`BookView.crossed`
(and in :meth:`BookView.top`) but not latched, because venues briefly publish crossed
states mid-burst that the next entry resolves.

Binary markets are mirrored: a bid on YES at p is an ask on NO at 1 - p.
:func:`mirror` gives that view without copying. Kalshi books are bids-only on the wire;
the Kalshi decoder already turns NO bids into YES asks at 1 - p, so a Kalshi book is an
ordinary YES-view book whose ``mirror`` shows the NO bids.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator

from protocols.fixed import PRICE_ONE, Rounding, notional
from protocols.messages import (
    BookDelta,
    BookSide,
    BookSnapshot,
    InstrumentId,
    Level,
    Outcome,
    Side,
    TopOfBook,
)

_SCALE = 1_000_000
_EMPTY = Level(0, 0)


class Ladder:
    """One side of a book. ``sign`` is +1 for bids and -1 for asks (see module doc).

    ``head`` caches the best-first :class:`Level` tuple last built by :meth:`top_levels`
    (None after any change), so publishing a book whose other side changed reuses it.
    """

    __slots__ = ("head", "head_depth", "keys", "sign", "sizes")

    def __init__(self, sign: int) -> None:
        self.sign = sign
        self.keys: list[int] = []
        self.sizes: dict[int, int] = {}
        self.head: tuple[Level, ...] | None = None
        self.head_depth = 0

    def __len__(self) -> int:
        return len(self.keys)

    def clear(self) -> None:
        self.keys.clear()
        self.sizes.clear()
        self.head = None

    def load(self, levels: tuple[Level, ...]) -> None:
        """Replace the side with ``levels`` (any order, zero sizes dropped)."""
        sign = self.sign
        sizes = {lv.price * sign: lv.size for lv in levels if lv.size > 0}
        self.sizes = sizes
        self.keys = sorted(sizes)
        self.head = None

    def set(self, price: int, size: int) -> None:
        """Set the absolute size at ``price``; 0 removes the level."""
        key = price * self.sign
        sizes = self.sizes
        self.head = None
        if size > 0:
            if key not in sizes:
                insort(self.keys, key)
            sizes[key] = size
        elif sizes.pop(key, None) is not None:
            keys = self.keys
            del keys[bisect_left(keys, key)]

    def top_levels(self, depth: int) -> tuple[Level, ...]:
        """The best ``depth`` levels, best first (cached until the side changes)."""
        head = self.head
        if head is not None and self.head_depth == depth:
            return head
        if depth <= 0:
            head = ()
        else:
            sign = self.sign
            sizes = self.sizes
            sel = self.keys[-depth:]
            sel.reverse()
            head = tuple([Level(k * sign, sizes[k]) for k in sel])
        self.head = head
        self.head_depth = depth
        return head

    def add(self, price: int, delta: int) -> int:
        """Add a signed ``delta`` at ``price``; returns the new size. A result below zero
        is returned without being applied (the caller marks the book stale)."""
        key = price * self.sign
        new = self.sizes.get(key, 0) + delta
        if new >= 0:
            self.set(price, new)
        return new

    def size_at(self, price: int) -> int:
        return self.sizes.get(price * self.sign, 0)

    def best(self) -> int | None:
        keys = self.keys
        return keys[-1] * self.sign if keys else None

    def levels(self) -> Iterator[tuple[int, int]]:
        """``(price, size)`` best-first."""
        sign = self.sign
        sizes = self.sizes
        for key in reversed(self.keys):
            yield key * sign, sizes[key]


class BookView:
    """Read API shared by books and mirrored views. Subclasses supply the two iterators
    and the two best-level accessors."""

    __slots__ = ()
    instrument: InstrumentId

    def bid_levels(self) -> Iterator[tuple[int, int]]:
        raise NotImplementedError

    def ask_levels(self) -> Iterator[tuple[int, int]]:
        raise NotImplementedError

    def best_bid(self) -> tuple[int, int] | None:
        raise NotImplementedError

    def best_ask(self) -> tuple[int, int] | None:
        raise NotImplementedError

    def crossed(self) -> bool:
        bid, ask = self.best_bid(), self.best_ask()
        return bid is not None and ask is not None and bid[0] >= ask[0]

    def available(self, side: Side, limit_price: int) -> int:
        """Size you could ``side`` right now without going past ``limit_price``
        (buying walks asks <= limit, selling walks bids >= limit)."""
        total = 0
        if side is Side.BUY:
            for price, size in self.ask_levels():
                if price > limit_price:
                    break
                total += size
        else:
            for price, size in self.bid_levels():
                if price < limit_price:
                    break
                total += size
        return total

    def sweep(self, side: Side, size: int, limit_price: int | None = None) -> tuple[int, int]:
        """Walk the book to ``side`` up to ``size`` (and not past ``limit_price``).

        Returns ``(filled_size, cash)``: cash in 1e-6 USD, rounded against us (up when
        buying, down when selling), so an edge computed from it is never optimistic.
        """
        raw = 0  # in 1e-12 USD, exact
        left = size
        if side is Side.BUY:
            levels = self.ask_levels()
            for price, avail in levels:
                if left <= 0 or (limit_price is not None and price > limit_price):
                    break
                take = avail if avail < left else left
                raw += price * take
                left -= take
            rounding = Rounding.CEIL
        else:
            levels = self.bid_levels()
            for price, avail in levels:
                if left <= 0 or (limit_price is not None and price < limit_price):
                    break
                take = avail if avail < left else left
                raw += price * take
                left -= take
            rounding = Rounding.FLOOR
        filled = size - left
        return filled, notional(raw, 1, rounding) if raw else 0

    def vwap(self, side: Side, size: int) -> int | None:
        """Average price (1e-6 units, rounded against us) to ``side`` exactly ``size``;
        None when the book is not deep enough."""
        filled, cash = self.sweep(side, size)
        if filled < size or size <= 0:
            return None
        q, r = divmod(cash * _SCALE, size)
        return q + 1 if r and side is Side.BUY else q

    def top(self, depth: int = 5) -> TopOfBook:
        """An immutable top-of-book with up to ``depth`` levels per side."""
        return _top_of_book(
            self.instrument,
            _take(self.bid_levels(), depth),
            _take(self.ask_levels(), depth),
            self._stale_reason(),
            self._venue_ts_ms(),
            self._recv_ns(),
            self._version(),
        )

    def _stale_reason(self) -> str:
        raise NotImplementedError

    def _venue_ts_ms(self) -> int:
        raise NotImplementedError

    def _recv_ns(self) -> int:
        raise NotImplementedError

    def _version(self) -> int:
        raise NotImplementedError


def _top_of_book(
    instrument: InstrumentId,
    bids: tuple[Level, ...],
    asks: tuple[Level, ...],
    stale_reason: str,
    venue_ts_ms: int,
    recv_ns: int,
    version: int,
) -> TopOfBook:
    """The snapshot of a book's best levels; a crossed book is stale ("crossed")."""
    bid = bids[0] if bids else _EMPTY
    ask = asks[0] if asks else _EMPTY
    if not stale_reason and bids and asks and bid.price >= ask.price:
        stale_reason = "crossed"
    return TopOfBook(
        instrument=instrument,
        bid=bid.price,
        bid_size=bid.size,
        ask=ask.price,
        ask_size=ask.size,
        bids=bids,
        asks=asks,
        venue_ts_ms=venue_ts_ms,
        recv_ns=recv_ns,
        version=version,
        stale=bool(stale_reason),
        stale_reason=stale_reason,
    )


def _take(levels: Iterator[tuple[int, int]], depth: int) -> tuple[Level, ...]:
    out: list[Level] = []
    for price, size in levels:
        if len(out) >= depth:
            break
        out.append(Level(price, size))
    return tuple(out)


class L2Book(BookView):
    """A mutable L2 book for one instrument. Owned by one actor (the quote cache)."""

    __slots__ = (
        "asks",
        "bids",
        "instrument",
        "recv_ns",
        "stale_reason",
        "tick_size",
        "venue_ts_ms",
        "version",
    )

    def __init__(self, instrument: InstrumentId) -> None:
        self.instrument = instrument
        self.bids = Ladder(1)
        self.asks = Ladder(-1)
        # A new book is stale until its first snapshot: it has never been complete.
        self.stale_reason: str = "no snapshot yet"
        self.version = 0
        self.venue_ts_ms = 0
        self.recv_ns = 0
        self.tick_size = 0

    @property
    def stale(self) -> bool:
        return bool(self.stale_reason)

    def mark_stale(self, reason: str) -> None:
        """Latch staleness (first reason wins) until the next snapshot."""
        if not self.stale_reason:
            self.stale_reason = reason

    def apply_snapshot(self, snap: BookSnapshot) -> None:
        self.bids.load(snap.bids)
        self.asks.load(snap.asks)
        self.stale_reason = ""
        self.venue_ts_ms = snap.venue_ts_ms
        self.recv_ns = snap.recv_ns
        if snap.tick_size:
            self.tick_size = snap.tick_size
        self.version += 1

    def apply_delta(self, delta: BookDelta) -> bool:
        """Apply one level change; False (and the book marked stale) if it was invalid."""
        ladder = self.bids if delta.side is BookSide.BID else self.asks
        self.version += 1
        if delta.venue_ts_ms:
            self.venue_ts_ms = delta.venue_ts_ms
        self.recv_ns = delta.recv_ns
        if delta.increment:
            if ladder.add(delta.price, delta.size) < 0:
                self.mark_stale(f"negative level at {delta.side} {delta.price}")
                return False
            return True
        if delta.size < 0:
            self.mark_stale(f"negative absolute size at {delta.side} {delta.price}")
            return False
        ladder.set(delta.price, delta.size)
        return True

    def top(self, depth: int = 5) -> TopOfBook:
        """:meth:`BookView.top` from the ladders' cached level tuples (same result)."""
        return _top_of_book(
            self.instrument,
            self.bids.top_levels(depth),
            self.asks.top_levels(depth),
            self.stale_reason,
            self.venue_ts_ms,
            self.recv_ns,
            self.version,
        )

    def apply(self, msg: BookSnapshot | BookDelta) -> bool:
        if isinstance(msg, BookSnapshot):
            self.apply_snapshot(msg)
            return True
        return self.apply_delta(msg)

    def bid_levels(self) -> Iterator[tuple[int, int]]:
        return self.bids.levels()

    def ask_levels(self) -> Iterator[tuple[int, int]]:
        return self.asks.levels()

    def best_bid(self) -> tuple[int, int] | None:
        keys = self.bids.keys
        if not keys:
            return None
        key = keys[-1]
        return key, self.bids.sizes[key]

    def best_ask(self) -> tuple[int, int] | None:
        keys = self.asks.keys
        if not keys:
            return None
        key = keys[-1]
        return -key, self.asks.sizes[key]

    def _stale_reason(self) -> str:
        return self.stale_reason

    def _venue_ts_ms(self) -> int:
        return self.venue_ts_ms

    def _recv_ns(self) -> int:
        return self.recv_ns

    def _version(self) -> int:
        return self.version


class MirrorView(BookView):
    """The complementary outcome's view of a book: its bids are the book's asks at 1 - p
    and its asks are the book's bids at 1 - p. Reads through; never stale on its own."""

    __slots__ = ("book", "instrument")

    def __init__(self, book: L2Book, instrument: InstrumentId) -> None:
        self.book = book
        self.instrument = instrument

    def bid_levels(self) -> Iterator[tuple[int, int]]:
        return ((PRICE_ONE - p, s) for p, s in self.book.ask_levels())

    def ask_levels(self) -> Iterator[tuple[int, int]]:
        return ((PRICE_ONE - p, s) for p, s in self.book.bid_levels())

    def best_bid(self) -> tuple[int, int] | None:
        ask = self.book.best_ask()
        return None if ask is None else (PRICE_ONE - ask[0], ask[1])

    def best_ask(self) -> tuple[int, int] | None:
        bid = self.book.best_bid()
        return None if bid is None else (PRICE_ONE - bid[0], bid[1])

    def _stale_reason(self) -> str:
        return self.book.stale_reason

    def _venue_ts_ms(self) -> int:
        return self.book.venue_ts_ms

    def _recv_ns(self) -> int:
        return self.book.recv_ns

    def _version(self) -> int:
        return self.book.version


def mirror(book: L2Book, instrument: InstrumentId | None = None) -> MirrorView:
    """View ``book`` from the other outcome (YES <-> NO). ``instrument`` names the other
    side; by default the same symbol with the outcome flipped (None stays None)."""
    if instrument is None:
        inst = book.instrument
        flipped = None
        if inst.outcome is not None:
            flipped = Outcome.NO if inst.outcome is Outcome.YES else Outcome.YES
        instrument = InstrumentId(venue=inst.venue, symbol=inst.symbol, outcome=flipped)
    return MirrorView(book, instrument)
