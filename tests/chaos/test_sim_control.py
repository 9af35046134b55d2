"""The sim's loopback control API: auth, fault injection that takes effect, venue state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing

from actors.sim import SimConfig, SimVenue, open_sim_venue
from actors.sim.control import parse_fault, serve_sim_control
from actors.sim.units import ONE
from arbtree.cli import build_parser
from arbtree.commands.sim import _serve
from arbtree.sim_endpoint import SimEndpointFile, read_endpoint_file, write_endpoint_file
from arbtree.sim_process import MarketListing
from protocols.config.load import ConfigError

TOKEN = "t0ken-for-tests"


@pytest.fixture
async def sim() -> AsyncIterator[SimVenue]:
    async with open_sim_venue(SimConfig(seed=5, markets=2, window_rate=0.0)) as venue:
        yield venue


@pytest.fixture
async def control(sim: SimVenue) -> AsyncIterator[httpx.AsyncClient]:
    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve_sim_control, sim, TOKEN, 0)
        headers = {"authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers) as c:
            yield c
        nursery.cancel_scope.cancel()


async def test_requests_without_the_token_are_refused(control: httpx.AsyncClient) -> None:
    assert (await control.get("/health", headers={"authorization": ""})).json() == {"ok": True}
    for method, path in (("GET", "/state"), ("POST", "/faults"), ("POST", "/faults/clear")):
        bad = await control.request(method, path, headers={"authorization": "Bearer nope"})
        assert bad.status_code == 401, path
        missing = await control.request(method, path, headers={"authorization": ""})
        assert missing.status_code == 401, path


async def test_injected_rest_fault_hits_the_venue_and_clear_heals(
    sim: SimVenue, control: httpx.AsyncClient
) -> None:
    r = await control.post("/faults", json={"kind": "rest_500", "count": 5, "venue": "kalshi"})
    assert r.status_code == 200
    async with httpx.AsyncClient(base_url=sim.rest_url) as venue:
        first = await venue.get("/trade-api/v2/portfolio/balance")
        assert first.status_code == 500
        assert (await control.post("/faults/clear")).status_code == 200
        healed = await venue.get("/trade-api/v2/portfolio/balance")
        assert healed.status_code == 200
    state = (await control.get("/state")).json()
    assert [f["kind"] for f in state["faults"]] == ["rest_500"]
    assert state["faults"][0]["venue"] == "kalshi"


async def test_bad_fault_bodies_get_a_specific_400(control: httpx.AsyncClient) -> None:
    r = await control.post("/faults", json={"kind": "meteor"})
    assert r.status_code == 400
    assert "unknown fault kind 'meteor'" in r.json()["error"]
    r = await control.post("/faults", json={"kind": "rest_slow", "delay": -1})
    assert r.status_code == 400
    assert "delay" in r.json()["error"]
    assert (await control.get("/nowhere")).status_code == 404


def test_parse_fault_fields() -> None:
    spec = parse_fault({"kind": "ws_stall", "venue": "polymarket", "duration": 2.5})
    assert spec.kind.value == "ws_stall"
    assert spec.venue is not None
    assert spec.venue.value == "polymarket"
    assert spec.duration == 2.5
    with pytest.raises(ValueError, match="unknown venue 'nyse'"):
        parse_fault({"kind": "ws_close", "venue": "nyse"})
    with pytest.raises(ValueError, match="count must be an integer"):
        parse_fault({"kind": "ws_close", "count": 0})
    with pytest.raises(ValueError, match="JSON object"):
        parse_fault([])


async def test_state_shows_orders_fills_and_positions(
    sim: SimVenue, control: httpx.AsyncClient
) -> None:
    m = sim.markets[0]
    yes_bids, _ = sim.kalshi_book(m.ticker)
    body = {
        "ticker": m.ticker,
        "side": "no",
        "action": "buy",
        "count": 3,
        "no_price": (ONE - yes_bids[-1][0]) // 10_000,
        "client_order_id": "chaos-1",
        "time_in_force": "immediate_or_cancel",
    }
    async with httpx.AsyncClient(base_url=sim.rest_url) as venue:
        placed = await venue.post("/trade-api/v2/portfolio/orders", json=body)
    assert placed.status_code == 201
    state = (await control.get("/state")).json()
    (order,) = state["orders"]
    assert order["client_order_id"] == "chaos-1"
    assert order["filled"] == 3 * ONE
    assert (order["market"], order["outcome"], order["side"]) == (0, "no", "buy")
    assert len(order["trade_ids"]) >= 1
    market = state["markets"][0]
    assert market["kalshi"] == {"yes": 0, "no": 3 * ONE}
    assert state["accounts"]["kalshi"]["cash"] == sim.exchange.kalshi.cash < 10_000 * ONE


def test_endpoint_file_round_trip_and_errors(tmp_path: Path) -> None:
    listing = MarketListing(
        index=0,
        condition_id="0xc",
        yes_token="1",
        no_token="2",
        ticker="KX",
        kalshi_market_id="k",
        category="crypto",
        fee_rate_ppm=0,
    )
    info = SimEndpointFile(
        host="127.0.0.1",
        polymarket_port=1,
        kalshi_port=2,
        rest_port=3,
        control_url="http://127.0.0.1:4",
        token_file=str(tmp_path / "sim.token"),
        pid=1,
        seed=7,
        markets=(listing,),
    )
    path = tmp_path / "sim.json"
    write_endpoint_file(path, info)
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_endpoint_file(path) == info
    with pytest.raises(ConfigError, match="no such file"):
        read_endpoint_file(tmp_path / "missing.json")
    (tmp_path / "junk.json").write_text("{")
    with pytest.raises(ConfigError, match="not a sim endpoint file"):
        read_endpoint_file(tmp_path / "junk.json")


def fok_buy_20(token: str, price: int, *, salt: int) -> dict[str, object]:
    """A Polymarket order body: buy 20 shares of ``token`` at ``price``, fill or kill."""
    return {
        "order": {
            "tokenId": token,
            "makerAmount": str(price * 20),
            "takerAmount": str(20 * ONE),
            "side": "BUY",
            "salt": salt,
        },
        "owner": "k",
        "orderType": "FOK",
    }


async def test_fee_shares_are_what_the_polymarket_position_is_short_of(
    sim: SimVenue, control: httpx.AsyncClient
) -> None:
    m = sim.markets[1]
    price, _ = sim.poly_book(m.yes_token).asks[0]
    order = fok_buy_20(m.yes_token, price, salt=11)
    async with httpx.AsyncClient(base_url=sim.rest_url) as venue:
        r = await venue.post("/order", json=order)
    assert r.status_code == 200, r.text
    state = (await control.get("/state")).json()
    (placed,) = state["orders"]
    position = state["markets"][1]["polymarket"]["yes"]
    assert placed["filled"] == 20 * ONE
    assert placed["fee_shares"] > 0  # the sim's markets charge a taker fee
    assert position == placed["filled"] - placed["fee_shares"]


async def test_a_failed_settlement_is_counted_and_moves_nothing(
    sim: SimVenue, control: httpx.AsyncClient
) -> None:
    m = sim.markets[1]
    price, _ = sim.poly_book(m.yes_token).asks[0]
    order = fok_buy_20(m.yes_token, price, salt=12)
    injected = await control.post("/faults", json={"kind": "poly_trade_failed", "count": 5})
    assert injected.status_code == 200
    async with httpx.AsyncClient(base_url=sim.rest_url) as venue:
        r = await venue.post("/order", json=order)
    assert r.status_code == 200, r.text
    state = (await control.get("/state")).json()
    (placed,) = state["orders"]
    position = state["markets"][1]["polymarket"]["yes"]
    assert placed["filled"] == placed["failed"] == 20 * ONE
    assert placed["fee_shares"] == 0
    assert position == 0


async def test_arbtree_sim_serves_its_control_api_and_writes_the_endpoint_file(
    tmp_path: Path,
) -> None:
    endpoint = tmp_path / "sim.json"
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            _serve, SimConfig(seed=2, markets=1), None, 0, endpoint, tmp_path / "sim-ca.pem"
        )
        await trio.testing.wait_all_tasks_blocked()
        info = read_endpoint_file(endpoint)
        assert Path(info.token_file) == endpoint.with_suffix(".token")
        mode, token = _private_file(Path(info.token_file))
        assert mode == 0o600
        assert len(info.markets) == 1
        headers = {"authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=info.control_url, headers=headers) as c:
            state = (await c.get("/state")).json()
        assert [m["ticker"] for m in state["markets"]] == [info.markets[0].ticker]
        nursery.cancel_scope.cancel()


def _private_file(path: Path) -> tuple[int, str]:
    return path.stat().st_mode & 0o777, path.read_text().strip()


def test_arbtree_sim_removes_its_endpoint_file_on_exit(tmp_path: Path) -> None:
    endpoint = tmp_path / "sim.json"
    argv = ["sim", "--markets", "1", "--duration", "0.2", "--control-port", "0"]
    args = build_parser().parse_args([*argv, "--endpoint-file", str(endpoint)])
    assert args.func(args) == 0
    assert not endpoint.exists()
    assert not endpoint.with_suffix(".token").exists()
