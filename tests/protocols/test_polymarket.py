from __future__ import annotations

import msgspec
import pytest

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
    OrderUpdate,
    Outcome,
    Side,
    TickSizeChange,
    Trade,
    Venue,
    VenueQuote,
)
from protocols.venues import polymarket as pm
from tests.protocols.helpers import frames

MARKET = frames("polymarket_market")
USER = frames("polymarket_user")
TOKEN_A = "48151623429815162342481516234298151623424815162342481516234298151"
TOKEN_B = "91827364550918273645509182736455091827364550918273645509182736455"

# A real 2026 REST /book capture with its venue hash.
REST_BOOK = (
    b'{"market":"0x9d839bf0aa31324b9848f5b89841b779238a7c07dee2f7fca675d934e8ab5bf2",'
    b'"asset_id":"72610532355343625199299853218161700546393390326785971247545541945337255643692",'
    b'"timestamp":"1785734468581","hash":"d7df883ae546b09533a4f485bfae0810da1af04e",'
    b'"bids":[{"price":"0.001","size":"667.12"},{"price":"0.002","size":"6.99"}],"asks":[],'
    b'"min_order_size":"5","tick_size":"0.001","neg_risk":true,"last_trade_price":""}'
)


def test_rest_book_hash_matches_venue_example() -> None:
    snap = pm.decode_rest_book(REST_BOOK, recv_ns=7)
    assert snap.hash_ok is True
    assert snap.bids[0].price == 2_000  # best first although the wire is ascending
    assert snap.asks == ()
    assert snap.tick_size == 1_000
    tampered = REST_BOOK.replace(b'"6.99"', b'"6.98"')
    assert pm.decode_rest_book(tampered, recv_ns=7).hash_ok is False


def test_legacy_book_is_not_judged() -> None:
    (snap,) = pm.MarketDecoder().decode(MARKET[0], 1)
    assert isinstance(snap, BookSnapshot)
    assert snap.hash_ok is None
    assert [lv.price for lv in snap.bids] == [440_000, 410_000]  # ".41" parsed
    assert [lv.price for lv in snap.asks] == [580_000, 620_000]
    assert snap.venue_ts_ms == 1727000000123


def test_legacy_flat_price_change() -> None:
    (d,) = pm.MarketDecoder().decode(MARKET[1], 1)
    assert isinstance(d, BookDelta)
    assert (d.side, d.price, d.size, d.increment) == (BookSide.BID, 450_000, 77_700_000, False)
    assert d.instrument.symbol == TOKEN_A


def test_legacy_changes_list_hash_on_last_entry() -> None:
    d1, d2 = pm.MarketDecoder().decode(MARKET[2], 1)
    assert isinstance(d1, BookDelta)
    assert isinstance(d2, BookDelta)
    assert (d1.side, d1.price, d1.size) == (BookSide.ASK, 580_000, 0)
    assert d1.hash == ""
    assert d2.hash == "1234567890abcdef1234567890abcdef12345678"


def test_last_trade_and_tick_size() -> None:
    dec = pm.MarketDecoder()
    (t,) = dec.decode(MARKET[3], 1)
    assert isinstance(t, Trade)
    assert (t.price, t.size, t.taker_side) == (570_000, 25_000_000, Side.BUY)
    assert dec.meta(TOKEN_A).last_trade_price == "0.570"  # original text kept for the hash
    (tick,) = dec.decode(MARKET[4], 1)
    assert isinstance(tick, TickSizeChange)
    assert (tick.tick_size, tick.old_tick_size) == (1_000, 10_000)


def test_current_books_and_price_changes_verify_hashes() -> None:
    dec = pm.MarketDecoder()
    books: dict[InstrumentId, L2Book] = {}
    verdicts = []
    for frame in MARKET[5:9]:
        for msg in dec.decode(frame, 1):
            if isinstance(msg, BookSnapshot):
                assert msg.hash_ok is True
                books.setdefault(msg.instrument, L2Book(msg.instrument)).apply_snapshot(msg)
            elif isinstance(msg, BookDelta):
                book = books[msg.instrument]
                book.apply_delta(msg)
                verdicts.append(pm.check_delta_hash(book, dec.meta(msg.instrument.symbol), msg))
                assert pm.check_delta_top(book, msg) is True
                best = book.best_bid()
                assert best is not None
                assert best[0] == msg.best_bid
    assert verdicts == [True, True, True]
    # the two tokens are mirrored: NO's ask seen from YES is YES's bid complement
    yes = books[dec.instrument(TOKEN_A)]
    no = books[dec.instrument(TOKEN_B)]
    no_ask = no.best_ask()
    assert no_ask is not None
    assert mirror(no).best_bid() == (1_000_000 - no_ask[0], no_ask[1])
    assert yes.best_bid() == (340_000, 200_000_000)


def test_wrong_delta_hash_is_detected() -> None:
    dec = pm.MarketDecoder()
    book = L2Book(dec.instrument(TOKEN_B))
    (snap,) = dec.decode(MARKET[6], 1)
    assert isinstance(snap, BookSnapshot)
    book.apply_snapshot(snap)
    (d,) = dec.decode(MARKET[11], 1)
    assert isinstance(d, BookDelta)
    book.apply_delta(d)
    assert pm.check_delta_hash(book, dec.meta(TOKEN_B), d) is False


def test_array_frame_skips_unknown_event_only() -> None:
    dec = pm.MarketDecoder()
    msgs = dec.decode(MARKET[8], 1)
    assert [type(m) for m in msgs] == [BookDelta, VenueQuote]
    assert dec.skipped == 1
    quote = msgs[1]
    assert isinstance(quote, VenueQuote)
    assert (quote.bid, quote.ask) == (340_000, 370_000)


def test_pong_and_truncated_frame() -> None:
    dec = pm.MarketDecoder()
    assert MARKET[9] == b"PONG"
    assert dec.decode(MARKET[9], 1) == []
    assert dec.pongs == 1
    with pytest.raises(DecodeError) as err:
        dec.decode(MARKET[10], 1)
    assert err.value.venue == "polymarket"
    assert err.value.sample.startswith('{"event_type":"book"')


@pytest.mark.parametrize(
    "frame",
    [
        b'{"event_type":"price_change","market":"0x1","timestamp":"1"}',  # no entries at all
        b'{"event_type":"book","asset_id":"1","bids":[{"price":"1.5","size":"1"}]}',
        b'{"event_type":"price_change","price_changes":[{"asset_id":"1","price":"0.5",'
        b'"size":"1","side":"HOLD"}],"timestamp":"1"}',
        b'{"event_type":"book","asset_id":"1","timestamp":"12x"}',
        b"[1, 2]",
    ],
)
def test_malformed_known_events_raise_decode_error(frame: bytes) -> None:
    with pytest.raises(DecodeError):
        pm.MarketDecoder().decode(frame, 1)


def test_user_order_events() -> None:
    dec = pm.UserDecoder()
    (placed,) = dec.decode(USER[0], 5)
    (killed,) = dec.decode(USER[1], 5)
    assert isinstance(placed, OrderUpdate)
    assert isinstance(killed, OrderUpdate)
    assert placed.state is OrderState.OPEN
    assert placed.instrument.outcome is Outcome.YES
    assert (placed.price, placed.original_size) == (340_000, 10_000_000)
    assert killed.state is OrderState.CANCELLED


def test_user_maker_trade_yields_only_our_maker_fills() -> None:
    fills = pm.UserDecoder().decode(USER[2], 5)
    assert [f.venue_order_id for f in fills] == [
        "0xaaaa000000000000000000000000000000000000000000000000000000000001",
        "0xcccc01",
    ]
    same, other = fills
    assert isinstance(same, Fill)
    assert same.liquidity is Liquidity.MAKER
    assert same.side is Side.BUY  # the taker sold the same token
    assert other.side is Side.SELL  # complementary token: same direction as taker
    assert other.instrument.outcome is Outcome.NO
    assert same.size == 10_000_000


def test_user_taker_trade() -> None:
    (fill,) = pm.UserDecoder().decode(USER[3], 5)
    assert isinstance(fill, Fill)
    assert fill.liquidity is Liquidity.TAKER
    assert (fill.price, fill.size, fill.fee_rate_bps) == (660_000, 12_500_000, 150)
    assert fill.fee == -1
    assert fill.venue_ts_ms == 1727000300100


def test_post_order_round_trip_and_amounts() -> None:
    maker, taker = pm.order_amounts(Side.BUY, 340_000, 10_000_000)
    assert (maker, taker) == ("3400000", "10000000")
    order = pm.SignedOrder(
        salt=42,
        maker="0xm",
        signer="0xs",
        token_id=TOKEN_A,
        maker_amount=maker,
        taker_amount=taker,
        side="BUY",
        expiration="0",
        signature_type=0,
        timestamp="1790000000000",
        metadata="0x00",
        builder="0x00",
        signature="0xsig",
    )
    body = pm.encode_post_order(pm.PostOrderBody(order=order, owner="key", order_type="FOK"))
    assert b'"tokenId":"4815' in body
    assert b'"orderType":"FOK"' in body
    assert b'"makerAmount":"3400000"' in body
    assert b" " not in body
    assert msgspec.json.decode(body, type=pm.PostOrderBody).order == order


def test_order_responses() -> None:
    inst = InstrumentId(venue=Venue.POLYMARKET, symbol=TOKEN_A)
    ok = pm.decode_post_order_response(
        b'{"errorMsg":"","orderID":"0xabc","takingAmount":"","makingAmount":"",'
        b'"status":"matched","success":true}'
    )
    ack = pm.order_outcome(ok, "cid", inst, 9)
    assert isinstance(ack, OrderAck)
    assert ack.state is OrderState.FILLED
    bad = pm.decode_post_order_response(
        b'{"errorMsg":"INVALID_ORDER_NOT_ENOUGH_BALANCE","success":false}'
    )
    rej = pm.order_outcome(bad, "cid", inst, 9)
    assert isinstance(rej, OrderReject)
    assert (rej.reason, rej.retryable) == ("insufficient_balance", False)
    http = pm.decode_post_order_response(b'{"error":"Trading is currently disabled"}')
    rej2 = pm.order_outcome(http, "cid", inst, 9)
    assert isinstance(rej2, OrderReject)
    assert rej2.reason == "trading_disabled"
    assert rej2.retryable
    with pytest.raises(DecodeError):
        pm.decode_post_order_response(b"<html>")


def test_claimed_top_mismatch_and_absence() -> None:
    dec = pm.MarketDecoder()
    (snap,) = dec.decode(MARKET[5], 1)
    assert isinstance(snap, BookSnapshot)
    book = L2Book(snap.instrument)
    book.apply_snapshot(snap)
    (d,) = dec.decode(MARKET[1], 1)  # legacy flat entry: no claim to check
    assert isinstance(d, BookDelta)
    assert pm.check_delta_top(book, d) is None
    lying = msgspec.structs.replace(d, best_bid=330_000, best_ask=360_000)
    book.apply_delta(lying)  # bid 0.45 now tops the book, the claim says 0.33
    assert pm.check_delta_top(book, lying) is False
