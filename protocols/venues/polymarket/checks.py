"""Per-delta checks of a Polymarket book after a price change was applied: the entry's
hash (thorough) and its claimed best bid/ask (cheap).

Apart from the decoders because the feed runs them against its own books; the decoders
hold no books.
"""

from __future__ import annotations

from protocols.book import L2Book
from protocols.fixed import PRICE_ONE
from protocols.messages import BookDelta
from protocols.venues.polymarket.hashed_book import HashedBook, cached_book_state_hash
from protocols.venues.polymarket.hashing import AssetMeta, book_state_hash


def check_delta_hash(book: L2Book, meta: AssetMeta, delta: BookDelta) -> bool | None:
    """Verify a price-change entry's hash against ``book`` after the delta was applied.
    None when there is nothing to check (no hash, or unknown tick size: legacy frames).
    A :class:`HashedBook` is hashed from its cached fragments."""
    if not delta.hash or not meta.tick_size:
        return None
    choices = (meta.neg_risk,) if meta.neg_risk is not None else (False, True)
    for neg_risk in choices:
        if isinstance(book, HashedBook):
            got = cached_book_state_hash(book, meta, delta.venue_ts_ms, neg_risk)
        else:
            got = book_state_hash(book, meta, delta.venue_ts_ms, neg_risk)
        if got == delta.hash:
            meta.neg_risk = neg_risk
            return True
    return False


def check_delta_top(book: L2Book, delta: BookDelta) -> bool | None:
    """Does the venue's claimed top (``best_bid``/``best_ask`` on a price_changes entry)
    match ``book`` after the delta? Empty sides are claimed as "0" and "1". None when the
    entry carried no claim (legacy shapes). Cheap: use it on every entry; the hash is the
    thorough check."""
    if delta.best_bid < 0 or delta.best_ask < 0:
        return None
    bid = book.best_bid()
    ask = book.best_ask()
    return (bid[0] if bid else 0) == delta.best_bid and (
        ask[0] if ask else PRICE_ONE
    ) == delta.best_ask
