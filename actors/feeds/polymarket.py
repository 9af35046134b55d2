"""Polymarket CLOB market channel adapter.

* Subscribe: ``{"assets_ids": [...], "type": "market", "initial_dump": true}``; a
  resubscribe/resync sends ``{"assets_ids": [...], "operation": "subscribe",
  "initial_dump": true}``, and the venue answers with a fresh ``book`` for each asset *in
  the stream*, so it is ordered with the deltas around it (docs/protocols.md, "Polymarket
  market channel").
* Keepalive: text ``PING`` every ``ping_interval_s``; the decoder counts ``PONG``s; no
  ``PONG`` within ``pong_timeout_s`` of a ``PING`` -> reconnect.
* Integrity (no sequence numbers on this venue): the feed keeps a shadow L2 book per
  token and, after each batch of frames, checks each token the batch touched on the
  state the batch leaves (what the cache will publish; the cache also applies the whole
  batch before it publishes):

  - every batch, cheap: a crossed book, and the venue's claimed best bid/ask on the
    token's last entry (``best_bid``/``best_ask``) against the shadow book's top;
  - the venue's hash of the whole book (SHA-1 over its JSON, far dearer than the top check) at most
    every ``hash_check_interval_s`` per token (0: every batch), so the thorough check
    does not sit on every tick's path to the detector; a divergence below the top is
    caught within that interval. A ``book`` frame's hash is checked by the decoder.

  ``hash_mismatch_threshold`` mismatches in a row (one can be benign:
  docs/protocols.md) or a
  crossed book mark the token stale in the cache and trigger a resync; checks are
  suspended for that token until its fresh book arrives.
"""

from __future__ import annotations

import msgspec
import trio

from actors.feeds.base import Session, VenueAdapter
from protocols.messages import BookDelta, BookSnapshot, InstrumentId, Venue
from protocols.venues.polymarket import (
    HashedBook,
    MarketDecoder,
    check_delta_hash,
    check_delta_top,
)

_ENC = msgspec.json.Encoder()


class PolymarketAdapter(VenueAdapter):
    venue = Venue.POLYMARKET
    text_ping = True

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.decoder = MarketDecoder()
        self.books: dict[str, HashedBook] = {}
        self.mismatches: dict[str, int] = {}
        self.resyncing: dict[str, float] = {}
        self.pongs_seen = 0
        # Books touched by the batch being handled, and per token its last delta (whose
        # hash and claimed top describe the state the batch leaves): see end_batch.
        self._touched: dict[str, HashedBook] = {}
        self._last_delta: dict[str, BookDelta] = {}
        self._next_hash_check: dict[str, float] = {}  # token -> earliest next hash check

    def subscribe(self) -> None:
        assets = list(self.session.cfg.instruments)
        msg = {"assets_ids": assets, "type": "market", "initial_dump": True}
        self.session.send_control(_ENC.encode(msg).decode())
        self.session.liveness.subscribed(assets, trio.current_time())

    def resubscribe(self, keys: tuple[str, ...], reason: str) -> None:
        msg = {"assets_ids": list(keys), "operation": "subscribe", "initial_dump": True}
        self.session.send_control(_ENC.encode(msg).decode())
        now = trio.current_time()
        for key in keys:
            self.resyncing[key] = now
        self.session.liveness.subscribed(keys, now)

    def resync(self, instrument: InstrumentId, reason: str) -> None:
        if instrument.symbol not in self.resyncing:
            self.resubscribe((instrument.symbol,), reason)

    def _start_resync(self, asset: str, inst: InstrumentId, reason: str) -> None:
        self.session.stats.count_resync(reason)
        self.session.mark_stale((inst,), reason)
        self.mismatches.pop(asset, None)
        self.resubscribe((asset,), reason)

    def handle(self, frame: bytes, recv_ns: int, now: float) -> int:
        s = self.session
        if frame == b"PONG":
            self.pongs_seen += 1
            s.text_ping_outstanding_since = None
            return 0
        msgs = self.decoder.decode(frame, recv_ns)
        if not msgs:
            return 0
        updates = s.updates
        books = self.books
        liveness = s.liveness
        check = s.cfg.verify_hashes
        last_delta = self._last_delta
        touched = self._touched
        for m in msgs:
            t = type(m)
            if t is BookDelta:
                assert isinstance(m, BookDelta)
                asset = m.instrument.symbol
                book = books.get(asset)
                if book is None:
                    book = books[asset] = HashedBook(m.instrument)
                book.apply_delta(m)
                touched[asset] = book
                last_delta[asset] = m
                liveness.last_data[asset] = now
            elif t is BookSnapshot:
                assert isinstance(m, BookSnapshot)
                asset = m.instrument.symbol
                book = books.get(asset)
                if book is None:
                    book = books[asset] = HashedBook(m.instrument)
                book.apply_snapshot(m)
                last_delta.pop(asset, None)  # the snapshot replaced what they described
                touched.pop(asset, None)
                self.resyncing.pop(asset, None)
                liveness.got_book(asset, now)
                if m.hash_ok is False and check:
                    s.stats.hash_mismatches += 1
                    self._mismatch(asset, m.instrument, "book hash mismatch")
                else:
                    self.mismatches.pop(asset, None)
            updates.append(m)
        return len(msgs)

    def end_batch(self, now: float) -> None:
        """Checks of the final state of each book the batch touched (a wrong intermediate
        state either persists into the final one or was overwritten), before the batch
        goes on: crossed (a resync, marked stale with the batch). The claimed top and the
        hash follow in :meth:`after_batch`, off the tick's way: a mismatch only counts
        until it repeats (``hash_mismatch_threshold``), unless that threshold is 1."""
        touched = self._touched
        if not touched:
            return
        for asset, book in touched.items():
            if asset not in self.resyncing and book.crossed():
                self._start_resync(asset, book.instrument, "crossed")
        if self.session.cfg.hash_mismatch_threshold <= 1:  # a mismatch acts at once
            self._verify(now)

    def after_batch(self, now: float) -> None:
        if self.session.cfg.hash_mismatch_threshold > 1:
            self._verify(now)

    def _verify(self, now: float) -> None:
        """Claimed top every batch, the hash when the token's interval has passed."""
        touched = self._touched
        if not touched:
            return
        s = self.session
        verify = s.cfg.verify_hashes
        interval = s.cfg.hash_check_interval_s
        last_delta = self._last_delta
        next_check = self._next_hash_check
        for asset, book in touched.items():
            if asset in self.resyncing:
                continue
            delta = last_delta.get(asset)
            if delta is None or not verify:
                continue
            if check_delta_top(book, delta) is False:
                s.stats.top_mismatches += 1
                self._mismatch(asset, book.instrument, "claimed top mismatch")
                continue
            if not delta.hash or now < next_check.get(asset, 0.0):
                continue
            next_check[asset] = now + interval
            s.stats.hash_checks += 1
            ok = check_delta_hash(book, self.decoder.meta(asset), delta)
            if ok is False:
                s.stats.hash_mismatches += 1
                self._mismatch(asset, book.instrument, "hash mismatch")
            elif ok:
                self.mismatches.pop(asset, None)
        touched.clear()
        last_delta.clear()

    def _mismatch(self, asset: str, inst: InstrumentId, reason: str) -> None:
        n = self.mismatches.get(asset, 0) + 1
        self.mismatches[asset] = n
        if n >= self.session.cfg.hash_mismatch_threshold:
            self._start_resync(asset, inst, reason)
