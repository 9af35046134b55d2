"""Unwinds and cancels are never blocked: an open circuit breaker, an empty token bucket
or a HALTED ladder let a reduce-only order out; an unwind that cannot complete within
``max_leg_delay`` is owed, retried with backoff until flat, and shown until then; the
operator's flatten unwinds every owed leg at once, at any price. Against the simulated
venue over loopback HTTP, on trio's virtual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

from actors.sim.config import FaultKind, SimConfig
from actors.sim.config import Venue as SimV
from actors.sim.venue import SimVenue, open_sim_venue
from actors.trading.ladder import TradingState
from actors.trading.messages import ExecutionOutcome, ExecutionRequest
from actors.trading.retry import RelookupPolicy
from actors.trading.two_leg import execute_legs
from actors.trading.unwind import unwind
from protocols.fixed import SIZE_ONE
from protocols.messages import OrderReject, Venue
from tests.trading.executor_harness import Harness, intent, kalshi_yes, poly_yes

pytestmark = pytest.mark.slow


@pytest.fixture
async def sim(autojump_clock: trio.testing.MockClock) -> AsyncIterator[SimVenue]:
    async with open_sim_venue(SimConfig(seed=7, markets=2, rate=20.0, window_rate=0.0)) as venue:
        yield venue


def kalshi_held(sim: SimVenue) -> int:
    return sim.exchange.kalshi.positions.get(f"{kalshi_yes(sim).symbol}:yes", 0)


async def test_unwind_passes_an_open_breaker_an_empty_bucket_and_a_halt(sim: SimVenue) -> None:
    h = Harness(sim)
    leg = await h.runner.place(intent("brk", 0, kalshi_yes(sim), 990_000))
    assert leg.filled == 5 * SIZE_ONE
    gate = h.runner.gates[Venue.KALSHI]
    gate.breaker.trip(600.0, "five failures")  # open for ten minutes
    gate.bucket.drain()
    h.control.halt("operator halt")
    assert h.control.state is TradingState.HALTED
    deadline = trio.current_time() + h.settings.max_leg_delay_s
    with trio.fail_after(10):
        left = await unwind(leg, leg.filled, h.runner, h.control, h.settings, deadline)
    assert left == 0
    assert kalshi_held(sim) == 0
    assert not [r for r in h.of(OrderReject) if r.reason == "breaker_open"]
    assert h.runner.counters["unwind_past_breaker"] == 1
    await h.aclose()


async def naked_execution(h: Harness, sim: SimVenue, oid: str) -> None:
    """Kalshi leg fills, Polymarket leg cannot (FOK at 0.01); the unwind's order and its
    lookups answer 500: the leg is left naked and owed (and the unwind order parked)."""
    req = ExecutionRequest(
        opportunity_id=oid,
        intents=(
            intent(oid, 0, kalshi_yes(sim), 990_000),
            intent(oid, 1, poly_yes(sim), 10_000),
        ),
    )

    async def place_then_fail() -> None:
        # The Kalshi leg's reply arrives; then its venue fails every request for a while.
        while not kalshi_held(sim):  # noqa: ASYNC110 - the venue's state
            await trio.sleep(0.001)
        sim.faults.inject(FaultKind.REST_500, venue=SimV.KALSHI, count=6)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(place_then_fail)
        report = await execute_legs(req, h.runner, h.control, h.settings)
    assert report.outcome is ExecutionOutcome.NAKED, report


async def test_a_naked_leg_is_retried_with_backoff_until_flat(sim: SimVenue) -> None:
    h = Harness(sim)
    h.runner.relookup = RelookupPolicy(interval_s=1.0, max_s=8.0, jitter=0.0)
    with trio.fail_after(120):
        await naked_execution(h, sim, "naked")
        held = kalshi_held(sim)
        assert held > 0
        owed = h.runner.store.owed
        assert list(owed)
        assert owed[next(iter(owed))].left == held
        assert h.runner.store.statistics()["naked_shares"] == held
        async with trio.open_nursery() as nursery:
            nursery.start_soon(h.runner.unwind_loop)
            nursery.start_soon(h.runner.relookup_loop)
            while owed:  # noqa: ASYNC110 - virtual time
                await trio.sleep(0.1)
            nursery.cancel_scope.cancel()
    assert kalshi_held(sim) == 0
    assert h.runner.store.statistics()["naked_legs"] == 0
    # The parked unwind order was resolved (never placed) before a new one was sent.
    assert h.runner.counters["relookup_not_found"] == 1
    assert h.runner.counters["unwind_retries"] == 1
    assert h.runner.counters["unwinds_recovered"] == 1
    await h.aclose()


async def test_flatten_unwinds_every_owed_leg_at_once(sim: SimVenue) -> None:
    h = Harness(sim)
    h.runner.relookup = RelookupPolicy(interval_s=3600.0, max_s=3600.0, jitter=0.0)
    with trio.fail_after(120):
        await naked_execution(h, sim, "flat")
        assert kalshi_held(sim) > 0
        sim.faults.clear()  # the venue is back; the next retry is an hour away
        for parked in list(h.runner.unresolved.values()):
            await h.runner.relookup_once(parked)  # the parked unwind order: never placed
        left = await h.runner.flatten()
    assert list(left.values()) == [0]  # the one owed leg, flat
    assert kalshi_held(sim) == 0
    assert not h.runner.store.owed
    await h.aclose()


async def test_an_unwind_that_resolves_late_is_taken_off_what_is_owed(sim: SimVenue) -> None:
    """The unwind order executes but its reply is lost and its lookups fail: the leg is
    owed in full, its retry waits for the re-lookup, and when that finds the unwind filled
    the debt is settled: no second unwind (no overshoot)."""
    h = Harness(sim)
    h.runner.relookup = RelookupPolicy(interval_s=1.0, max_s=8.0, jitter=0.0)
    req = ExecutionRequest(
        opportunity_id="late",
        intents=(
            intent("late", 0, kalshi_yes(sim), 990_000),
            intent("late", 1, poly_yes(sim), 10_000),
        ),
    )

    async def then_lose_the_unwinds_reply() -> None:
        while not kalshi_held(sim):  # noqa: ASYNC110 - the venue's state
            await trio.sleep(0.001)
        sim.faults.inject(FaultKind.REST_DROP_RESPONSE, venue=SimV.KALSHI, count=1)
        sim.faults.inject(FaultKind.REST_500, venue=SimV.KALSHI, count=3)

    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(then_lose_the_unwinds_reply)
            report = await execute_legs(req, h.runner, h.control, h.settings)
        assert report.outcome is ExecutionOutcome.NAKED, report
        assert kalshi_held(sim) == 0  # the unwind did sell, unknown to us yet
        assert len(h.runner.store.owed) == 1
        async with trio.open_nursery() as nursery:
            nursery.start_soon(h.runner.unwind_loop)
            nursery.start_soon(h.runner.relookup_loop)
            while h.runner.store.owed:  # noqa: ASYNC110 - virtual time
                await trio.sleep(0.1)
            nursery.cancel_scope.cancel()
    unwinds = [o for o in sim.exchange.orders.values() if o.client_order_id.startswith("unw-")]
    assert len(unwinds) == 1
    assert h.runner.counters["relookup_resolved"] == 1
    assert h.runner.counters.get("unwind_retries", 0) == 0
    assert h.runner.counters["unwinds_recovered"] == 1
    await h.aclose()
