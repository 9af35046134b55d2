"""A client over real loopback websockets and HTTP against the embedded sim, with faults."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from actors.sim import FaultKind, SimConfig, SimVenue, Venue, open_sim_venue
from actors.sim.units import ONE
from tests.sim.helpers import ClientBook, drain_forever, frames


@pytest.fixture
async def sim(autojump_clock: trio.testing.MockClock) -> AsyncIterator[SimVenue]:
    cfg = SimConfig(seed=31, markets=2, rate=100, epoch_ms=1_780_000_000_000)
    async with open_sim_venue(cfg) as venue:
        yield venue


def test_refuses_non_loopback() -> None:
    from actors.sim.venue import check_loopback

    with pytest.raises(ValueError, match="loopback"):
        check_loopback("0.0.0.0")
    check_loopback("127.0.0.1")


async def test_polymarket_books_hashes_and_ping(
    sim: SimVenue, autojump_clock: trio.testing.MockClock
) -> None:
    m = sim.markets[0]
    async with open_websocket_url(sim.polymarket_ws_url) as ws:
        await ws.send_message(
            json.dumps({"assets_ids": [m.yes_token, m.no_token], "type": "market"})
        )
        books = {b["asset_id"]: ClientBook(b) for b in frames(await ws.get_message())}
        assert set(books) == {m.yes_token, m.no_token}
        checked = 0
        while checked < 50:
            for obj in frames(await ws.get_message()):
                if obj["event_type"] == "price_change":
                    for e in obj["price_changes"]:
                        books[e["asset_id"]].apply(e)
                        assert books[e["asset_id"]].hash(obj["timestamp"]) == e["hash"]
                        checked += 1
                elif obj["event_type"] == "last_trade_price":
                    books[obj["asset_id"]].ltp = obj["price"]
        await ws.send_message("PING")
        while (msg := await ws.get_message()) != "PONG":
            assert isinstance(msg, str)
            assert msg.startswith(("{", "["))


async def kalshi_subscribe(ws: WebSocketConnection, tickers: list[str]) -> None:
    await ws.send_message(
        json.dumps(
            {
                "id": 1,
                "cmd": "subscribe",
                "params": {
                    "channels": ["orderbook_delta"],
                    "market_tickers": tickers,
                },
            }
        )
    )


async def test_kalshi_seq_contiguous_and_get_snapshot(
    sim: SimVenue, autojump_clock: trio.testing.MockClock
) -> None:
    tickers = [m.ticker for m in sim.markets]
    async with open_websocket_url(sim.kalshi_ws_url) as ws:
        await kalshi_subscribe(ws, tickers)
        ack = json.loads(await ws.get_message())
        assert ack == {
            "id": 1,
            "type": "subscribed",
            "msg": {"channel": "orderbook_delta", "sid": 1},
        }
        seqs: list[int] = []
        snapshots = 0
        while len(seqs) < 60:
            msg = json.loads(await ws.get_message())
            snapshots += msg["type"] == "orderbook_snapshot"
            seqs.append(msg["seq"])
        assert snapshots == len(tickers)
        assert seqs == list(range(1, len(seqs) + 1))
        await ws.send_message(
            json.dumps(
                {
                    "id": 2,
                    "cmd": "update_subscription",
                    "params": {
                        "sids": [1],
                        "market_tickers": [tickers[0]],
                        "action": "get_snapshot",
                    },
                }
            )
        )
        while True:
            msg = json.loads(await ws.get_message())
            if msg["type"] == "orderbook_snapshot":
                assert msg["seq"] == seqs[-1] + 1
                break
            assert msg["seq"] == seqs[-1] + 1
            seqs.append(msg["seq"])


async def test_orders_over_http_push_fills_on_user_channels(
    sim: SimVenue, autojump_clock: trio.testing.MockClock
) -> None:
    m = sim.markets[0]
    async with (
        open_websocket_url(sim.polymarket_user_ws_url) as user,
        open_websocket_url(sim.kalshi_ws_url) as kws,
        httpx.AsyncClient(base_url=sim.rest_url) as http,
    ):
        await user.send_message(
            json.dumps({"auth": {}, "markets": [m.condition_id], "type": "user"})
        )
        await kws.send_message(
            json.dumps({"id": 1, "cmd": "subscribe", "params": {"channels": ["fill"]}})
        )
        assert json.loads(await kws.get_message())["type"] == "subscribed"
        price, _ = sim.poly_book(m.yes_token).asks[0]
        order = {
            "order": {
                "tokenId": m.yes_token,
                "makerAmount": str(price * 5),
                "takerAmount": str(5 * ONE),
                "side": "BUY",
                "salt": 7,
            },
            "owner": "k",
            "orderType": "FOK",
        }
        r = await http.post("/order", json=order)
        assert r.status_code == 200
        assert r.json()["status"] == "matched"
        trade = json.loads(await user.get_message())
        assert trade["event_type"] == "trade"
        assert trade["trader_side"] == "TAKER"
        assert trade["taker_order_id"] == r.json()["orderID"]
        got = await http.get(f"/data/order/{r.json()['orderID']}")
        assert got.json()["status"] == "MATCHED"
        yes_bids, _no_bids = sim.kalshi_book(m.ticker)
        no_price = ONE - yes_bids[-1][0]
        body = {
            "ticker": m.ticker,
            "side": "no",
            "action": "buy",
            "count": 2,
            "no_price": no_price // 10_000,
            "client_order_id": "x-1",
            "time_in_force": "immediate_or_cancel",
        }
        r = await http.post("/trade-api/v2/portfolio/orders", json=body)
        assert r.status_code == 201
        assert r.json()["order"]["fill_count"] == 2
        fill = json.loads(await kws.get_message())
        assert fill["type"] == "fill"
        assert fill["msg"]["client_order_id"] == "x-1"
        by_coid = await http.get(
            "/trade-api/v2/portfolio/orders", params={"client_order_id": "x-1"}
        )
        assert [o["order_id"] for o in by_coid.json()["orders"]] == [r.json()["order"]["order_id"]]
        bal = (await http.get("/trade-api/v2/portfolio/balance")).json()
        assert bal["balance"] == sim.exchange.kalshi.cash // 10_000
        book = (await http.get("/book", params={"token_id": m.yes_token})).json()
        ClientBook({**book, "event_type": "book"})  # REST hash verifies too


async def test_fault_ws_close_is_abrupt(
    sim: SimVenue, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_websocket_url(sim.kalshi_ws_url) as ws:
        await kalshi_subscribe(ws, [sim.markets[0].ticker])
        await ws.get_message()
        sim.faults.inject(FaultKind.WS_CLOSE, venue=Venue.KALSHI)
        with pytest.raises(ConnectionClosed) as info:
            await drain_forever(ws)
        reason = info.value.reason
        assert reason is not None
        assert reason.code == 1006  # no close frame: TCP just went away


async def test_fault_stall_keeps_pong(
    sim: SimVenue, autojump_clock: trio.testing.MockClock
) -> None:
    m = sim.markets[0]
    async with open_websocket_url(sim.polymarket_ws_url) as ws:
        await ws.send_message(json.dumps({"assets_ids": [m.yes_token], "type": "market"}))
        await ws.get_message()
        sim.faults.inject(FaultKind.WS_STALL, venue=Venue.POLYMARKET, duration=30.0)
        # drain whatever was already queued before the stall
        with trio.move_on_after(0.5):
            while True:
                await ws.get_message()
        await ws.send_message("PING")
        assert await ws.get_message() == "PONG"
        with trio.move_on_after(2.0) as scope:
            await ws.get_message()
        assert scope.cancelled_caught  # silent: no data for 2 s of sim time


async def test_fault_malformed_burst_and_bad_hash(
    sim: SimVenue, autojump_clock: trio.testing.MockClock
) -> None:
    tokens = [t for m in sim.markets for t in (m.yes_token, m.no_token)]
    async with open_websocket_url(sim.polymarket_ws_url) as ws:
        await ws.send_message(json.dumps({"assets_ids": tokens, "type": "market"}))
        books = {b["asset_id"]: ClientBook(b) for b in frames(await ws.get_message())}
        sim.faults.inject(FaultKind.WS_MALFORMED, venue=Venue.POLYMARKET, count=3)
        bad = 0
        for _ in range(3):
            try:
                frames(await ws.get_message())
            except (ValueError, KeyError):
                bad += 1
        assert bad >= 2  # one of the junk frames is valid JSON with an unknown event type
        sim.faults.inject(FaultKind.POLY_BAD_HASH, count=1)
        mismatches = 0
        seen = 0
        while seen < 20:
            for obj in frames(await ws.get_message()):
                if obj.get("event_type") == "price_change":
                    for e in obj["price_changes"]:
                        books[e["asset_id"]].apply(e)
                        mismatches += books[e["asset_id"]].hash(obj["timestamp"]) != e["hash"]
                        seen += 1
                elif obj.get("event_type") == "last_trade_price":
                    books[obj["asset_id"]].ltp = obj["price"]
        assert mismatches == 1


async def test_fault_kalshi_seq_gap(sim: SimVenue, autojump_clock: trio.testing.MockClock) -> None:
    async with open_websocket_url(sim.kalshi_ws_url) as ws:
        await kalshi_subscribe(ws, [m.ticker for m in sim.markets])
        await ws.get_message()
        last = json.loads(await ws.get_message())["seq"]
        sim.faults.inject(FaultKind.KALSHI_SEQ_GAP, count=2)
        jumps = []
        for _ in range(20):
            seq = json.loads(await ws.get_message())["seq"]
            jumps.append(seq - last)
            last = seq
        assert sorted(jumps)[-1] == 3
        assert jumps.count(1) == len(jumps) - 1


async def test_fault_rest_errors_slow_timeout(
    sim: SimVenue, autojump_clock: trio.testing.MockClock
) -> None:
    async with httpx.AsyncClient(base_url=sim.rest_url) as http:
        sim.faults.inject(FaultKind.REST_500, venue=Venue.KALSHI)
        sim.faults.inject(FaultKind.REST_429, venue=Venue.KALSHI)
        assert (await http.get("/trade-api/v2/portfolio/balance")).status_code == 500
        assert (await http.get("/trade-api/v2/portfolio/balance")).status_code == 429
        assert (await http.get("/trade-api/v2/portfolio/balance")).status_code == 200
        sim.faults.inject(FaultKind.REST_SLOW, delay=3.0)
        t0 = trio.current_time()
        assert (await http.get("/balance-allowance")).status_code == 200
        assert trio.current_time() - t0 >= 3.0
        sim.faults.inject(FaultKind.REST_TIMEOUT, duration=60.0)
        with pytest.raises(httpx.ReadTimeout):
            await http.get("/balance-allowance", timeout=5.0)


async def test_fault_accept_then_drop_response_executes_once(
    sim: SimVenue, autojump_clock: trio.testing.MockClock
) -> None:
    m = sim.markets[1]
    yes_bids, _ = sim.kalshi_book(m.ticker)
    body = {
        "ticker": m.ticker,
        "side": "no",
        "action": "buy",
        "count": 1,
        "no_price": (ONE - yes_bids[-1][0]) // 10_000,
        "client_order_id": "amb-1",
        "time_in_force": "fill_or_kill",
    }
    async with httpx.AsyncClient(base_url=sim.rest_url) as http:
        sim.faults.inject(FaultKind.REST_DROP_RESPONSE, venue=Venue.KALSHI)
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post("/trade-api/v2/portfolio/orders", json=body)
        # ambiguous outcome: resolve by client order id, then a retry must not re-execute
        found = (
            await http.get("/trade-api/v2/portfolio/orders", params={"client_order_id": "amb-1"})
        ).json()["orders"]
        assert len(found) == 1
        assert found[0]["status"] == "executed"
        retry = await http.post("/trade-api/v2/portfolio/orders", json=body)
        assert retry.json()["order"]["order_id"] == found[0]["order_id"]
        assert sim.exchange.kalshi.positions[f"{m.ticker}:no"] == ONE


async def test_ground_truth_file_and_scheduled_fault(
    autojump_clock: trio.testing.MockClock, tmp_path: object
) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "ground_truth.jsonl"
    from actors.sim import FaultSpec

    cfg = SimConfig(
        seed=8,
        window_rate=2.0,
        window_duration=0.5,
        ground_truth_path=str(path),
        faults=(FaultSpec(FaultKind.REST_500, at=1.0),),
    )
    async with open_sim_venue(cfg) as sim:
        await trio.sleep(10.0)
        windows = sim.windows
        assert sim.faults.history
        assert sim.faults.history[0][1].kind is FaultKind.REST_500
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [x["id"] for x in lines] == [w.id for w in windows]
    assert lines
    assert set(lines[0]) >= {"id", "kind", "legs", "start", "end", "max_size", "edge_net"}
