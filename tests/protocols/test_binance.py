from __future__ import annotations

import pytest

from protocols.errors import DecodeError
from protocols.messages import Side, Trade, VenueQuote
from protocols.venues import binance
from tests.protocols.helpers import frames

B = frames("binance_spot")


def test_combined_agg_trade_buyer_maker_means_taker_sold() -> None:
    (t,) = binance.Decoder().decode(B[0], 1)
    assert isinstance(t, Trade)
    assert t.instrument.symbol == "ETHUSDT"
    assert (t.price, t.size, t.taker_side) == (3_521_170_000, 412_500, Side.SELL)
    assert (t.trade_id, t.venue_ts_ms) == ("2100000001", 1803981700120)


def test_book_ticker_combined_and_raw() -> None:
    dec = binance.Decoder()
    (q,) = dec.decode(B[1], 1)
    (raw,) = dec.decode(B[2], 2)
    assert isinstance(q, VenueQuote)
    assert isinstance(raw, VenueQuote)
    assert (q.bid, q.bid_size, q.ask, q.ask_size, q.update_id) == (
        3_521_160_000,
        12_500_000,
        3_521_170_000,
        4_200,
        61234567890,
    )
    assert q.venue_ts_ms == 0  # spot bookTicker has no event time
    assert raw.instrument is q.instrument  # interned
    (t,) = dec.decode(B[3], 3)
    assert isinstance(t, Trade)
    assert t.taker_side is Side.BUY


def test_acks_and_shutdown_are_skipped() -> None:
    dec = binance.Decoder()
    assert dec.decode(B[4], 1) == []
    assert dec.decode(B[5], 1) == []
    assert dec.skipped == 2


def test_quantity_is_truncated_price_is_exact() -> None:
    frame = b'{"u":1,"s":"X","b":"1.00000000","B":"0.12345678","a":"1.1","A":"1"}'
    (q,) = binance.Decoder().decode(frame, 1)
    assert isinstance(q, VenueQuote)
    assert q.bid_size == 123_456
    with pytest.raises(DecodeError):
        binance.Decoder().decode(frame.replace(b'"1.00000000"', b'"0.00000001"'), 1)


@pytest.mark.parametrize("frame", [B[6], b"{}", b'{"stream":"x","data":[]}', b"null"])
def test_malformed(frame: bytes) -> None:
    with pytest.raises(DecodeError):
        binance.Decoder().decode(frame, 1)
