"""Kalshi v2 orderbook channel adapter.

* Subscribe: ``subscribe`` on ``orderbook_delta`` for the configured tickers (one sid for
  all of them); the venue sends one ``orderbook_snapshot`` per ticker, then deltas.
* Keepalive: the venue pings every 10 s (trio-websocket answers); the feed also sends its
  own websocket ping every ``ping_interval_s`` and reconnects after ``pong_timeout_s``.
* Sequencing (docs/protocols.md, "Kalshi"): ``seq`` per sid, checked by ``SeqChecker``.
  On a gap every book on that sid is marked stale in the cache and
  ``update_subscription`` / ``get_snapshot`` is sent for those tickers; each snapshot
  re-anchors the sequence and clears its book's stale mark. Error 25 (buffer overflow:
  the venue dropped us) -> reconnect.
* Liveness/cache resync for one ticker: ``get_snapshot`` for it on its sid (a full
  resubscribe when no sid is known yet).
"""

from __future__ import annotations

import itertools

import trio

from actors.feeds.base import Reconnect, Session, VenueAdapter
from protocols.messages import BookDelta, BookSnapshot, InstrumentId, Venue
from protocols.venues import kalshi as kw


class KalshiAdapter(VenueAdapter):
    venue = Venue.KALSHI
    text_ping = False

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.decoder = kw.Decoder()
        self.seq = kw.SeqChecker()
        self.ids = itertools.count(1)
        self.sid: int = 0  # the orderbook_delta subscription
        self.sid_tickers: dict[int, set[str]] = {}
        self.gaps = 0

    def subscribe(self) -> None:
        tickers = list(self.session.cfg.instruments)
        self.session.send_control(kw.subscribe(next(self.ids), ["orderbook_delta"], tickers))
        self.session.liveness.subscribed(tickers, trio.current_time())

    def resubscribe(self, keys: tuple[str, ...], reason: str) -> None:
        s = self.session
        if self.sid:
            s.send_control(
                kw.update_subscription(next(self.ids), self.sid, "get_snapshot", list(keys))
            )
        else:
            s.send_control(kw.subscribe(next(self.ids), ["orderbook_delta"], list(keys)))
        s.liveness.subscribed(keys, trio.current_time())

    def resync(self, instrument: InstrumentId, reason: str) -> None:
        self.resubscribe((instrument.symbol,), reason)

    def handle(self, frame: bytes, recv_ns: int, now: float) -> int:
        s = self.session
        n = 0
        for m in self.decoder.decode(frame, recv_ns):
            t = type(m)
            if t is BookDelta:
                assert isinstance(m, BookDelta)
                why = self.seq.check(m.sid, m.seq)
                if why:
                    self._gap(m.sid, why)
                s.liveness.last_data[m.instrument.symbol] = now
            elif t is BookSnapshot:
                assert isinstance(m, BookSnapshot)
                self.seq.check(m.sid, m.seq, snapshot=True)
                self.sid_tickers.setdefault(m.sid, set()).add(m.instrument.symbol)
                s.liveness.got_book(m.instrument.symbol, now)
            elif isinstance(m, kw.Control):
                self._control(m)
                continue
            else:
                continue  # ticker/trade/fill: not book data for this feed
            s.updates.append(m)
            n += 1
        return n

    def _control(self, c: kw.Control) -> None:
        if c.kind is kw.ControlKind.SUBSCRIBED and c.channel == "orderbook_delta":
            self.sid = c.sid
            self.sid_tickers.setdefault(c.sid, set())
        elif c.kind is kw.ControlKind.ERROR and c.code == 25:
            raise Reconnect("venue_buffer_overflow", c.message)

    def _gap(self, sid: int, why: str) -> None:
        s = self.session
        self.gaps += 1
        s.stats.seq_gaps += 1
        s.stats.count_resync("seq_gap")
        tickers = sorted(self.sid_tickers.get(sid, ()))
        insts = tuple(self.decoder.instrument(t) for t in tickers)
        # Pending updates go first; the gap's own delta follows (the book is stale anyway
        # and the snapshot requested now replaces it).
        s.mark_stale(insts, why)
        if tickers:
            s.send_control(kw.update_subscription(next(self.ids), sid, "get_snapshot", tickers))
        else:
            raise Reconnect("seq_gap", why)
