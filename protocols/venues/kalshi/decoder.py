"""Kalshi websocket :class:`Decoder`: frame -> normalized messages.

A market's book is the YES view of ``InstrumentId(kalshi, ticker, YES)``. Kalshi books
are bids-only; a YES bid at p stays a bid at p and a NO bid at p becomes a YES *ask* at
1 - p (exact in fixed point), so the quote cache keeps one ordinary book per market.
Deltas are signed increments (``increment=True``). Unknown frame types are skipped and
counted in :attr:`Decoder.skipped`.
"""

from __future__ import annotations

import msgspec

from protocols.errors import DecodeError
from protocols.fixed import (
    PRICE_ONE,
    parse_price,
    parse_size,
    parse_units,
    price_memo,
    size_memo,
)
from protocols.messages import (
    BookDelta,
    BookSide,
    BookSnapshot,
    Fill,
    FillStatus,
    InstrumentId,
    Level,
    Liquidity,
    Outcome,
    Side,
    Trade,
    VenueQuote,
)
from protocols.venues._common import DECODE_FAILURES as _DECODE_FAILURES
from protocols.venues.kalshi._shared import _K, VENUE, _count, _price, _ts_ms
from protocols.venues.kalshi.control import Control, ControlKind, KalshiMessage
from protocols.venues.kalshi.wire import (
    FillMsg,
    SnapshotMsg,
    WireDelta,
    WireError,
    WireFill,
    WireFrame,
    WireOk,
    WireSnapshot,
    WireSubscribed,
    WireTicker,
    WireTrade,
    WireUnsubscribed,
)


class _Probe(msgspec.Struct):
    type: str = ""


_FRAME = msgspec.json.Decoder(WireFrame)
_PROBE = msgspec.json.Decoder(_Probe)
_BARE_SNAPSHOT = msgspec.json.Decoder(SnapshotMsg)
_KNOWN = frozenset(
    [
        "orderbook_snapshot",
        "orderbook_delta",
        "ticker",
        "trade",
        "fill",
        "subscribed",
        "ok",
        "unsubscribed",
        "error",
    ]
)


class Decoder:
    """Decodes Kalshi websocket frames. One per connection; interns instruments."""

    def __init__(self) -> None:
        self._instruments: dict[str, InstrumentId] = {}
        self.skipped = 0

    def instrument(self, ticker: str) -> InstrumentId:
        inst = self._instruments.get(ticker)
        if inst is None:
            inst = InstrumentId(venue=_K, symbol=ticker, outcome=Outcome.YES)
            self._instruments[ticker] = inst
        return inst

    def decode(self, frame: bytes | str, recv_ns: int) -> list[KalshiMessage]:
        """Decode one frame. Raises only :class:`DecodeError`."""
        try:
            try:
                wire: WireFrame | SnapshotMsg = _FRAME.decode(frame)
            except msgspec.ValidationError:
                kind = _PROBE.decode(frame).type
                if kind in _KNOWN:
                    raise
                if kind:
                    self.skipped += 1
                    return []
                # A bare snapshot payload (logged without its envelope by some tools).
                wire = _BARE_SNAPSHOT.decode(frame)
            return [self._normalize(wire, recv_ns)]
        except DecodeError:
            raise
        except _DECODE_FAILURES as exc:
            raise DecodeError(VENUE, str(exc), frame) from None

    def _normalize(self, wire: WireFrame | SnapshotMsg, recv_ns: int) -> KalshiMessage:
        if isinstance(wire, WireDelta):
            m = wire.msg
            price = _price(m.price_dollars, m.price)
            size = _count(m.delta_fp, m.delta)
            if m.side == "yes":
                side = BookSide.BID
            elif m.side == "no":
                side, price = BookSide.ASK, PRICE_ONE - price
            else:
                raise DecodeError(VENUE, f"bad side {m.side!r}")
            return BookDelta(
                instrument=self.instrument(m.market_ticker),
                side=side,
                price=price,
                size=size,
                venue_ts_ms=_ts_ms(m.ts_ms, m.ts),
                recv_ns=recv_ns,
                increment=True,
                seq=wire.seq,
                sid=wire.sid,
            )
        if isinstance(wire, WireSnapshot):
            return self._snapshot(wire.msg, wire.sid, wire.seq, recv_ns)
        if isinstance(wire, SnapshotMsg):
            return self._snapshot(wire, 0, 0, recv_ns)
        if isinstance(wire, WireTicker):
            t = wire.msg
            bid = t.yes_bid_dollars
            ask = t.yes_ask_dollars
            return VenueQuote(
                instrument=self.instrument(t.market_ticker),
                bid=_price(bid, t.yes_bid) if bid is not None or t.yes_bid is not None else -1,
                ask=_price(ask, t.yes_ask) if ask is not None or t.yes_ask is not None else -1,
                bid_size=parse_size(t.yes_bid_size_fp) if t.yes_bid_size_fp else -1,
                ask_size=parse_size(t.yes_ask_size_fp) if t.yes_ask_size_fp else -1,
                venue_ts_ms=_ts_ms(t.ts_ms, t.ts) or wire.sending_ts_ms,
                recv_ns=recv_ns,
            )
        if isinstance(wire, WireTrade):
            tr = wire.msg
            taker = {"yes": Side.BUY, "no": Side.SELL}.get(tr.taker_side)
            return Trade(
                instrument=self.instrument(tr.market_ticker),
                price=_price(tr.yes_price_dollars, tr.yes_price),
                size=_count(tr.count_fp, tr.count),
                taker_side=taker,
                venue_ts_ms=_ts_ms(tr.ts_ms, tr.ts),
                recv_ns=recv_ns,
                trade_id=tr.trade_id,
            )
        if isinstance(wire, WireFill):
            return _fill(wire.msg, recv_ns)
        return _control(wire)

    def _snapshot(self, m: SnapshotMsg, sid: int, seq: int, recv_ns: int) -> BookSnapshot:
        bids: list[Level] = []
        asks: list[Level] = []
        if m.yes_dollars_fp is not None or m.no_dollars_fp is not None:
            for p, c in m.yes_dollars_fp or ():
                bids.append(Level(price_memo(p), size_memo(c)))
            for p, c in m.no_dollars_fp or ():
                asks.append(Level(PRICE_ONE - price_memo(p), size_memo(c)))
        elif m.yes_dollars is not None or m.no_dollars is not None:
            for tp, tc in m.yes_dollars or ():
                bids.append(Level(parse_price(tp), _level_count(tc)))
            for tp, tc in m.no_dollars or ():
                asks.append(Level(PRICE_ONE - parse_price(tp), _level_count(tc)))
        else:
            for cents, whole in m.yes or ():
                bids.append(Level(_price(None, cents), _count(None, whole)))
            for cents, whole in m.no or ():
                asks.append(Level(PRICE_ONE - _price(None, cents), _count(None, whole)))
        bids.sort(key=_price_key, reverse=True)
        asks.sort(key=_price_key)
        return BookSnapshot(
            instrument=self.instrument(m.market_ticker),
            bids=tuple(bids),
            asks=tuple(asks),
            venue_ts_ms=0,
            recv_ns=recv_ns,
            seq=seq,
            sid=sid,
        )


def _price_key(level: Level) -> int:
    return level.price


def _level_count(c: int | str) -> int:
    return parse_size(c) if isinstance(c, str) else _count(None, c)


def _fill(f: FillMsg, recv_ns: int) -> Fill:
    if f.side not in ("yes", "no") or f.action not in ("buy", "sell"):
        raise DecodeError(VENUE, f"bad fill side/action {f.side!r}/{f.action!r}")
    yes_price = _price(f.yes_price_dollars, f.yes_price)
    if f.side == "yes":
        price = yes_price
    elif f.no_price_dollars is not None:
        price = parse_price(f.no_price_dollars)
    else:
        price = PRICE_ONE - yes_price
    outcome = Outcome.YES if f.side == "yes" else Outcome.NO
    return Fill(
        fill_id=f.trade_id,
        venue_order_id=f.order_id,
        client_order_id=f.client_order_id,
        instrument=InstrumentId(venue=_K, symbol=f.market_ticker, outcome=outcome),
        side=Side.BUY if f.action == "buy" else Side.SELL,
        price=price,
        size=_count(f.count_fp, f.count),
        fee=parse_units(f.fee_cost),
        liquidity=Liquidity.TAKER if f.is_taker else Liquidity.MAKER,
        status=FillStatus.CONFIRMED,
        venue_ts_ms=_ts_ms(f.ts_ms, f.ts),
        recv_ns=recv_ns,
    )


def _control(wire: WireSubscribed | WireOk | WireUnsubscribed | WireError) -> Control:
    if isinstance(wire, WireSubscribed):
        return Control(
            kind=ControlKind.SUBSCRIBED, id=wire.id, sid=wire.msg.sid, channel=wire.msg.channel
        )
    if isinstance(wire, WireOk):
        tickers = wire.market_tickers
        if tickers is None and wire.msg is not None:
            tickers = wire.msg.market_tickers
        return Control(
            kind=ControlKind.OK,
            id=wire.id,
            sid=wire.sid,
            seq=wire.seq,
            market_tickers=tuple(tickers or ()),
        )
    if isinstance(wire, WireUnsubscribed):
        return Control(kind=ControlKind.UNSUBSCRIBED, id=wire.id, sid=wire.sid, seq=wire.seq)
    return Control(kind=ControlKind.ERROR, id=wire.id, code=wire.msg.code, message=wire.msg.msg)
