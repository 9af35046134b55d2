from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.book import BookView, L2Book, mirror
from protocols.fixed import PRICE_ONE
from protocols.messages import (
    BookDelta,
    BookSide,
    BookSnapshot,
    InstrumentId,
    Level,
    Outcome,
    Side,
    Venue,
)

YES = InstrumentId(venue=Venue.POLYMARKET, symbol="tok-yes", outcome=Outcome.YES)


def snap(bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> BookSnapshot:
    return BookSnapshot(
        instrument=YES,
        bids=tuple(Level(p, s) for p, s in bids),
        asks=tuple(Level(p, s) for p, s in asks),
        venue_ts_ms=1,
        recv_ns=1,
    )


def delta(side: BookSide, price: int, size: int, increment: bool = False) -> BookDelta:
    return BookDelta(
        instrument=YES,
        side=side,
        price=price,
        size=size,
        increment=increment,
        venue_ts_ms=2,
        recv_ns=2,
    )


def book_with(bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> L2Book:
    book = L2Book(YES)
    book.apply_snapshot(snap(bids, asks))
    return book


def test_new_book_is_stale_until_snapshot() -> None:
    book = L2Book(YES)
    assert book.stale
    book.apply_snapshot(snap([(400_000, 10)], []))
    assert not book.stale


def test_best_levels_and_absolute_updates() -> None:
    book = book_with([(300_000, 5), (330_000, 7)], [(400_000, 3), (360_000, 1)])
    assert book.best_bid() == (330_000, 7)
    assert book.best_ask() == (360_000, 1)
    book.apply_delta(delta(BookSide.BID, 340_000, 9))
    assert book.best_bid() == (340_000, 9)
    book.apply_delta(delta(BookSide.ASK, 360_000, 0))
    assert book.best_ask() == (400_000, 3)
    book.apply_delta(delta(BookSide.ASK, 999_000, 0))  # removing a missing level is a no-op
    assert len(book.asks) == 1


def test_increment_to_negative_marks_stale_until_snapshot() -> None:
    book = book_with([(300_000, 5)], [])
    assert book.apply_delta(delta(BookSide.BID, 300_000, -2, increment=True))
    assert book.best_bid() == (300_000, 3)
    assert not book.apply_delta(delta(BookSide.BID, 300_000, -4, increment=True))
    assert book.stale_reason.startswith("negative level")
    assert book.best_bid() == (300_000, 3)  # the bad delta was not applied
    book.apply_snapshot(snap([(300_000, 1)], []))
    assert book.stale_reason == ""


def test_mark_stale_keeps_first_reason() -> None:
    book = book_with([], [])
    book.mark_stale("seq gap")
    book.mark_stale("hash mismatch")
    assert book.stale_reason == "seq gap"


def test_available_and_sweep() -> None:
    one = 1_000_000
    book = book_with(
        [(300_000, 10 * one), (290_000, 5 * one)],
        [(400_000, 2 * one), (420_000, 3 * one), (500_000, 100 * one)],
    )
    assert book.available(Side.BUY, 420_000) == 5 * one
    assert book.available(Side.SELL, 295_000) == 10 * one
    filled, cost = book.sweep(Side.BUY, 4 * one)
    assert filled == 4 * one
    assert cost == 2 * 400_000 + 2 * 420_000  # $0.80 + $0.84, in 1e-6 USD
    filled, cost = book.sweep(Side.BUY, 10 * one, limit_price=420_000)
    assert filled == 5 * one
    assert book.vwap(Side.BUY, 4 * one) == 410_000
    assert book.vwap(Side.SELL, 1000 * one) is None


def test_sweep_rounds_against_the_trader() -> None:
    book = book_with([(333_333, 1)], [(333_333, 1)])
    assert book.sweep(Side.BUY, 1) == (1, 1)  # 0.333333e-6 USD rounds up
    assert book.sweep(Side.SELL, 1) == (1, 0)  # and down when receiving


def test_mirror_view() -> None:
    book = book_with([(300_000, 10), (310_000, 4)], [(400_000, 2)])
    no = mirror(book)
    assert no.instrument.outcome is Outcome.NO
    assert no.best_bid() == (600_000, 2)
    assert no.best_ask() == (690_000, 4)
    assert list(no.ask_levels()) == [(690_000, 4), (700_000, 10)]
    top = no.top(depth=1)
    assert (top.bid, top.ask, len(top.asks)) == (600_000, 690_000, 1)


def test_top_reports_crossed_without_latching() -> None:
    book = book_with([(500_000, 1)], [(600_000, 1)])
    book.apply_delta(delta(BookSide.BID, 600_000, 1))
    assert book.crossed()
    assert book.top().stale_reason == "crossed"
    book.apply_delta(delta(BookSide.BID, 600_000, 0))
    assert not book.top().stale
    assert not book.stale


def test_top_of_empty_side() -> None:
    top = book_with([(500_000, 1)], []).top()
    assert (top.ask, top.ask_size, top.asks) == (0, 0, ())


# --------------------------------------------------------- property test vs a naive book

prices = st.integers(1, PRICE_ONE - 1).map(lambda p: p - p % 1000)
ops = st.lists(
    st.tuples(
        st.sampled_from([BookSide.BID, BookSide.ASK]),
        prices,
        st.integers(-50, 100),
        st.booleans(),
    ),
    max_size=60,
)


class NaiveBook:
    def __init__(self) -> None:
        self.side: dict[BookSide, dict[int, int]] = {BookSide.BID: {}, BookSide.ASK: {}}
        self.stale = False

    def apply(self, side: BookSide, price: int, size: int, increment: bool) -> None:
        levels = self.side[side]
        new = levels.get(price, 0) + size if increment else size
        if new < 0:
            self.stale = True
            return
        if new == 0:
            levels.pop(price, None)
        else:
            levels[price] = new

    def bids(self) -> list[tuple[int, int]]:
        return sorted(self.side[BookSide.BID].items(), reverse=True)

    def asks(self) -> list[tuple[int, int]]:
        return sorted(self.side[BookSide.ASK].items())


@settings(max_examples=300, derandomize=True)
@given(ops, st.integers(0, 10**9))
def test_book_matches_naive_reference(
    operations: list[tuple[BookSide, int, int, bool]], want: int
) -> None:
    book = book_with([], [])
    ref = NaiveBook()
    for side, price, size, increment in operations:
        ref.apply(side, price, size, increment)
        book.apply_delta(delta(side, price, size, increment))
    assert list(book.bid_levels()) == ref.bids()
    assert list(book.ask_levels()) == ref.asks()
    assert book.stale == ref.stale
    assert book.best_bid() == (ref.bids()[0] if ref.bids() else None)
    assert book.best_ask() == (ref.asks()[0] if ref.asks() else None)
    # depth walk vs naive
    raw, left = 0, want
    for p, s in ref.asks():
        take = min(s, left)
        raw += p * take
        left -= take
    filled, cost = book.sweep(Side.BUY, want)
    assert filled == want - left
    assert cost == -(-raw // 1_000_000)


_prices = st.integers(min_value=1, max_value=99).map(lambda p: p * 10_000)
_ops = st.lists(
    st.tuples(
        st.sampled_from([BookSide.BID, BookSide.ASK]),
        _prices,
        st.integers(min_value=-3, max_value=5),
        st.booleans(),
        st.booleans(),  # publish (build the top) after this op
    ),
    max_size=80,
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(ops=_ops, depth=st.integers(min_value=0, max_value=6))
def test_cached_top_equals_the_generic_top_after_random_updates(
    ops: list[tuple[BookSide, int, int, bool, bool]], depth: int
) -> None:
    """L2Book.top reuses each side's level tuple until that side changes; it must equal
    the generic BookView.top (built from the iterators) at every publish."""
    book = L2Book(YES)
    assert book.top(depth) == BookView.top(book, depth)
    book.apply_snapshot(snap([(400_000, 5)], [(600_000, 5)]))
    for side, price, size, increment, publish in ops:
        book.apply_delta(delta(side, price, size, increment))
        if publish:
            assert book.top(depth) == BookView.top(book, depth)
    assert book.top(depth) == BookView.top(book, depth)
    assert book.top(depth + 1) == BookView.top(book, depth + 1)  # a different depth rebuilds
