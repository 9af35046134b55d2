"""The order runner and two-leg execution against the simulated venue over loopback HTTP,
plain and over TLS (the sim's own CA): what was sent, not sent, ambiguous or rate limited
is classified the same on both."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio

from actors.observability.metrics import Metrics
from actors.sim import SimConfig, open_sim_venue
from actors.sim.config import FaultKind
from actors.sim.config import Venue as SimV
from actors.sim.venue import SimVenue
from actors.trading.fill_tracker import FillTracker
from actors.trading.http_clients import build_clients
from actors.trading.messages import (
    ExecutionOutcome,
    ExecutionRequest,
    OrderFinal,
    UnwindStarted,
)
from actors.trading.send_timing import SendTimes
from actors.trading.two_leg import execute_legs
from protocols.config.trading import ExecutorConfig, VenueExecConfig
from protocols.fixed import SIZE_ONE
from protocols.messages import (
    Fill,
    FillStatus,
    InstrumentId,
    Liquidity,
    OrderAmbiguous,
    OrderIntent,
    OrderReject,
    Outcome,
    Side,
    Venue,
)
from tests.trading.executor_harness import (
    Harness,
    forget_sim_ca,
    intent,
    kalshi_yes,
    poly_yes,
    trust_sim_ca,
)

pytestmark = pytest.mark.slow


@pytest.fixture(params=["plain", "tls"])
async def sim(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SimVenue]:
    """This module's sim: every test runs against it plain and over TLS (its own CA)."""
    tls = request.param == "tls"
    config = SimConfig(seed=7, markets=2, rate=20.0, window_rate=0.0, tls=tls)
    async with open_sim_venue(config) as venue:
        if venue.ca_pem is not None:
            ca = tmp_path / "sim-ca.pem"
            ca.write_bytes(venue.ca_pem)
            trust_sim_ca(venue, str(ca))
        try:
            yield venue
        finally:
            forget_sim_ca(venue)


async def test_two_leg_success(sim: SimVenue) -> None:
    h = Harness(sim)
    req = ExecutionRequest(
        opportunity_id="ok",
        intents=(
            intent("ok", 0, poly_yes(sim), 990_000),
            intent("ok", 1, kalshi_yes(sim), 990_000),
        ),
    )
    with trio.fail_after(10):
        report = await execute_legs(req, h.runner, h.control, h.settings)
    assert report.outcome is ExecutionOutcome.COMPLETE, report
    fills = h.of(Fill)
    assert sorted(f.instrument.venue for f in fills) == [Venue.KALSHI, Venue.POLYMARKET]
    assert all(f.size == 5 * SIZE_ONE for f in fills)
    assert len(h.of(OrderFinal)) == 2
    await h.aclose()


async def test_one_leg_fails_and_the_other_is_unwound(sim: SimVenue) -> None:
    h = Harness(sim)
    req = ExecutionRequest(
        opportunity_id="uw",
        intents=(
            intent("uw", 0, kalshi_yes(sim), 990_000),  # fills
            intent("uw", 1, poly_yes(sim), 10_000),  # FOK at 0.01 cannot fill
        ),
    )
    with trio.fail_after(10):
        report = await execute_legs(req, h.runner, h.control, h.settings)
    assert report.outcome is ExecutionOutcome.UNWOUND, report
    assert len(h.of(UnwindStarted)) >= 1
    rejects = h.of(OrderReject)
    assert [r.reason for r in rejects] == ["fok_not_filled"]
    # Flat again at the venue: bought 5 YES, sold 5 YES.
    key = f"{sim.markets[0].ticker}:yes"
    assert sim.exchange.kalshi.positions.get(key, 0) == 0
    await h.aclose()


async def test_unwind_stops_on_a_rejection_no_resend_can_cure(sim: SimVenue) -> None:
    """A Polymarket buy of 5 shares keeps 5 minus the fee in shares: below the venue's
    5-share minimum, so it cannot be sold back. The unwind sends it once and reports it
    naked, instead of hammering the venue with the same rejected order until the deadline."""
    h = Harness(sim)
    req = ExecutionRequest(
        opportunity_id="dust",
        intents=(
            intent("dust", 0, poly_yes(sim), 990_000),  # fills 5, keeps 5 - fee shares
            intent("dust", 1, kalshi_yes(sim), 10_000),  # FOK at 0.01 cannot fill
        ),
    )
    with trio.fail_after(10):
        report = await execute_legs(req, h.runner, h.control, h.settings)
    assert report.outcome is ExecutionOutcome.NAKED, report
    assert len(h.of(UnwindStarted)) == 1
    assert [r.reason for r in h.of(OrderReject)] == ["min_size"]  # the unwind, once
    await h.aclose()


async def test_dropped_response_is_ambiguous_and_resolved_without_duplicate(
    sim: SimVenue,
) -> None:
    h = Harness(sim)
    sim.faults.inject(FaultKind.REST_DROP_RESPONSE, venue=SimV.KALSHI, count=1)
    it = intent("amb", 0, kalshi_yes(sim), 990_000)
    with trio.fail_after(10):
        result = await h.runner.place(it)
    assert len(h.of(OrderAmbiguous)) == 1
    assert result.resolved
    assert result.filled == 5 * SIZE_ONE
    assert len(sim.exchange.kalshi_by_client(it.client_order_id)) == 1
    assert h.runner.counters["ambiguous_resolved"] == 1
    await h.aclose()


async def test_dropped_polymarket_response_resolved_by_order_hash(sim: SimVenue) -> None:
    h = Harness(sim)
    sim.faults.inject(FaultKind.REST_DROP_RESPONSE, venue=SimV.POLYMARKET, count=1)
    it = intent("pamb", 0, poly_yes(sim), 990_000)
    with trio.fail_after(10):
        result = await h.runner.place(it)
    assert result.resolved
    assert result.filled == 5 * SIZE_ONE
    poly_orders = [o for o in sim.exchange.orders.values() if o.venue == "polymarket"]
    assert len(poly_orders) == 1
    await h.aclose()


async def test_500_then_lookup_then_same_id_resend(sim: SimVenue) -> None:
    h = Harness(sim)
    sim.faults.inject(FaultKind.REST_500, venue=SimV.KALSHI, count=1)
    it = intent("5xx", 0, kalshi_yes(sim), 990_000)
    with trio.fail_after(10):
        result = await h.runner.place(it)
    assert result.filled == 5 * SIZE_ONE
    assert h.runner.counters["ambiguous_not_found"] == 1
    assert len(sim.exchange.kalshi_by_client(it.client_order_id)) == 1
    await h.aclose()


async def test_timeout_is_ambiguous_not_failed(sim: SimVenue) -> None:
    h = Harness(sim)
    sim.faults.inject(FaultKind.REST_TIMEOUT, venue=SimV.KALSHI, count=1, duration=1.0)
    it = intent("slow", 0, kalshi_yes(sim), 990_000)
    with trio.fail_after(10):
        result = await h.runner.place(it)
    assert len(h.of(OrderAmbiguous)) == 1
    assert result.filled == 5 * SIZE_ONE
    assert len(sim.exchange.kalshi_by_client(it.client_order_id)) == 1
    await h.aclose()


async def test_429_opens_breaker_without_retry_storm(sim: SimVenue) -> None:
    h = Harness(sim)
    sim.faults.inject(FaultKind.REST_429, venue=SimV.KALSHI, count=1)
    with trio.fail_after(10):
        result = await h.runner.place(intent("rl", 0, kalshi_yes(sim), 990_000))
        assert result.reason == "rate_limited"
        assert h.runner.counters["sent"] == 1
        # The breaker refuses the next execution locally, before either leg is sent.
        req = ExecutionRequest(
            opportunity_id="rl2",
            intents=(
                intent("rl2", 0, poly_yes(sim), 990_000),
                intent("rl2", 1, kalshi_yes(sim), 990_000),
            ),
        )
        report = await execute_legs(req, h.runner, h.control, h.settings)
    assert report.outcome is ExecutionOutcome.REFUSED
    assert "breaker open" in report.detail
    assert h.runner.counters["sent"] == 1
    assert not [o for o in sim.exchange.orders.values() if o.venue == "polymarket"]
    await h.aclose()


async def test_an_untrusted_certificate_is_not_sent(tmp_path: Path) -> None:
    config = SimConfig(seed=7, markets=2, rate=20.0, window_rate=0.0, tls=True)
    async with open_sim_venue(config) as venue:
        h = Harness(venue)  # no CA file: the sim's certificate is not trusted
        assert h.cfg.http.ca_file == ""
        it = intent("tls", 0, kalshi_yes(venue), 990_000)
        with trio.fail_after(10):
            result = await h.runner.place(it)
        assert result.reason == "transport_error"
        assert h.of(OrderReject)[0].venue_code.startswith("ConnectError")  # the handshake
        assert not venue.exchange.orders
        await h.aclose()


async def test_halted_refuses_before_sending(sim: SimVenue) -> None:
    h = Harness(sim)
    h.control.halt("test")
    req = ExecutionRequest(
        opportunity_id="h",
        intents=(intent("h", 0, poly_yes(sim), 990_000), intent("h", 1, kalshi_yes(sim), 990_000)),
    )
    report = await execute_legs(req, h.runner, h.control, h.settings)
    assert report.outcome is ExecutionOutcome.REFUSED
    assert not sim.exchange.orders
    await h.aclose()


def test_fill_dedup_by_id_and_watermark() -> None:
    tracker = FillTracker()
    inst = InstrumentId(venue=Venue.KALSHI, symbol="T", outcome=Outcome.YES)
    it = intent("d", 0, inst, 500_000)
    from actors.trading.venue_clients import OrderStatus
    from protocols.messages import OrderState

    status = OrderStatus(
        it.client_order_id, "v1", inst, OrderState.FILLED, it.size, it.size, 500_000, 10_000
    )
    first = tracker.from_status(it, status)
    assert first is not None
    assert first.size == it.size
    assert tracker.from_status(it, status) is None  # same report again
    chan = Fill(
        fill_id="t1",
        venue_order_id="v1",
        client_order_id=it.client_order_id,
        instrument=inst,
        side=Side.BUY,
        price=500_000,
        size=it.size,
        fee=0,
        liquidity=Liquidity.TAKER,
        status=FillStatus.MATCHED,
        venue_ts_ms=0,
        recv_ns=0,
    )
    assert tracker.from_channel(chan) is None  # already counted from REST
    assert tracker.from_channel(chan) is None
    assert tracker.duplicates == 1
    assert tracker.absorbed == 1


def test_paper_config_builds_clients_for_enabled_venues() -> None:
    cfg = ExecutorConfig(
        polymarket=VenueExecConfig(enabled=False),
        kalshi=VenueExecConfig(rest_url="http://127.0.0.1:1/trade-api/v2"),
    )
    assert set(build_clients(cfg)) == {Venue.KALSHI}


async def test_send_times_are_taken_when_the_request_is_written(sim: SimVenue) -> None:
    """tick -> order is stopped by httpcore's trace when the request is on the socket:
    after the trigger tick and the detection, before the venue's answer is handled."""
    h = Harness(sim)
    metrics = Metrics(run_id="t")
    timing = SendTimes(metrics=metrics)
    for client in h.clients.values():
        client.send_times = timing
    t_detect = time.monotonic_ns()
    t_tick = t_detect - 2_000_000  # the trigger tick arrived 2 ms before detection

    def timed(leg: int, inst: InstrumentId) -> OrderIntent:
        return msgspec.structs.replace(
            intent("timed", leg, inst, 990_000), trigger_recv_ns=t_tick, detect_ns=t_detect
        )

    req = ExecutionRequest(
        opportunity_id="timed", intents=(timed(0, poly_yes(sim)), timed(1, kalshi_yes(sim)))
    )
    with trio.fail_after(10):
        report = await execute_legs(req, h.runner, h.control, h.settings)
    done = time.monotonic_ns()
    assert report.outcome is ExecutionOutcome.COMPLETE, report
    assert timing.sent == 2
    ticks = list(timing.tick_to_order_ns)
    assert len(ticks) == 2
    assert all(t_detect - t_tick <= t <= done - t_tick for t in ticks)
    assert len(timing.detect_to_order_ns) == 1  # the first leg's only
    scrape = metrics.exposition().decode()
    assert "arbtree_tick_to_order_seconds_count 2.0" in scrape
    assert "arbtree_opportunity_to_order_seconds_count 1.0" in scrape
    assert 'arbtree_order_round_trip_seconds_count{venue="kalshi"} 1.0' in scrape
    assert 'arbtree_order_round_trip_seconds_count{venue="polymarket"} 1.0' in scrape
    stats = timing.statistics()
    assert stats["orders_sent"] == 2
    assert stats["tick_to_order_us"]["p50"] is not None
    await h.aclose()


class _Events(SendTimes):
    """Records the httpcore trace events of each order request."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []

    def trace_for(self, intent: OrderIntent) -> Any:
        inner = super().trace_for(intent)

        async def trace(event: str, info: dict[str, Any]) -> None:
            self.events.append(event)
            await inner(event, info)

        return trace


@pytest.mark.parametrize("warmed", [False, True])
async def test_a_warmed_connection_spares_the_order_a_tcp_connect(
    sim: SimVenue, warmed: bool
) -> None:
    h = Harness(sim)
    events = _Events()
    kalshi = h.clients[Venue.KALSHI]
    kalshi.send_times = events
    if warmed:
        await kalshi.warm()
    with trio.fail_after(10):
        result = await h.runner.place(intent(f"warm{warmed}", 0, kalshi_yes(sim), 990_000))
    assert result.resolved
    assert ("connection.connect_tcp.started" in events.events) is not warmed
    assert "http11.send_request_body.complete" in events.events
    await h.aclose()
