"""Binance Spot market streams: combined-stream wrapper, ``bookTicker``, ``aggTrade``.

Frames arrive as ``{"stream": "<name>", "data": {...}}`` on ``/stream`` connections or as
the bare payload on ``/ws/<name>``; both are accepted. Spot ``bookTicker`` has no event
time (``venue_ts_ms`` = 0: timestamp on receipt) and ``u`` is monotonic but not
contiguous, so it only orders frames. ``aggTrade`` ``m = true`` means the buyer was the
maker, i.e. the taker sold. Subscription acks (``{"result": null, "id": 1}``) and
``serverShutdown`` decode to nothing and are counted in :attr:`Decoder.skipped`.

Prices and quantities use the same 1e-6 fixed point as everything else; Binance sends
8 decimals. Price digits past the sixth must be zero (a pair priced below 1e-6 is out of
scope and raises :class:`DecodeError`); quantities are truncated to 6 decimals.
"""

from __future__ import annotations

import msgspec

from protocols.errors import DecodeError
from protocols.fixed import parse_size, parse_units
from protocols.messages import InstrumentId, Side, Trade, Venue, VenueQuote
from protocols.venues._common import DECODE_FAILURES as _DECODE_FAILURES

VENUE = "binance"
_B = Venue.BINANCE


def _qty(text: str) -> int:
    """Quantity, truncated to 6 decimals: a reference size, never traded on."""
    whole, _, frac = text.partition(".")
    if len(frac) > 6:
        text = f"{whole}.{frac[:6]}"
    return parse_size(text)


class BookTicker(msgspec.Struct, gc=False):
    u: int
    s: str
    b: str
    B: str
    a: str
    A: str
    e: str = ""  # futures-style payloads carry e/E/T; spot does not
    E: int = 0


class AggTrade(msgspec.Struct, gc=False):
    e: str
    E: int
    s: str
    a: int
    p: str
    q: str
    T: int
    m: bool
    f: int = 0
    l: int = 0  # noqa: E741 - Binance's field name


class _Payload(msgspec.Struct):
    """Union-free first pass: which payload is it?"""

    e: str = ""
    u: int | None = None
    result: object = None
    id: int | None = None


class Combined(msgspec.Struct):
    stream: str
    data: msgspec.Raw


_COMBINED = msgspec.json.Decoder(Combined)
_PAYLOAD = msgspec.json.Decoder(_Payload)
_BOOK_TICKER = msgspec.json.Decoder(BookTicker)
_AGG_TRADE = msgspec.json.Decoder(AggTrade)


class Decoder:
    """Decodes Binance frames into :class:`VenueQuote` / :class:`Trade`."""

    def __init__(self) -> None:
        self._instruments: dict[str, InstrumentId] = {}
        self.skipped = 0

    def instrument(self, symbol: str) -> InstrumentId:
        inst = self._instruments.get(symbol)
        if inst is None:
            inst = self._instruments[symbol] = InstrumentId(venue=_B, symbol=symbol.upper())
        return inst

    def decode(self, frame: bytes | str, recv_ns: int) -> list[VenueQuote | Trade]:
        """Decode one frame (combined or raw). Raises only :class:`DecodeError`."""
        try:
            if frame[:10] in (b'{"stream":', '{"stream":'):
                payload: bytes | str | msgspec.Raw = _COMBINED.decode(frame).data
            else:
                payload = frame
            # bookTicker is the hot case: try it first, fall back on a cheap probe.
            try:
                bt = _BOOK_TICKER.decode(payload)
            except msgspec.ValidationError:
                pass
            else:
                return [
                    VenueQuote(
                        instrument=self.instrument(bt.s),
                        bid=parse_units(bt.b),
                        ask=parse_units(bt.a),
                        bid_size=_qty(bt.B),
                        ask_size=_qty(bt.A),
                        update_id=bt.u,
                        venue_ts_ms=bt.E,
                        recv_ns=recv_ns,
                    )
                ]
            probe = _PAYLOAD.decode(payload)
            if probe.e == "aggTrade":
                at = _AGG_TRADE.decode(payload)
                return [
                    Trade(
                        instrument=self.instrument(at.s),
                        price=parse_units(at.p),
                        size=_qty(at.q),
                        taker_side=Side.SELL if at.m else Side.BUY,
                        venue_ts_ms=at.T or at.E,
                        recv_ns=recv_ns,
                        trade_id=str(at.a),
                    )
                ]
            if probe.e or probe.id is not None:  # other events, acks, serverShutdown
                self.skipped += 1
                return []
            raise DecodeError(VENUE, "unrecognized payload", frame)
        except DecodeError:
            raise
        except _DECODE_FAILURES as exc:
            raise DecodeError(VENUE, str(exc), frame) from None
