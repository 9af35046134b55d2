"""The Binance reference stream: wire shapes, determinism, and a real loopback websocket.

Frames are checked with the decoder the feed uses (``protocols.venues.binance``), so the
contract tested is "what the sim sends decodes the way the real stream decodes".
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url

from actors.sim import FaultKind, SimConfig, SimVenue, Venue, open_sim_venue
from actors.sim.binance import BinanceFeed, decimal8
from protocols.messages import Side, Trade, VenueQuote
from protocols.venues.binance import Decoder
from tests.sim.helpers import drain_forever

EPOCH = 1_780_000_000_000

# docs/protocols.md, "Binance spot": the exact key sets and order of the spot payloads
BOOK_TICKER_KEYS = ["u", "s", "b", "B", "a", "A"]
AGG_TRADE_KEYS = ["e", "E", "s", "a", "p", "q", "f", "l", "T", "m", "M"]


def feed_frames(seed: int, steps: int = 300) -> list[tuple[str, str]]:
    feed = BinanceFeed(seed, ("BTCUSDT", "ETHUSDT"), 0.01, 50.0, 10.0, 0.0002)
    out: list[tuple[str, str]] = []
    for i in range(steps):
        out += feed.step(EPOCH + 10 * (i + 1))
    return out


def test_decimal8() -> None:
    assert decimal8(84_598_050_000) == "84598.05000000"
    assert decimal8(4_810) == "0.00481000"


def test_feed_is_deterministic_per_seed() -> None:
    a = feed_frames(7)
    assert a == feed_frames(7)
    assert a != feed_frames(8)
    assert len(a) > 100


def test_payloads_match_venue_shapes_and_decode() -> None:
    decoder = Decoder()
    last_u: dict[str, int] = {}
    last_a: dict[str, int] = {}
    last_l: dict[str, int] = {}
    kinds = set()
    for stream, payload in feed_frames(3):
        obj = json.loads(payload)
        symbol, kind = stream.split("@")
        kinds.add(kind)
        assert obj["s"].lower() == symbol
        if kind == "bookTicker":
            assert list(obj) == BOOK_TICKER_KEYS  # spot: no e/E/T
            (q,) = decoder.decode(payload, 0)
            assert isinstance(q, VenueQuote)
            assert q.bid < q.ask
            assert q.bid_size > 0
            assert q.ask_size > 0
            assert q.update_id > last_u.get(symbol, 0)  # monotonic
            last_u[symbol] = q.update_id
        else:
            assert list(obj) == AGG_TRADE_KEYS
            assert obj["e"] == "aggTrade"
            assert obj["M"] is True
            assert obj["f"] <= obj["l"]
            assert obj["f"] == last_l.get(symbol, obj["f"] - 1) + 1  # trade ids contiguous
            last_l[symbol] = obj["l"]
            if symbol in last_a:
                assert obj["a"] == last_a[symbol] + 1  # aggregate ids contiguous
            last_a[symbol] = obj["a"]
            (t,) = decoder.decode(payload, 0)
            assert isinstance(t, Trade)
            assert t.taker_side is (Side.SELL if obj["m"] else Side.BUY)
            assert t.venue_ts_ms == obj["T"]
        for key in ("b", "B", "a", "A") if kind == "bookTicker" else ("p", "q"):
            whole, frac = obj[key].split(".")
            assert whole.isdigit()
            assert len(frac) == 8  # Binance writes 8 decimals
    assert kinds == {"bookTicker", "aggTrade"}
    assert set(last_u) == {"btcusdt", "ethusdt"}


def test_enabling_binance_does_not_change_other_venues() -> None:
    from tests.sim.helpers import run_frames

    assert run_frames(7, 50) == run_frames(7, 50)  # the scenario has its own rng
    feed_frames(7)
    assert run_frames(7, 50) == run_frames(7, 50)


def test_config_rejects_bad_symbols() -> None:
    with pytest.raises(ValueError, match="uppercase"):
        SimConfig(binance_symbols=("btcusdt",))


@pytest.fixture
async def sim(autojump_clock: trio.testing.MockClock) -> AsyncIterator[SimVenue]:
    cfg = SimConfig(
        seed=5,
        markets=1,
        rate=50,
        epoch_ms=EPOCH,
        binance_port=0,
        binance_symbols=("BTCUSDT", "ETHUSDT"),
    )
    async with open_sim_venue(cfg) as venue:
        yield venue


async def test_combined_stream_over_loopback(
    sim: SimVenue, autojump_clock: trio.testing.MockClock
) -> None:
    url = sim.binance_stream_url("btcusdt@bookTicker", "btcusdt@aggTrade")
    assert url == f"{sim.binance_ws_url}/stream?streams=btcusdt@bookTicker/btcusdt@aggTrade"
    assert url.startswith("ws://127.0.0.1:")
    decoder = Decoder()
    seen: dict[str, int] = {}
    last_u = 0
    async with open_websocket_url(url) as ws:
        while min(seen.get("bookTicker", 0), seen.get("aggTrade", 0)) < 5:
            frame = await ws.get_message()
            assert isinstance(frame, str)
            wrapped = json.loads(frame)
            assert list(wrapped) == ["stream", "data"]
            assert wrapped["stream"] in ("btcusdt@bookTicker", "btcusdt@aggTrade")
            kind = wrapped["stream"].split("@")[1]
            seen[kind] = seen.get(kind, 0) + 1
            (event,) = decoder.decode(frame, 0)
            assert event.instrument.symbol == "BTCUSDT"  # ethusdt not subscribed
            if isinstance(event, VenueQuote):
                assert event.update_id > last_u
                assert event.bid < event.ask
                last_u = event.update_id
            else:
                assert isinstance(event, Trade)
                assert event.venue_ts_ms >= EPOCH


async def test_raw_stream_live_subscribe_and_list(
    sim: SimVenue, autojump_clock: trio.testing.MockClock
) -> None:
    decoder = Decoder()
    async with open_websocket_url(f"{sim.binance_ws_url}/ws/ethusdt@bookTicker") as ws:
        first = await ws.get_message()
        assert isinstance(first, str)
        assert first.startswith('{"u":')  # raw stream: the bare payload
        (q,) = decoder.decode(first, 0)
        assert isinstance(q, VenueQuote)
        assert q.instrument.symbol == "ETHUSDT"
        await ws.send_message(
            json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": 1})
        )
        await ws.send_message(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
        await ws.send_message(json.dumps({"method": "SUBSCRIBE", "params": ["x@y"], "id": 3}))
        replies: dict[int, object] = {}
        trades = 0
        while len(replies) < 3 or trades < 2:
            frame = await ws.get_message()
            assert isinstance(frame, str)
            obj = json.loads(frame)
            if "id" in obj:
                assert decoder.decode(frame, 0) == []  # acks decode to nothing
                replies[obj["id"]] = obj
            elif obj.get("e") == "aggTrade":
                assert obj["s"] == "BTCUSDT"
                trades += 1
        assert replies[1] == {"result": None, "id": 1}
        assert replies[2] == {"result": ["btcusdt@aggTrade", "ethusdt@bookTicker"], "id": 2}
        assert replies[3]["code"] == 2  # type: ignore[index]


async def test_unknown_stream_is_rejected(
    sim: SimVenue, autojump_clock: trio.testing.MockClock
) -> None:
    with pytest.raises(ConnectionRejected) as info:
        async with open_websocket_url(f"{sim.binance_ws_url}/stream?streams=dogeusdt@trade"):
            pass
    assert info.value.status_code == 400


async def test_server_pings_and_stall_fault(
    sim: SimVenue, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_websocket_url(sim.binance_stream_url()) as ws:
        await ws.get_message()
        sim.faults.inject(FaultKind.WS_STALL, venue=Venue.BINANCE, duration=45.0)
        with trio.move_on_after(0.5):
            while True:
                await ws.get_message()
        # Silent for 40 s of sim time; the server's 20 s pings still flow and the client
        # answers them (trio-websocket pongs automatically).
        with trio.move_on_after(40.0) as scope:
            await ws.get_message()
        assert scope.cancelled_caught
        (conn,) = [c for c in sim.conns if c.venue is Venue.BINANCE]
        assert conn.pongs >= 1
        frame = await ws.get_message()  # data again after the stall
        assert isinstance(frame, str)
        assert frame.startswith('{"stream":')
        bid, bid_qty, ask, ask_qty = sim.binance_quote("BTCUSDT")
        assert 0 < bid < ask
        assert bid_qty > 0
        assert ask_qty > 0


async def test_ws_close_fault_hits_binance(
    sim: SimVenue, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_websocket_url(sim.binance_stream_url()) as ws:
        await ws.get_message()
        sim.faults.inject(FaultKind.WS_CLOSE, venue=Venue.BINANCE)
        with pytest.raises(ConnectionClosed) as info:
            await drain_forever(ws)
        assert info.value.reason is not None
        assert info.value.reason.code == 1006


async def test_binance_off_by_default(autojump_clock: trio.testing.MockClock) -> None:
    async with open_sim_venue(SimConfig(markets=1, epoch_ms=EPOCH)) as venue:
        assert venue.binance is None
        with pytest.raises(RuntimeError, match="off"):
            _ = venue.binance_ws_url
