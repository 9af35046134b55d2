"""The control endpoint over real loopback HTTP: the Host header must name the bound
address (DNS rebinding), /tree/stream's interval has a floor and must be finite, and
concurrent streams are capped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import msgspec
import pytest
import trio

from protocols.config.observability import ControlConfig
from protocols.tree import TreeSnapshot
from tests.observability.helpers import Stack, open_stack, settle


def _port(stack: Stack) -> int:
    port = urlsplit(stack.url).port
    assert port is not None
    return port


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:{port}", "127.0.0.1:1", "127.0.0.2:{port}", ""]
)
async def test_a_foreign_host_header_is_refused_with_421(tmp_path: Path, host: str) -> None:
    halts: list[str] = []
    async with open_stack(tmp_path) as stack, stack.client() as client:
        stack.plane.set_trading_control(halt=halts.append, resume=halts.append)
        headers = {"Host": host.format(port=_port(stack))}
        for method, path in [("GET", "/tree"), ("GET", "/metrics"), ("POST", "/actions/halt")]:
            r = await client.request(method, path, headers={**headers, **stack.auth()})
            assert r.status_code == 421, (path, r.text)
            assert "is not this endpoint's address" in r.json()["error"]
        assert halts == []  # the action with a valid token did not run


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "LOCALHOST"])
async def test_the_bound_address_and_localhost_are_accepted(tmp_path: Path, name: str) -> None:
    async with open_stack(tmp_path) as stack, stack.client() as client:
        r = await client.get("/tree", headers={"Host": f"{name}:{_port(stack)}"})
        assert r.status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        "interval=nan",
        "interval=inf",
        "interval=-inf",
        "interval=-1",
        "interval=0",
        "interval=0.01",
        "interval=0.0999",
        "interval=1e9",
        "interval=abc",
        "interval=",
        "count=0",
        "count=-3",
        "count=1.5",
    ],
)
async def test_bad_stream_parameters_are_400(tmp_path: Path, query: str) -> None:
    async with open_stack(tmp_path) as stack, stack.client() as client:
        r = await client.get(f"/tree/stream?{query}")
        assert r.status_code == 400, r.text
        assert r.json()["ok"] is False


async def test_the_interval_floor_itself_is_accepted(tmp_path: Path) -> None:
    floor = ControlConfig().min_stream_interval_s
    async with open_stack(tmp_path) as stack, stack.client() as client:
        r = await client.get("/tree/stream", params={"interval": str(floor), "count": "2"})
        assert r.status_code == 200
        assert len(r.content.splitlines()) == 2


async def test_streams_beyond_the_cap_get_503_until_one_leaves(tmp_path: Path) -> None:
    cap = ControlConfig().max_streams
    async with open_stack(tmp_path) as stack, stack.client() as client, AsyncExitStack() as open_:
        streams: list[tuple[httpx.Response, AsyncIterator[str]]] = []
        for _ in range(cap):
            response = await open_.enter_async_context(
                client.stream("GET", "/tree/stream", params={"interval": "60"})
            )
            assert response.status_code == 200
            lines = response.aiter_lines()  # kept: a dropped iterator closes the response
            first = await lines.__anext__()
            assert msgspec.json.decode(first, type=TreeSnapshot).root == "arbtree"
            streams.append((response, lines))
        extra = await client.get("/tree/stream", params={"interval": "60", "count": "1"})
        assert extra.status_code == 503, extra.text[:300]
        assert "max_streams" in extra.json()["error"]
        assert (await client.get("/tree")).status_code == 200  # other routes unaffected

        await streams[0][0].aclose()
        with trio.fail_after(10):
            while True:  # the server sees the disconnect and frees the slot
                again = await client.get("/tree/stream", params={"interval": "0.1", "count": "1"})
                if again.status_code == 200:
                    break
                assert again.status_code == 503
                await settle(stack.tree)
                await trio.sleep(0.01)
        assert len(again.content.splitlines()) == 1
