"""The feed's cached Polymarket book hash equals the from-scratch hash
(docs/protocols.md, "Polymarket market channel")."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.book import L2Book
from protocols.messages import BookDelta, BookSide, BookSnapshot, InstrumentId, Level, Venue
from protocols.venues import polymarket as pm
from tests.protocols.helpers import frames

MARKET = frames("polymarket_market")
INST = InstrumentId(venue=Venue.POLYMARKET, symbol="123456789")

prices = st.integers(min_value=1, max_value=999).map(lambda p: p * 1_000)
positive = st.one_of(
    st.integers(min_value=1, max_value=10**12),  # any 1e-6 size: 6 decimals, trimmed
    st.integers(min_value=1, max_value=1_000).map(lambda s: s * 1_000_000),  # whole shares
)
sizes = st.one_of(st.just(0), positive)  # 0 removes the level
levels = st.lists(st.tuples(prices, positive), max_size=25, unique_by=lambda t: t[0])
op = st.tuples(st.sampled_from([BookSide.BID, BookSide.ASK]), prices, sizes)


def _meta() -> pm.AssetMeta:
    meta = pm.AssetMeta()
    meta.market = "0xabc"
    meta.tick_size = "0.001"
    meta.last_trade_price = "0.5"
    return meta


def _snapshot(bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> BookSnapshot:
    return BookSnapshot(
        instrument=INST,
        venue_ts_ms=1,
        recv_ns=1,
        bids=tuple(Level(p, s) for p, s in sorted(bids, reverse=True)),
        asks=tuple(Level(p, s) for p, s in sorted(asks)),
    )


def _both(book: pm.HashedBook, ts: int, neg_risk: bool) -> tuple[str, str]:
    meta = _meta()
    return (
        pm.cached_book_state_hash(book, meta, ts, neg_risk),
        pm.book_state_hash(book, meta, ts, neg_risk),
    )


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    bids=levels,
    asks=levels,
    ops=st.lists(op, max_size=60),
    neg_risk=st.booleans(),
    check_every=st.integers(min_value=1, max_value=7),
)
def test_cached_hash_equals_from_scratch_after_random_updates(
    bids: list[tuple[int, int]],
    asks: list[tuple[int, int]],
    ops: list[tuple[BookSide, int, int]],
    neg_risk: bool,
    check_every: int,
) -> None:
    book = pm.HashedBook(INST)
    cached, scratch = _both(book, 0, neg_risk)  # empty book, before any snapshot
    assert cached == scratch
    book.apply_snapshot(_snapshot(bids, asks))
    cached, scratch = _both(book, 1, neg_risk)
    assert cached == scratch
    for i, (side, price, size) in enumerate(ops):
        book.apply_delta(
            BookDelta(
                instrument=INST, side=side, price=price, size=size, venue_ts_ms=2 + i, recv_ns=2
            )
        )
        if i % check_every == 0:  # cached joins are reused between checks
            cached, scratch = _both(book, 2 + i, neg_risk)
            assert cached == scratch
    cached, scratch = _both(book, 99, neg_risk)
    assert cached == scratch
    # a plain L2Book with the same content hashes the same
    plain = L2Book(INST)
    plain.apply_snapshot(_snapshot(list(book.bid_levels()), list(book.ask_levels())))
    assert pm.book_state_hash(plain, _meta(), 99, neg_risk) == cached


def test_hashed_book_verifies_real_price_changes() -> None:
    """The captured frames (their hashes verified) check out through the cached path."""
    dec = pm.MarketDecoder()
    books: dict[InstrumentId, pm.HashedBook] = {}
    verdicts = []
    for frame in MARKET[5:9]:
        for msg in dec.decode(frame, 1):
            if isinstance(msg, BookSnapshot):
                books.setdefault(msg.instrument, pm.HashedBook(msg.instrument)).apply_snapshot(msg)
            elif isinstance(msg, BookDelta):
                book = books[msg.instrument]
                book.apply_delta(msg)
                verdicts.append(pm.check_delta_hash(book, dec.meta(msg.instrument.symbol), msg))
    assert verdicts == [True, True, True]


def test_hashed_book_detects_a_wrong_hash() -> None:
    dec = pm.MarketDecoder()
    (snap,) = dec.decode(MARKET[6], 1)
    assert isinstance(snap, BookSnapshot)
    book = pm.HashedBook(snap.instrument)
    book.apply_snapshot(snap)
    (d,) = dec.decode(MARKET[11], 1)
    assert isinstance(d, BookDelta)
    book.apply_delta(d)
    assert pm.check_delta_hash(book, dec.meta(d.instrument.symbol), d) is False


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    market=st.text(max_size=20),
    ltp=st.text(max_size=8),
    mos=st.text(max_size=4),
    tick=st.text(min_size=1, max_size=6),
    neg_risk=st.booleans(),
)
def test_cached_hash_encodes_meta_strings_like_the_reference(
    market: str, ltp: str, mos: str, tick: str, neg_risk: bool
) -> None:
    """Pre-encoded meta pieces are JSON-escaped exactly as the reference encoding."""
    meta = pm.AssetMeta()
    meta.market, meta.last_trade_price, meta.min_order_size, meta.tick_size = market, ltp, mos, tick
    book = pm.HashedBook(INST)
    book.apply_snapshot(_snapshot([(400_000, 5_000_000)], [(600_000, 1)]))
    assert pm.cached_book_state_hash(book, meta, 7, neg_risk) == pm.book_state_hash(
        book, meta, 7, neg_risk
    )
