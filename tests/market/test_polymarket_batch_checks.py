"""The Polymarket feed checks each token's hash once per drained batch, on its final state."""

from __future__ import annotations

from typing import Any

import msgspec

from actors.feeds.base import FeedStats, Session
from actors.feeds.messages import MarkStale
from actors.feeds.polymarket import PolymarketAdapter
from bench.market_frames import scenario_frames
from protocols.config.market import FeedConfig
from protocols.messages import Venue
from protocols.venues.polymarket import MarketDecoder


class _Feed:
    """What a Session reads of its feed."""

    def __init__(self, cfg: FeedConfig) -> None:
        self.config = cfg
        self.stats = FeedStats()


class _Socket:
    """What a Session writes to its websocket: the text frames it queued."""

    def __init__(self) -> None:
        self.sent: list[str | bytes] = []

    def send_text_nowait(self, text: str | bytes) -> None:
        self.sent.append(text)


def _frames(n: int) -> tuple[list[str], list[str]]:
    _, books, changes = scenario_frames(n, markets=2, seed=3)
    return books, changes


def _adapter(
    books: list[str], hash_check_interval_s: float = 0.1, threshold: int = 1
) -> tuple[PolymarketAdapter, Session]:
    assets = [msgspec.json.decode(b)["asset_id"] for b in books]
    cfg = FeedConfig(
        name="polymarket",
        venue=Venue.POLYMARKET,
        url="ws://127.0.0.1:9",
        instruments=assets,
        hash_mismatch_threshold=threshold,
        hash_check_interval_s=hash_check_interval_s,
    )
    session = Session(_Feed(cfg), _Socket())  # type: ignore[arg-type]  # records frames
    adapter = PolymarketAdapter(session)
    for b in books:
        adapter.handle(b.encode(), 0, 0.0)
    adapter.end_batch(0.0)
    adapter.after_batch(0.0)
    return adapter, session


def _hashed_tokens(frames: list[str]) -> set[str]:
    dec = MarketDecoder()
    out: set[str] = set()
    for f in frames:
        for m in dec.decode(f, 0):
            if getattr(m, "hash", ""):
                out.add(m.instrument.symbol)
    return out


def _corrupt_last_hashes(frames: list[str]) -> None:
    """The last frame's entries claim a wrong hash."""
    last: Any = msgspec.json.decode(frames[-1])
    for entry in last["price_changes"]:
        entry["hash"] = "0" * 40
    frames[-1] = msgspec.json.encode(last).decode()


async def test_one_hash_check_per_token_per_batch() -> None:
    books, frames = _frames(12)
    adapter, session = _adapter(books)
    for f in frames:
        adapter.handle(f.encode(), 0, 0.0)
    adapter.end_batch(0.0)
    stats = session.stats
    assert stats.hash_checks == len(_hashed_tokens(frames)) > 0  # not one per frame
    assert stats.hash_mismatches == 0
    assert not any(isinstance(o, MarkStale) for o in session.out)


async def test_wrong_final_hash_is_caught_and_marks_stale() -> None:
    books, frames = _frames(6)
    adapter, session = _adapter(books)
    _corrupt_last_hashes(frames)
    for f in frames:
        adapter.handle(f.encode(), 0, 0.0)
    adapter.end_batch(0.0)
    assert session.stats.hash_mismatches >= 1
    stale = [o for o in session.out if isinstance(o, MarkStale)]
    assert stale
    assert "hash" in stale[0].reason
    # ...and the feed asked the venue again for a fresh book of that token.
    resubscribes = [msgspec.json.decode(f) for f in session.ws.sent]  # type: ignore[attr-defined]
    assert any(r.get("operation") == "subscribe" for r in resubscribes)


def _batches(adapter: PolymarketAdapter, frames: list[str], times: list[float]) -> None:
    """Handle ``frames`` as one batch per entry of ``times`` (split evenly)."""
    per = len(frames) // len(times)
    for i, now in enumerate(times):
        for f in frames[i * per : (i + 1) * per]:
            adapter.handle(f, 0, now)  # type: ignore[arg-type]
        adapter.end_batch(now)


async def test_a_token_is_hashed_at_most_once_per_interval() -> None:
    books, frames = _frames(40)
    adapter, session = _adapter(books, hash_check_interval_s=0.1)
    _batches(adapter, frames[:20], [0.0, 0.05])
    first = session.stats.hash_checks
    assert first == len(_hashed_tokens(frames[:10]))  # the second batch, 50 ms on: none
    _batches(adapter, frames[20:30], [0.1])  # the interval has passed for every token
    assert session.stats.hash_checks == first + len(_hashed_tokens(frames[20:30]))
    assert session.stats.hash_mismatches == 0


async def test_interval_zero_hashes_every_batch() -> None:
    books, frames = _frames(20)
    adapter, session = _adapter(books, hash_check_interval_s=0.0)
    _batches(adapter, frames, [0.0, 0.0])
    expected = len(_hashed_tokens(frames[:10])) + len(_hashed_tokens(frames[10:]))
    assert session.stats.hash_checks == expected


async def test_a_wrong_claimed_top_is_caught_every_batch_between_hash_checks() -> None:
    books, frames = _frames(12)
    adapter, session = _adapter(books, hash_check_interval_s=3600.0)
    _batches(adapter, frames[:6], [0.0])  # hashes checked once; next allowed in an hour
    hashed = session.stats.hash_checks
    last: Any = msgspec.json.decode(frames[-1])
    for entry in last["price_changes"]:
        entry["best_bid"] = "0.01"  # a top the shadow book does not have
    frames[-1] = msgspec.json.encode(last).decode()
    _batches(adapter, frames[6:], [1.0])
    assert session.stats.hash_checks == hashed  # no hash check in this batch...
    assert session.stats.top_mismatches >= 1  # ...the claimed top caught it
    stale = [o for o in session.out if isinstance(o, MarkStale)]
    assert stale
    assert "claimed top" in stale[0].reason


async def test_with_a_repeat_threshold_the_hash_is_checked_after_the_batch_went_on() -> None:
    """A mismatch must repeat before it acts (threshold 2): the claimed-top and hash
    checks run after the batch was handed on (``after_batch``), off the tick's way; the
    crossed check still runs before (``end_batch``)."""
    books, frames = _frames(6)
    adapter, session = _adapter(books, threshold=2)
    _corrupt_last_hashes(frames)
    for f in frames:
        adapter.handle(f.encode(), 0, 0.0)
    adapter.end_batch(0.0)
    assert session.stats.hash_checks == 0  # nothing hashed before the hand-off
    adapter.after_batch(0.0)
    assert session.stats.hash_checks == len(_hashed_tokens(frames)) > 0
    assert session.stats.hash_mismatches >= 1
    assert not any(isinstance(o, MarkStale) for o in session.out)  # not repeated yet
