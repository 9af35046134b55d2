"""Writing orders from the caller's own step: ``ready_request`` and its ``write``
(transport), ``OrderRunner.ready_now`` / ``written`` and ``send_legs_now`` (executor),
against a loopback HTTP server and the simulated venue; and the executor's rehearsal,
which builds the same requests and sends nothing."""

from __future__ import annotations

import time
from typing import Any

import h11
import httpx
import pytest
import trio
import trio.testing

from actors.sim.venue import SimVenue
from actors.trading.fill_tracker import FillTracker
from actors.trading.http_transport import (
    ReadyRequest,
    StartedRequest,
    _prepared,
    build_request,
    finish_request,
    make_http_client,
    ready_request,
    request,
)
from actors.trading.keepalive_transport import _head
from actors.trading.messages import ExecutionOutcome, ExecutionRequest, OrderFinal
from actors.trading.polymarket_client import PolymarketClient
from actors.trading.rehearsal import OrderRehearsal
from actors.trading.two_leg import execute_legs, send_legs_now
from actors.trading.venue_clients import Ambiguous
from protocols.config.trading import HttpConfig
from protocols.messages import Fill, OrderReject, Venue
from tests.trading.executor_harness import Harness, intent, kalshi_yes, poly_yes
from tests.trading.http_server import Server, echo, read_request, serve

SENT = "http11.send_request_body.complete"


def http_client(base: str, **over: Any) -> httpx.AsyncClient:
    return make_http_client(HttpConfig(**over), base)


def start(http: httpx.AsyncClient, body: bytes, trace: Any = None) -> StartedRequest | None:
    ready = ready_request(http, "POST", "/o", body, {"content-type": "application/json"}, trace)
    return None if ready is None else ready.write()


@pytest.mark.parametrize(
    ("base", "path", "headers"),
    [
        ("http://127.0.0.1:8123", "/o", {"content-type": "application/json"}),
        (
            "http://localhost:8123/trade-api/v2",
            "/portfolio/orders",
            {"content-type": "application/json", "KALSHI-ACCESS-KEY": "k", "X-Sig": "a=b/c"},
        ),
        ("http://127.0.0.1", "/data/order/0xabc?x=1", {}),
    ],
)
async def test_the_prepared_head_is_the_bytes_the_usual_path_writes(
    base: str, path: str, headers: dict[str, str]
) -> None:
    http = http_client(base)
    body = b'{"order": 1}'
    for _ in range(2):  # built, then from the cache
        usual, _ = _head(build_request(http, "POST", path, body, headers), len(body))
        assert _prepared(http).head("POST", path, headers, len(body)) == usual
    await http.aclose()


async def test_headers_the_prepared_head_cannot_take_go_the_usual_way() -> None:
    http = http_client("http://127.0.0.1:8123")
    prep = _prepared(http)
    assert prep.head("POST", "/o", {"user-agent": "mine"}, 1) is None  # replaces a default
    assert prep.head("POST", "/o", {"Content-Length": "9"}, 1) is None  # the head's own
    assert prep.head("POST", "/o", {"x-bad": "a\r\nb: c"}, 1) is None  # header injection
    await http.aclose()


async def test_start_writes_on_an_idle_connection_and_the_reply_finishes_it() -> None:
    async with serve(echo) as (base, server):
        http = http_client(base)
        await request(http, "GET", "/warm")  # one idle pooled connection now
        sent_at: list[int] = []

        async def trace(event: str, info: dict[str, Any]) -> None:
            if event == SENT:
                sent_at.append(info["sent_ns"])

        started = start(http, b"order", trace)
        returned_at = time.monotonic_ns()
        assert started is not None
        resp = await finish_request(started)
        assert resp.status_code == 200
        assert resp.content == b"order"
        assert resp.request.url.path == "/o"
        assert 0 < sent_at[0] <= returned_at  # the bytes left before the write returned
        # and the connection went back to the pool: the next request reuses it
        assert (await request(http, "POST", "/o", content=b"next")).content == b"next"
        assert server.connections == 1
        assert server.bodies == [b"", b"order", b"next"]
        await http.aclose()


async def test_start_without_an_idle_connection_writes_nothing() -> None:
    async with serve(echo) as (base, server):
        http = http_client(base)
        assert start(http, b"order") is None
        await trio.testing.wait_all_tasks_blocked()
        assert server.connections == 0  # not even a connect: the usual path does that
        await http.aclose()


async def test_start_is_not_taken_with_hooks_auth_or_another_transport() -> None:
    async with serve(echo) as (base, _):
        http = http_client(base)
        await request(http, "GET", "/warm")
        seen: list[str] = []

        async def hook(req: httpx.Request) -> None:
            seen.append(req.url.path)

        http.event_hooks["request"].append(hook)
        assert start(http, b"order") is None  # the hook must run
        http.event_hooks["request"].clear()
        http.auth = httpx.BasicAuth("user", "secret")
        assert start(http, b"order") is None  # auth must run
        http.auth = None  # type: ignore[assignment]  # httpx takes None (no auth); its stub does not
        started = start(http, b"plain")  # neither: it goes now
        assert started is not None
        assert (await finish_request(started)).content == b"plain"
        assert seen == []
        await http.aclose()
        core = http_client(base, transport="httpcore")
        await request(core, "GET", "/warm")
        assert start(core, b"order") is None
        await core.aclose()


async def test_a_request_larger_than_the_socket_buffer_is_finished_later() -> None:
    body = bytes(range(256)) * 40_000  # 10 MB: more than one send takes
    async with serve(echo) as (base, server):
        http = http_client(base, read_timeout_s=30.0, write_timeout_s=30.0)
        await request(http, "GET", "/warm")
        sent_at: list[int] = []

        async def trace(event: str, info: dict[str, Any]) -> None:
            if event == SENT:
                sent_at.append(info["sent_ns"])

        started = start(http, body, trace)
        returned_at = time.monotonic_ns()
        assert started is not None
        resp = await finish_request(started)
        assert resp.content == body
        assert server.bodies[-1] == body
        assert sent_at[0] > returned_at  # whole only once the rest was written
        await http.aclose()


async def test_a_started_request_without_a_reply_is_ambiguous_and_its_connection_dropped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def answer_once_then_hang(stream: trio.SocketStream, server: Server) -> None:
        conn = h11.Connection(h11.SERVER)
        await read_request(stream, conn)  # the warm-up: answered
        reply = conn.send(h11.Response(status_code=200, headers=[("content-length", "0")]))
        await stream.send_all(reply + (conn.send(h11.EndOfMessage()) or b""))
        conn.start_next_cycle()
        server.bodies.append(await read_request(stream, conn) or b"")  # the order: never
        await server.hold.wait()

    async with serve(answer_once_then_hang) as (base, server):
        http = http_client(base, read_timeout_s=1.0)
        await request(http, "GET", "/warm")
        started = start(http, b"order")
        assert started is not None
        with pytest.raises(Ambiguous, match="ReadTimeout"):
            await finish_request(started)
        assert server.bodies == [b"order"]  # it did reach the venue
        # the connection's state is unknown: never reused, the next request connects anew
        assert start(http, b"again") is None
        server.hold.set()
        await http.aclose()


# ------------------------------------------------------------------- executor


def two_legs(sim: SimVenue, opp: str, price: int = 990_000) -> ExecutionRequest:
    return ExecutionRequest(
        opportunity_id=opp,
        intents=(intent(opp, 0, poly_yes(sim), price), intent(opp, 1, kalshi_yes(sim), price)),
    )


async def warm(h: Harness) -> None:
    for client in h.clients.values():
        await client.warm()


@pytest.mark.slow
async def test_both_legs_are_written_in_one_step_and_executed_once(sim: SimVenue) -> None:
    h = Harness(sim)
    await warm(h)
    before = len(sim.exchange.orders)
    req = two_legs(sim, "now")
    sent = send_legs_now(req, h.runner, h.control)  # synchronous: no schedule point
    assert sent is not None
    assert sorted(sent) == [0, 1]
    with trio.fail_after(10):
        report = await execute_legs(req, h.runner, h.control, h.settings, sent)
    assert report.outcome is ExecutionOutcome.COMPLETE, report
    assert len(sim.exchange.orders) - before == 2  # each leg reached the venue once
    assert len(h.of(Fill)) == 2
    assert len(h.of(OrderFinal)) == 2
    assert h.runner.counters["sent"] == h.runner.counters["sent_now"] == 2
    await h.aclose()


@pytest.mark.slow
async def test_every_leg_is_built_before_the_first_write_and_the_writes_are_back_to_back(
    sim: SimVenue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second leg must not wait for the first leg's booking (its venue id, counters):
    both legs are readied, then written one after the other, then booked."""
    h = Harness(sim)
    await warm(h)
    events: list[str] = []
    for client in h.clients.values():
        cls = type(client)
        built = cls.order_parts

        def order_parts(self: Any, it: Any, built: Any = built) -> Any:
            events.append(f"build {it.leg_index}")
            return built(self, it)

        monkeypatch.setattr(cls, "order_parts", order_parts)
    write = ReadyRequest.write

    def written(self: ReadyRequest) -> StartedRequest:
        events.append("write")
        return write(self)

    monkeypatch.setattr(ReadyRequest, "write", written)
    req = two_legs(sim, "b2b")
    leg_of = {it.client_order_id: it.leg_index for it in req.intents}
    link = FillTracker.link

    def linked(self: FillTracker, coid: str, venue_order_id: str) -> None:
        events.append(f"book {leg_of[coid]}")
        link(self, coid, venue_order_id)

    monkeypatch.setattr(FillTracker, "link", linked)
    sent = send_legs_now(req, h.runner, h.control)
    assert sent is not None
    assert sorted(sent) == [0, 1]
    # Leg 0 is Polymarket (linked to its order hash when booked); leg 1 is Kalshi.
    assert events == ["build 0", "build 1", "write", "write", "book 0"]
    with trio.fail_after(10):
        report = await execute_legs(req, h.runner, h.control, h.settings, sent)
    assert report.outcome is ExecutionOutcome.COMPLETE, report
    await h.aclose()


@pytest.mark.slow
async def test_a_polymarket_leg_is_linked_to_the_venues_order_id_in_the_same_step(
    sim: SimVenue,
) -> None:
    """The order hash is computed after the write (off the order's way out) but before the
    step ends, so a user-channel fill that beats the REST reply still finds its order."""
    h = Harness(sim)
    await warm(h)
    req = two_legs(sim, "link")
    sent = send_legs_now(req, h.runner, h.control)
    assert sent is not None
    assert 0 in sent
    coid = req.intents[0].client_order_id
    linked = [v for v, c in h.runner.tracker.by_venue_order.items() if c == coid]
    assert len(linked) == 1
    with trio.fail_after(10):
        report = await execute_legs(req, h.runner, h.control, h.settings, sent)
    assert report.outcome is ExecutionOutcome.COMPLETE, report
    assert linked[0] in sim.exchange.orders  # the sim keys the order by the same hash
    await h.aclose()


@pytest.mark.slow
async def test_a_leg_whose_gate_is_not_ready_goes_the_usual_way(sim: SimVenue) -> None:
    h = Harness(sim)
    await warm(h)
    kalshi = h.runner.gates[kalshi_yes(sim).venue]
    kalshi.bucket.drain()  # no token now: that leg waits for one, in its own task
    req = two_legs(sim, "half")
    sent = send_legs_now(req, h.runner, h.control)
    assert sent is not None
    assert sorted(sent) == [0]
    with trio.fail_after(10):
        report = await execute_legs(req, h.runner, h.control, h.settings, sent)
    assert report.outcome is ExecutionOutcome.COMPLETE, report
    assert h.runner.counters["sent"] == 2
    assert h.runner.counters["sent_now"] == 1
    assert kalshi.bucket.waited == 1
    await h.aclose()


@pytest.mark.slow
async def test_nothing_is_written_when_the_execution_would_be_refused(sim: SimVenue) -> None:
    h = Harness(sim)
    await warm(h)
    before = len(sim.exchange.orders)
    h.control.halt("test")
    req = two_legs(sim, "halted")
    assert send_legs_now(req, h.runner, h.control) is None
    with trio.fail_after(10):
        report = await execute_legs(req, h.runner, h.control, h.settings, None)
    assert report.outcome is ExecutionOutcome.REFUSED
    assert len(h.of(OrderReject)) == 2
    assert len(sim.exchange.orders) == before
    assert "sent_now" not in h.runner.counters
    await h.aclose()


@pytest.mark.slow
async def test_a_rehearsal_builds_each_leg_as_it_was_written_and_sends_nothing(
    sim: SimVenue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``OrderRehearsal`` rebuilds the last execution's requests, head and body, of the
    size the executor wrote; the venue, the runner's counters, the rate limiters (tokens
    taken) and the Polymarket memo (a resend must be byte-identical) stay as they were."""
    h = Harness(sim)
    await warm(h)
    written: list[int] = []
    write = ReadyRequest.write

    def recorded(self: ReadyRequest) -> StartedRequest:
        written.append(len(self.data))
        return write(self)

    monkeypatch.setattr(ReadyRequest, "write", recorded)
    req = two_legs(sim, "rehearsed")
    sent = send_legs_now(req, h.runner, h.control)
    with trio.fail_after(10):
        report = await execute_legs(req, h.runner, h.control, h.settings, sent)
    assert report.outcome is ExecutionOutcome.COMPLETE, report
    assert len(written) == 2

    def state() -> tuple[object, ...]:
        poly = h.clients[Venue.POLYMARKET]
        assert isinstance(poly, PolymarketClient)
        return (
            len(sim.exchange.orders),
            dict(h.runner.counters),
            dict(poly._bodies),
            [g.bucket.acquired for g in h.runner.gates.values()],
        )

    before = state()
    rehearsal = OrderRehearsal(h.runner.gates)
    assert rehearsal() is False  # nothing to rehearse yet
    rehearsal.last = req
    for _ in range(100):
        assert rehearsal()
    assert rehearsal.runs == 100
    assert rehearsal.built_bytes == sum(written)
    await trio.testing.wait_all_tasks_blocked()
    assert state() == before
    await h.aclose()


async def test_a_rehearsal_that_fails_is_counted_and_dropped(sim: SimVenue) -> None:
    h = Harness(sim)
    rehearsal = OrderRehearsal(h.runner.gates, last=two_legs(sim, "bad", price=-1))
    assert rehearsal() is False  # a price no venue encodes: the build raises
    assert (rehearsal.failed, rehearsal.runs, rehearsal.last) == (1, 0, None)
    assert rehearsal() is False  # and is not tried again
    assert rehearsal.failed == 1
    await h.aclose()
