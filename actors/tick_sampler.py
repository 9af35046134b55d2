"""Sampled top-of-book ticks for storage, read off the quote cache on a timer.

The quote cache's write path never touches storage: this actor wakes every
``interval_s``, reads each book's version through the cache's read-only
:class:`QuoteReader`, and persists one :class:`TickRecord` per book that changed since
the previous sample. Cost is one dict lookup per book per interval, whatever the feed rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import attrs
import trio

from actors.quote_cache import QuoteReader
from protocols.messages import TickRecord, Venue
from supervision import Actor, ActorContext


@attrs.define(eq=False)
class TickSampler(Actor):
    reader: QuoteReader
    sink: Callable[[Any], None]  # never blocks (e.g. ``StorageSink.put``)
    interval_s: float = 1.0
    _seen: dict[tuple[Venue, str], int] = attrs.field(init=False, factory=dict)

    async def run(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        while True:
            await trio.sleep(self.interval_s)
            self.sample()
            ctx.heartbeat()

    def sample(self) -> int:
        """Persist a tick for every book changed since the last call; return how many."""
        store = self.reader.store
        if store is None:
            return 0
        wall_ms = time.time_ns() // 1_000_000
        seen = self._seen
        written = 0
        for key, book in store.books.items():
            if seen.get(key) == book.version:
                continue
            seen[key] = book.version
            bid = book.best_bid() or (0, 0)
            ask = book.best_ask() or (0, 0)
            self.sink(
                TickRecord(
                    instrument=book.instrument,
                    bid=bid[0],
                    bid_size=bid[1],
                    ask=ask[0],
                    ask_size=ask[1],
                    venue_ts_ms=book.venue_ts_ms,
                    recv_ns=book.recv_ns,
                    wall_ms=wall_ms,
                )
            )
            written += 1
        return written
