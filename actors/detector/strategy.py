"""What every strategy produces: candidates, i.e. "buy these two ask ladders together".

A :class:`Candidate` names two legs; each leg reads one instrument's published
:class:`~protocols.messages.TopOfBook` either as its asks (buy YES on a Kalshi book, buy a
Polymarket token) or as its bids mirrored to ``1 - p`` (buy NO on a Kalshi book, whose NO
asks are the YES bids seen from the other side). Strategies differ only in which
candidates they build from the config; evaluation is shared (:mod:`actors.detector.actor`).

Books are looked up by ``(venue, symbol)``: the decoders leave ``outcome`` unset for
Polymarket tokens, the legs' instruments carry the outcome the config says.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from actors.detector.fees import FeeSchedule
from protocols.fixed import PRICE_ONE
from protocols.messages import InstrumentId, TopOfBook, Venue

BookKey = tuple[Venue, str]


def book_key(instrument: InstrumentId) -> BookKey:
    return (instrument.venue, instrument.symbol)


@attrs.frozen
class LegSource:
    book: BookKey
    mirrored: bool  # True: buy the complement, reading the book's bids at 1 - p
    buy: InstrumentId  # what the order leg names
    fee: FeeSchedule

    def best(self, top: TopOfBook) -> tuple[int, int]:
        """``(price, size)`` of the best level this leg buys from (size 0 = empty)."""
        if self.mirrored:
            return PRICE_ONE - top.bid, top.bid_size
        return top.ask, top.ask_size

    def levels(self, top: TopOfBook) -> Iterator[tuple[int, int]]:
        if self.mirrored:
            return ((PRICE_ONE - lv.price, lv.size) for lv in top.bids)
        return ((lv.price, lv.size) for lv in top.asks)


@attrs.frozen
class Candidate:
    strategy: str
    key: str  # cooldown key: one per configured market or pair
    a: LegSource
    b: LegSource
    step: int  # size grid common to both legs
    note: str = ""  # e.g. the pair's resolution-source note
