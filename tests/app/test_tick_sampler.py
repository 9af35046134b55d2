"""Sampled ticks: one record per changed book per interval, read off the cache's books."""

from __future__ import annotations

from typing import Any

from actors.quote_cache import BookStore, QuoteReader
from actors.tick_sampler import TickSampler
from protocols.book import L2Book
from protocols.messages import (
    BookDelta,
    BookSide,
    BookSnapshot,
    InstrumentId,
    Level,
    Outcome,
    TickRecord,
    Venue,
)

KX = InstrumentId(venue=Venue.KALSHI, symbol="KX", outcome=Outcome.YES)


def _store() -> tuple[BookStore, L2Book]:
    store = BookStore()
    book = L2Book(KX)
    book.apply_snapshot(
        BookSnapshot(
            instrument=KX,
            bids=(Level(400_000, 5_000_000),),
            asks=(Level(450_000, 7_000_000),),
            venue_ts_ms=1_000,
            recv_ns=11,
        )
    )
    store.books[(Venue.KALSHI, "KX")] = book
    return store, book


def test_only_changed_books_are_sampled() -> None:
    store, book = _store()
    records: list[Any] = []
    sampler = TickSampler(reader=QuoteReader(store=store), sink=records.append)
    assert sampler.sample() == 1
    tick = records[0]
    assert isinstance(tick, TickRecord)
    assert (tick.bid, tick.bid_size, tick.ask, tick.ask_size) == (
        400_000,
        5_000_000,
        450_000,
        7_000_000,
    )
    assert (tick.venue_ts_ms, tick.recv_ns) == (1_000, 11)
    assert sampler.sample() == 0  # unchanged: nothing written
    book.apply_delta(
        BookDelta(
            instrument=KX,
            side=BookSide.BID,
            price=410_000,
            size=1_000_000,
            venue_ts_ms=2_000,
            recv_ns=22,
            increment=True,
        )
    )
    assert sampler.sample() == 1
    assert records[-1].bid == 410_000


def test_no_cache_yet_samples_nothing() -> None:
    records: list[Any] = []
    assert TickSampler(reader=QuoteReader(), sink=records.append).sample() == 0
    assert records == []
