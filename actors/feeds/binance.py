"""Binance spot reference feed adapter (bookTicker; top of book only).

Subscribe with ``{"method": "SUBSCRIBE", "params": ["<sym>@bookTicker", ...]}``. The
venue pings every 20 s (answered by trio-websocket); the feed also pings. No resync: a
bookTicker is a full top-of-book; frames with ``u`` not above the last one are dropped.
"""

from __future__ import annotations

import itertools

import msgspec
import trio

from actors.feeds.base import Session, VenueAdapter
from protocols.messages import Venue, VenueQuote
from protocols.venues.binance import Decoder

_ENC = msgspec.json.Encoder()


class BinanceAdapter(VenueAdapter):
    venue = Venue.BINANCE
    text_ping = False

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.decoder = Decoder()
        self.ids = itertools.count(1)
        self.last_u: dict[str, int] = {}
        self.stale_dropped = 0

    def subscribe(self) -> None:
        self.resubscribe(tuple(self.session.cfg.instruments), "subscribe")

    def resubscribe(self, keys: tuple[str, ...], reason: str) -> None:
        params = [f"{k.lower()}@bookTicker" for k in keys]
        msg = {"method": "SUBSCRIBE", "params": params, "id": next(self.ids)}
        self.session.send_control(_ENC.encode(msg).decode())
        self.session.liveness.subscribed([k.upper() for k in keys], trio.current_time())

    def handle(self, frame: bytes, recv_ns: int, now: float) -> int:
        s = self.session
        n = 0
        for m in self.decoder.decode(frame, recv_ns):
            if type(m) is VenueQuote:
                sym = m.instrument.symbol
                if m.update_id and m.update_id <= self.last_u.get(sym, -1):
                    self.stale_dropped += 1
                    continue
                self.last_u[sym] = m.update_id
                s.liveness.got_book(sym, now)
            s.updates.append(m)
            n += 1
        return n
