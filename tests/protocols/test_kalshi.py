from __future__ import annotations

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from protocols.book import L2Book, mirror
from protocols.errors import DecodeError
from protocols.messages import (
    BookDelta,
    BookSide,
    BookSnapshot,
    Fill,
    InstrumentId,
    Liquidity,
    OrderAck,
    OrderReject,
    OrderState,
    Outcome,
    Side,
    TimeInForce,
    Venue,
    VenueQuote,
)
from protocols.venues import kalshi
from tests.protocols.helpers import frames

K = frames("kalshi_ws")


def decode(line: int) -> list[kalshi.KalshiMessage]:
    return kalshi.Decoder().decode(K[line - 1], 3)


def test_current_snapshot_normalizes_no_bids_to_yes_asks() -> None:
    (snap,) = decode(2)
    assert isinstance(snap, BookSnapshot)
    assert snap.instrument == InstrumentId(
        venue=Venue.KALSHI, symbol="KXRAIN-27MAR01-T2", outcome=Outcome.YES
    )
    assert (snap.sid, snap.seq) == (1, 1)
    assert [(lv.price, lv.size) for lv in snap.bids] == [
        (330_000, 10_000_000),
        (310_000, 42_500_000),
        (50_000, 100_000_000),
    ]
    # NO bids 0.65 x 0.05 and 0.40 x 7 -> YES asks 0.35 and 0.60, best first
    assert [(lv.price, lv.size) for lv in snap.asks] == [(350_000, 50_000), (600_000, 7_000_000)]
    book = L2Book(snap.instrument)
    book.apply_snapshot(snap)
    assert mirror(book).best_bid() == (650_000, 50_000)  # the NO bid, recovered


def test_current_delta_is_signed_increment() -> None:
    (d,) = decode(3)
    assert isinstance(d, BookDelta)
    assert (d.side, d.price, d.size, d.increment) == (BookSide.BID, 330_000, -10_000_000, True)
    assert (d.sid, d.seq, d.venue_ts_ms) == (1, 2, 1803981600000)
    (no,) = decode(4)
    assert isinstance(no, BookDelta)
    assert (no.side, no.price) == (BookSide.ASK, 340_000)  # "0.660" NO bid


def test_legacy_cent_formats() -> None:
    (snap,) = decode(6)
    assert isinstance(snap, BookSnapshot)
    assert snap.bids[0] == type(snap.bids[0])(220_000, 1_500_000_000)
    assert snap.asks[0].price == 250_000
    (d,) = decode(7)
    assert isinstance(d, BookDelta)
    assert (d.price, d.size, d.venue_ts_ms) == (220_000, -500_000_000, 0)
    (bare,) = decode(10)  # a msg payload logged without its envelope
    assert isinstance(bare, BookSnapshot)
    assert (bare.sid, bare.seq, len(bare.bids), len(bare.asks)) == (0, 0, 2, 2)


def test_transitional_snapshot_with_all_three_encodings_prefers_fixed_point() -> None:
    frame = (
        b'{"type":"orderbook_snapshot","sid":4,"seq":9,"msg":{"market_ticker":"T",'
        b'"yes":[[8,300]],"yes_dollars":[["0.080",300]],"yes_dollars_fp":[["0.0800","300.50"]]}}'
    )
    (snap,) = kalshi.Decoder().decode(frame, 1)
    assert isinstance(snap, BookSnapshot)
    assert snap.bids[0].size == 300_500_000


def test_ticker_and_fill() -> None:
    (q,) = decode(5)
    assert isinstance(q, VenueQuote)
    assert (q.bid, q.ask, q.bid_size, q.ask_size, q.venue_ts_ms) == (
        310_000,
        340_000,
        42_500_000,
        3_000_000,
        1803981600150,
    )
    (f,) = decode(12)
    assert isinstance(f, Fill)
    assert f.instrument.outcome is Outcome.NO
    assert (f.side, f.price, f.size, f.fee) == (Side.BUY, 670_000, 12_000_000, 58_300)
    assert f.liquidity is Liquidity.TAKER
    assert f.client_order_id == "arb-test-1"


def test_control_frames_and_unknown_type() -> None:
    (sub,) = decode(1)
    assert isinstance(sub, kalshi.Control)
    assert (sub.kind, sub.sid, sub.channel) == (kalshi.ControlKind.SUBSCRIBED, 1, "orderbook_delta")
    (err,) = decode(11)
    assert isinstance(err, kalshi.Control)
    assert (err.code, err.id) == (6, 7)
    (ok,) = decode(13)
    assert isinstance(ok, kalshi.Control)
    assert ok.market_tickers == ("KXRAIN-27MAR01-T2",)
    dec = kalshi.Decoder()
    assert dec.decode(K[13], 1) == []
    assert dec.skipped == 1


def test_delta_with_json_numbers_is_exact() -> None:
    frame = (
        b'{"type":"orderbook_delta","sid":1,"seq":2,"msg":{"market_ticker":"T",'
        b'"price_dollars":0.96,"delta_fp":-54.0,"side":"yes"}}'
    )
    (d,) = kalshi.Decoder().decode(frame, 1)
    assert isinstance(d, BookDelta)
    assert (d.price, d.size) == (960_000, -54_000_000)


def test_too_precise_price_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="more than 6 decimals"):
        decode(15)


@pytest.mark.parametrize(
    "frame",
    [
        b'{"type":"orderbook_delta","sid":1,"seq":2,"msg":{"market_ticker":"T","side":"yes"}}',
        b'{"type":"orderbook_delta","sid":1,"seq":2,"msg":{"market_ticker":"T","side":"maybe",'
        b'"price_dollars":"0.5","delta_fp":"1"}}',
        b'{"type":"orderbook_snapshot","sid":1,"seq":2,"msg":{"market_ticker":"T","yes":[[101,1]]}}',
        b'{"no_type_and_not_a_snapshot":1}',
    ],
)
def test_malformed_frames(frame: bytes) -> None:
    with pytest.raises(DecodeError):
        kalshi.Decoder().decode(frame, 1)


def test_seq_checker() -> None:
    seq = kalshi.SeqChecker()
    assert seq.check(1, 5) == "sid 1: seq 5 before any snapshot"
    assert seq.check(1, 1, snapshot=True) == ""
    assert seq.check(1, 2) == ""
    assert seq.check(2, 1, snapshot=True) == ""  # sids are independent
    assert seq.check(1, 4) == "sid 1: seq gap 2 -> 4"
    assert seq.check(1, 0) == ""  # unsequenced frame
    assert seq.check(1, 9, snapshot=True) == ""  # a snapshot re-anchors
    assert seq.check(1, 10) == ""


def test_commands_encode() -> None:
    assert msgspec.json.decode(kalshi.subscribe(1, ["orderbook_delta"], ["A", "B"])) == {
        "id": 1,
        "cmd": "subscribe",
        "params": {"channels": ["orderbook_delta"], "market_tickers": ["A", "B"]},
    }
    assert msgspec.json.decode(kalshi.unsubscribe(2, [1, 2])) == {
        "id": 2,
        "cmd": "unsubscribe",
        "params": {"sids": [1, 2]},
    }
    assert msgspec.json.decode(kalshi.update_subscription(3, 456, "get_snapshot", ["A"])) == {
        "id": 3,
        "cmd": "update_subscription",
        "params": {"sids": [456], "action": "get_snapshot", "market_tickers": ["A"]},
    }


def test_create_order_body_and_responses() -> None:
    req = kalshi.create_order_request(
        "KXRAIN-27MAR01-T2", Outcome.NO, Side.BUY, 670_000, 12_000_000, "arb-1", TimeInForce.FOK
    )
    assert msgspec.json.decode(kalshi.encode_create_order(req)) == {
        "ticker": "KXRAIN-27MAR01-T2",
        "side": "no",
        "action": "buy",
        "count_fp": "12.00",
        "client_order_id": "arb-1",
        "no_price_dollars": "0.6700",
        "time_in_force": "fill_or_kill",
    }
    inst = InstrumentId(venue=Venue.KALSHI, symbol="X", outcome=Outcome.NO)
    resp = kalshi.decode_create_order_response(
        b'{"order":{"order_id":"o-1","client_order_id":"arb-1","status":"executed",'
        b'"fill_count_fp":"12.00","remaining_count_fp":"0.00"}}'
    )
    ack = kalshi.order_outcome(resp, 201, "arb-1", inst, 1)
    assert isinstance(ack, OrderAck)
    assert (ack.state, ack.filled_size, ack.venue_order_id) == (
        OrderState.FILLED,
        12_000_000,
        "o-1",
    )
    err = kalshi.decode_create_order_response(b'{"error":"too many requests"}')
    rej = kalshi.order_outcome(err, 429, "arb-1", inst, 1)
    assert isinstance(rej, OrderReject)
    assert rej.retryable
    assert rej.reason == "rate_limited"
    bad = kalshi.decode_create_order_response(
        b'{"code":"invalid_parameters","message":"price","details":"","service":"exchange"}'
    )
    rej2 = kalshi.order_outcome(bad, 400, "arb-1", inst, 1)
    assert isinstance(rej2, OrderReject)
    assert not rej2.retryable
    assert rej2.venue_code == "invalid_parameters: price"
    # The error nested under "error" (the shape of Kalshi's, and the sim's, 4xx bodies):
    # a definite reject, not an undecodable reply (it crashed the executor).
    nested = kalshi.decode_create_order_response(
        b'{"error":{"code":"insufficient_position","message":"no position",'
        b'"details":"","service":"exchange"}}'
    )
    rej3 = kalshi.order_outcome(nested, 400, "arb-1", inst, 1)
    assert isinstance(rej3, OrderReject)
    assert not rej3.retryable
    assert rej3.venue_code == "insufficient_position: no position"


def test_rsa_pss_signing_verifies_and_ignores_query() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    headers = kalshi.sign_request(
        key, "key-id", 1703123456789, "post", "/trade-api/v2/portfolio/orders?x=1"
    )
    assert headers["KALSHI-ACCESS-KEY"] == "key-id"
    assert headers["KALSHI-ACCESS-TIMESTAMP"] == "1703123456789"
    sig = headers["KALSHI-ACCESS-SIGNATURE"]
    pub = key.public_key()
    assert kalshi.verify_signature(
        pub, sig, 1703123456789, "POST", "/trade-api/v2/portfolio/orders"
    )
    assert not kalshi.verify_signature(
        pub, sig, 1703123456790, "POST", "/trade-api/v2/portfolio/orders"
    )
    assert not kalshi.verify_signature(
        pub, sig, 1703123456789, "GET", "/trade-api/v2/portfolio/orders"
    )
