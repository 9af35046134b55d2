"""Messages of the market-data path that protocols/messages.py does not define.

* :class:`MarkStale` (feed -> quote cache, on the same BLOCK edge as the data batches):
  these books cannot be trusted until their next snapshot (disconnect, sequence gap, hash
  mismatch, crossed book). The cache latches the reason until a snapshot clears it.
* :class:`ResyncRequest` (quote cache -> feed, COALESCE by instrument): the cache holds a
  book it cannot trust (a delta arrived for a book that never had a snapshot, e.g. after
  the cache restarted) and asks the owning feed to fetch a fresh snapshot.
"""

from __future__ import annotations

import msgspec

from protocols.messages import InstrumentId, MarketDataBatch, Venue


class MarkStale(msgspec.Struct, frozen=True, kw_only=True):
    venue: Venue
    instruments: tuple[InstrumentId, ...]  # empty = every book of this venue
    reason: str
    at_ns: int


class ResyncRequest(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    instrument: InstrumentId
    reason: str


FeedOutput = MarketDataBatch | MarkStale
# What a feed sends the quote cache per batch: one item, or a batch's data with the stale
# marks its checks raised, as one message: with direct dispatch the cache applies them in
# one delivery, so no book a check found bad is ever published fresh in between.
FeedMessage = FeedOutput | tuple[FeedOutput, ...]
