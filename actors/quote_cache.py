"""The quote cache: owns every L2 book; cache-then-publish.

Input (BLOCK mailbox, batches): :class:`~protocols.messages.MarketDataBatch` and
:class:`~actors.feeds.messages.MarkStale` from the feeds. The actor drains whatever is
queued (one await, then ``receive_nowait``), applies it to its books, and only then
publishes, per instrument changed by the batch, one immutable
:class:`~protocols.messages.TopOfBook` (top + ``depth_levels`` levels, stale flag and
reason) into a COALESCE mailbox keyed by instrument: a slow detector only ever sees the
latest state of each book and the cache never waits for it.

Staleness: a timer task sweeps the books every ``sweep_interval_s`` (never on the write
path); a book not updated for ``staleness_limit_s`` is marked stale and republished, so the
detector excludes it. Only a fresh snapshot clears staleness (see :mod:`protocols.book`).

A delta for a book that never had a snapshot (new subscription, or after this actor
restarted and lost its books) leaves the book stale; the cache asks the owning feed for a
resync through its ``ResyncRequest`` mailbox (at most once per second per instrument).

Reads for the inspector and the executor's paper fills go through :class:`QuoteReader`, a
read-only accessor that always points at the live incarnation's books. Trio runs
everything on one thread, so a caller that does not await between reading a view and
using it sees one consistent state.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
import msgspec
import trio

from actors.feeds.messages import FeedMessage, FeedOutput, MarkStale, ResyncRequest
from protocols.book import BookView, L2Book, mirror
from protocols.config.market import QuoteCacheConfig
from protocols.messages import (
    BookDelta,
    BookSnapshot,
    InstrumentId,
    Level,
    MarketDataBatch,
    Outcome,
    TickSizeChange,
    TopOfBook,
    Venue,
    VenueQuote,
)
from supervision import Actor, ActorContext, Mailbox, OverflowPolicy, serve_inbox

if TYPE_CHECKING:
    from actors.observability.metrics import Metrics

BookKey = tuple[Venue, str]
RESYNC_REQUEST_INTERVAL_S = 1.0


def top_key(top: TopOfBook) -> BookKey:
    """The COALESCE key of the cache -> detector mailbox."""
    return (top.instrument.venue, top.instrument.symbol)


def publish_mailbox(config: QuoteCacheConfig, name: str = "market/detector") -> Mailbox[TopOfBook]:
    """quote_cache -> detector: COALESCE latest per instrument."""
    return Mailbox(name, config.publish_capacity, OverflowPolicy.COALESCE, key=top_key)


def inbox_mailbox(config: QuoteCacheConfig, name: str = "market/quote_cache") -> Mailbox[Any]:
    """feeds -> quote_cache: BLOCK (deltas are never dropped), batches."""
    return Mailbox(name, config.inbox_capacity, OverflowPolicy.BLOCK)


class CacheStats(msgspec.Struct, frozen=True, kw_only=True):
    """The quote cache's counters at one moment (``QuoteReader.statistics()``)."""

    batches: int  # batches taken from the feeds
    updates: int  # snapshots and deltas in them
    published: int  # top-of-book changes sent to the detector
    snapshots: int
    deltas: int
    invalid_deltas: int  # deltas the book refused (the book is marked stale)
    stale_marks: int  # books marked stale on a feed's word
    stale_by_age: int  # books marked stale for want of updates
    resync_requests: int  # resyncs asked of the feeds


@attrs.define(eq=False)
class CacheCounters:
    """The cache's counters, counted as it goes (one set per incarnation's store)."""

    batches: int = 0
    updates: int = 0
    published: int = 0
    snapshots: int = 0
    deltas: int = 0
    invalid_deltas: int = 0
    stale_marks: int = 0
    stale_by_age: int = 0
    resync_requests: int = 0


class BookStore:
    """One incarnation's books, by ``(venue, symbol)``."""

    __slots__ = ("books", "stats", "touched")

    def __init__(self) -> None:
        self.books: dict[BookKey, L2Book] = {}
        self.touched: dict[BookKey, float] = {}  # trio time of the last change
        self.stats = CacheCounters()


@attrs.define(eq=False)
class QuoteReader:
    """Read-only access to the live quote cache's books (survives cache restarts)."""

    store: BookStore | None = None
    depth: int = 10

    def book(self, instrument: InstrumentId) -> BookView | None:
        """The book to trade ``instrument`` against, from that outcome's point of view
        (a Kalshi NO instrument gets the mirrored view of the ticker's YES book)."""
        if self.store is None:
            return None
        b = self.store.books.get((instrument.venue, instrument.symbol))
        if b is None:
            return None
        if instrument.venue is Venue.KALSHI and instrument.outcome is Outcome.NO:
            return mirror(b, instrument)
        return b

    def top(self, venue: Venue, symbol: str) -> TopOfBook | None:
        if self.store is None:
            return None
        b = self.store.books.get((venue, symbol))
        return None if b is None else b.top(self.depth)

    def version(self, venue: Venue, symbol: str) -> int:
        if self.store is None:
            return -1
        b = self.store.books.get((venue, symbol))
        return -1 if b is None else b.version

    def instruments(self) -> list[InstrumentId]:
        return [] if self.store is None else [b.instrument for b in self.store.books.values()]

    def statistics(self) -> CacheStats | None:
        """The running cache's counters now; None before it has started."""
        if self.store is None:
            return None
        return CacheStats(**attrs.asdict(self.store.stats))


@attrs.define(eq=False)
class QuoteCache(Actor):
    """See the module docstring. ``resync`` maps a venue to its feed's resync mailbox."""

    config: QuoteCacheConfig
    inbox: Mailbox[FeedMessage]
    publish: Mailbox[TopOfBook]
    reader: QuoteReader = attrs.field(factory=QuoteReader)
    resync: Mapping[Venue, Mailbox[ResyncRequest]] = attrs.field(factory=dict)
    metrics: Metrics | None = None
    max_batch: int = 1024
    _store: BookStore = attrs.field(init=False, factory=BookStore)
    _last_resync: dict[BookKey, float] = attrs.field(init=False, factory=dict)

    async def run(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        self.reader.store = self._store
        self.reader.depth = self.config.depth_levels
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._sweeper, ctx)
            task_status.started()
            await self._serve(ctx)

    # ----------------------------------------------------------------- hot path

    async def _serve(self, ctx: ActorContext) -> None:
        def handle(msg: FeedMessage) -> None:  # direct: in the feed's step
            items = list(msg) if isinstance(msg, tuple) else [msg]
            self.publish_changed(self.apply(items, trio.current_time()))
            ctx.heartbeat()  # the task sleeps while every batch comes direct

        def handle_batch(batch: list[FeedMessage]) -> None:
            items: list[FeedOutput] = []
            for msg in batch:
                if isinstance(msg, tuple):
                    items.extend(msg)
                else:
                    items.append(msg)
            self.publish_changed(self.apply(items, trio.current_time()))

        await serve_inbox(
            self.inbox,
            handle,
            handle_batch=handle_batch,
            after_batch=ctx.heartbeat,
            direct=self.config.direct,
            max_batch=self.max_batch,
        )

    def apply(self, items: list[FeedOutput], now: float) -> dict[BookKey, L2Book]:
        """Apply queued feed output; returns the books that changed (in first-change order)."""
        store = self._store
        books = store.books
        stats = store.stats
        changed: dict[BookKey, L2Book] = {}
        for item in items:
            if type(item) is MarkStale:
                self._mark(item, changed)
                continue
            assert isinstance(item, MarketDataBatch)
            stats.batches += 1
            stats.updates += len(item.updates)
            for u in item.updates:
                tu = type(u)
                if tu is BookDelta:
                    assert isinstance(u, BookDelta)
                    key = (u.instrument.venue, u.instrument.symbol)
                    book = books.get(key)
                    if book is None:
                        book = books[key] = L2Book(u.instrument)
                    stats.deltas += 1
                    if not book.apply_delta(u):
                        stats.invalid_deltas += 1
                    if book.stale_reason:
                        # No snapshot yet (e.g. this cache restarted), a negative level or an
                        # age mark: only a fresh snapshot can clear it. Ask the feed.
                        self._request_resync(book, now)
                    changed[key] = book
                elif tu is BookSnapshot:
                    assert isinstance(u, BookSnapshot)
                    key = (u.instrument.venue, u.instrument.symbol)
                    book = books.get(key)
                    if book is None:
                        book = books[key] = L2Book(u.instrument)
                    book.apply_snapshot(u)
                    stats.snapshots += 1
                    changed[key] = book
                elif tu is VenueQuote:
                    assert isinstance(u, VenueQuote)
                    if u.instrument.venue is Venue.BINANCE:  # reference price: top only
                        key = (u.instrument.venue, u.instrument.symbol)
                        book = books.get(key)
                        if book is None:
                            book = books[key] = L2Book(u.instrument)
                        book.apply_snapshot(_quote_snapshot(u))
                        changed[key] = book
                elif tu is TickSizeChange:
                    assert isinstance(u, TickSizeChange)
                    book = books.get((u.instrument.venue, u.instrument.symbol))
                    if book is not None:
                        book.tick_size = u.tick_size
                # Trades and venue-stated tops are not book data: ignored here.
        touched = store.touched
        for key in changed:
            touched[key] = now
        return changed

    def publish_changed(self, changed: dict[BookKey, L2Book]) -> None:
        depth = self.config.depth_levels
        send = self.publish.send_nowait
        for book in changed.values():
            # COALESCE never blocks unless more distinct instruments are pending than its
            # capacity; size publish_capacity above the number of instruments.
            send(book.top(depth))
        self._store.stats.published += len(changed)

    def _mark(self, item: MarkStale, changed: dict[BookKey, L2Book]) -> None:
        books = self._store.books
        self._store.stats.stale_marks += 1
        if item.instruments:
            keys = [(i.venue, i.symbol) for i in item.instruments]
        else:
            keys = [k for k in books if k[0] is item.venue]
        for key in keys:
            book = books.get(key)
            if book is not None:
                book.mark_stale(item.reason)
                changed[key] = book

    def _request_resync(self, book: L2Book, now: float) -> None:
        key = (book.instrument.venue, book.instrument.symbol)
        last = self._last_resync.get(key)
        if last is not None and now - last < RESYNC_REQUEST_INTERVAL_S:
            return
        box = self.resync.get(book.instrument.venue)
        if box is None:
            return
        self._last_resync[key] = now
        self._store.stats.resync_requests += 1
        # A full mailbox means the feed has plenty queued already; a later delta asks again.
        with contextlib.suppress(trio.WouldBlock):
            box.send_nowait(ResyncRequest(instrument=book.instrument, reason=book.stale_reason))

    # ------------------------------------------------------------- staleness sweep

    async def _sweeper(self, ctx: ActorContext) -> None:
        interval = self.config.sweep_interval_s
        while True:
            await trio.sleep(interval)
            self.sweep(trio.current_time())

    def sweep(self, now: float) -> int:
        """Mark books not updated for ``staleness_limit_s`` stale and publish them."""
        limit = self.config.staleness_limit_s
        store = self._store
        changed: dict[BookKey, L2Book] = {}
        for key, at in store.touched.items():
            if now - at > limit:
                book = store.books[key]
                if not book.stale:
                    book.mark_stale(f"no update for {limit:g}s")
                    store.stats.stale_by_age += 1
                    changed[key] = book
        if changed:
            self.publish_changed(changed)
        if self.metrics is not None:
            per_venue: dict[Venue, int] = {}
            for (venue, _), book in store.books.items():
                per_venue[venue] = per_venue.get(venue, 0) + (1 if book.stale else 0)
            for venue, n in per_venue.items():
                self.metrics.books_stale.labels(venue.value).set(n)
        return len(changed)


def _quote_snapshot(q: VenueQuote) -> BookSnapshot:
    bids = (Level(q.bid, q.bid_size),) if q.bid_size > 0 else ()
    asks = (Level(q.ask, q.ask_size),) if q.ask_size > 0 else ()
    return BookSnapshot(
        instrument=q.instrument,
        bids=bids,
        asks=asks,
        venue_ts_ms=q.venue_ts_ms,
        recv_ns=q.recv_ns,
    )


def monotonic_ns() -> int:
    return time.monotonic_ns()
