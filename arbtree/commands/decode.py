"""``arbtree decode VENUE FILE``: decode a captured websocket session, one frame per line.

Prints every normalized message as a JSON line (``{"line": N, "type": ..., ...}``); a
frame that fails to decode prints its typed error record and decoding goes on. With
``--book`` the messages are applied to L2 books and, after each frame, the top of every
book the frame touched is printed with its staleness and the hash verdict.

Offline there is no receive clock: ``recv_ns`` is set to the line number.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import IO, Any

import msgspec

from protocols.book import L2Book
from protocols.errors import DecodeError
from protocols.fixed import format_units
from protocols.messages import (
    BookDelta,
    BookSnapshot,
    InstrumentId,
    VenueQuote,
)
from protocols.venues import binance, kalshi, polymarket

VENUES = ("polymarket", "polymarket-user", "kalshi", "binance")

_ENCODER = msgspec.json.Encoder()


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "decode",
        help="decode captured venue frames (one per line) to normalized JSON lines",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("venue", choices=VENUES, help="which wire format the capture is in")
    parser.add_argument("file", help="capture file, one frame per line; '-' for stdin")
    parser.add_argument(
        "--book", action="store_true", help="apply to books; print top of book after each frame"
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    """Exit 0 if every frame decoded, 1 if some did not (they are reported inline)."""
    if args.file == "-":
        errors = decode_stream(args.venue, sys.stdin.buffer, sys.stdout, book=args.book)
    else:
        try:
            with open(args.file, "rb") as fh:
                errors = decode_stream(args.venue, fh, sys.stdout, book=args.book)
        except OSError as exc:
            print(f"arbtree decode: {exc}", file=sys.stderr)
            return 2
    return 1 if errors else 0


class _Session:
    """One decoder plus, in ``--book`` mode, the books and checks a feed would run."""

    def __init__(self, venue: str, book: bool) -> None:
        self.venue = venue
        self.book_mode = book
        self.pm = polymarket.MarketDecoder()
        self.pm_user = polymarket.UserDecoder()
        self.kalshi = kalshi.Decoder()
        self.binance = binance.Decoder()
        self.books: dict[InstrumentId, L2Book] = {}
        self.quotes: dict[InstrumentId, VenueQuote] = {}
        self.seq = kalshi.SeqChecker()
        self.sid_books: dict[int, set[InstrumentId]] = {}

    def decode(self, frame: bytes, n: int) -> list[Any]:
        if self.venue == "polymarket":
            return list(self.pm.decode(frame, n))
        if self.venue == "polymarket-user":
            return list(self.pm_user.decode(frame, n))
        if self.venue == "kalshi":
            return list(self.kalshi.decode(frame, n))
        return list(self.binance.decode(frame, n))

    def book(self, inst: InstrumentId) -> L2Book:
        b = self.books.get(inst)
        if b is None:
            b = self.books[inst] = L2Book(inst)
        return b

    def apply(self, messages: list[Any]) -> list[dict[str, Any]]:
        """Apply one frame's messages; return the top-of-book lines to print."""
        touched: dict[InstrumentId, bool | None] = {}
        for msg in messages:
            if isinstance(msg, VenueQuote):
                self.quotes[msg.instrument] = msg
                touched.setdefault(msg.instrument, None)
            elif isinstance(msg, BookSnapshot):
                self._snapshot(msg, touched)
            elif isinstance(msg, BookDelta):
                self._delta(msg, touched)
        return [self._top(inst, verdict) for inst, verdict in touched.items()]

    def _snapshot(self, msg: BookSnapshot, touched: dict[InstrumentId, bool | None]) -> None:
        book = self.book(msg.instrument)
        book.apply_snapshot(msg)
        if msg.sid:
            self.seq.check(msg.sid, msg.seq, snapshot=True)
            self.sid_books.setdefault(msg.sid, set()).add(msg.instrument)
        if msg.hash_ok is False:
            book.mark_stale("hash mismatch")
        touched[msg.instrument] = msg.hash_ok

    def _delta(self, msg: BookDelta, touched: dict[InstrumentId, bool | None]) -> None:
        book = self.book(msg.instrument)
        if msg.sid:
            gap = self.seq.check(msg.sid, msg.seq)
            if gap:
                for inst in self.sid_books.get(msg.sid, {msg.instrument}):
                    self.book(inst).mark_stale(gap)
                    touched.setdefault(inst, None)
            self.sid_books.setdefault(msg.sid, set()).add(msg.instrument)
        book.apply_delta(msg)
        verdict: bool | None = None
        if self.venue == "polymarket" and polymarket.check_delta_top(book, msg) is False:
            book.mark_stale("venue best bid/ask disagrees with the local book")
        if msg.hash and self.venue == "polymarket":
            verdict = polymarket.check_delta_hash(book, self.pm.meta(msg.instrument.symbol), msg)
            if verdict is False:
                book.mark_stale("hash mismatch")
        if verdict is not None or msg.instrument not in touched:
            touched[msg.instrument] = verdict

    def _top(self, inst: InstrumentId, verdict: bool | None) -> dict[str, Any]:
        line: dict[str, Any] = {"book": inst.key()}
        book = self.books.get(inst)
        if book is None:  # quote-only venue (Binance) or a quote for an unbooked market
            q = self.quotes[inst]
            line.update(
                bid=_fmt(q.bid),
                bid_size=_fmt(q.bid_size),
                ask=_fmt(q.ask),
                ask_size=_fmt(q.ask_size),
                quote=True,
            )
            return line
        bid, ask = book.best_bid(), book.best_ask()
        line.update(
            bid=_fmt(bid[0]) if bid else None,
            bid_size=_fmt(bid[1]) if bid else None,
            ask=_fmt(ask[0]) if ask else None,
            ask_size=_fmt(ask[1]) if ask else None,
            levels=[len(book.bids), len(book.asks)],
            crossed=book.crossed(),
            stale=book.stale_reason or None,
            hash_ok=verdict,
        )
        return line


def _fmt(value: int) -> str | None:
    return None if value < 0 else format_units(value)


def decode_stream(venue: str, lines: Iterable[bytes], out: IO[str], *, book: bool = False) -> int:
    """Decode every line of a capture to ``out``; return how many frames failed."""
    session = _Session(venue, book)
    errors = 0
    for n, raw in enumerate(lines, start=1):
        frame = raw.rstrip(b"\r\n")
        if not frame.strip():
            continue
        try:
            messages = session.decode(frame, n)
        except DecodeError as exc:
            errors += 1
            out.write(_ENCODER.encode({"line": n, **exc.to_record()}).decode() + "\n")
            continue
        for msg in messages:
            record = {"line": n, "type": type(msg).__name__, **msgspec.to_builtins(msg)}
            out.write(_ENCODER.encode(record).decode() + "\n")
        if book:
            for top in session.apply(messages):
                out.write(_ENCODER.encode({"line": n, **top}).decode() + "\n")
    return errors
