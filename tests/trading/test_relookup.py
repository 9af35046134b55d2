"""AMBIGUOUS orders whose lookups all failed are looked up again on a timer (with backoff)
until the venue answers; the outcome is emitted as a normal resolution would emit it, so
the fund manager books or releases the reservation exactly once, and the order is never
resent. Against the simulated venue over loopback HTTP, on trio's virtual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
import trio
import trio.testing

from actors.sim.config import FaultKind, SimConfig
from actors.sim.config import Venue as SimV
from actors.sim.venue import SimVenue, open_sim_venue
from actors.trading.control import TradingControl
from actors.trading.executor import Executor
from actors.trading.fund_core import FundCore
from actors.trading.http_clients import build_clients
from actors.trading.ladder import TradingState
from actors.trading.ledger import OrderPhase
from actors.trading.messages import (
    ExecutionOutcome,
    ExecutionReport,
    ExecutionRequest,
    ExecutorCommand,
    ExecutorOutcomeMsg,
    OrderFinal,
    UnwindStarted,
)
from actors.trading.retry import RelookupPolicy
from actors.trading.two_leg import execute_legs
from actors.trading.venue_clients import VenueClient
from protocols.config.trading import RelookupConfig
from protocols.fixed import SIZE_ONE
from protocols.messages import (
    Fill,
    InstrumentId,
    OpportunityLeg,
    OrderAck,
    OrderAmbiguous,
    OrderIntent,
    OrderReject,
    OrderState,
    Outcome,
    Side,
)
from supervision import Mailbox, OverflowPolicy
from tests.step_counter import StepCounter
from tests.trading.executor_harness import (
    Harness,
    actor_context,
    exec_config,
    intent,
    kalshi_yes,
    poly_yes,
)
from tests.trading.helpers import core, opp

INTERVAL = 1.0


@pytest.fixture
async def sim(autojump_clock: trio.testing.MockClock) -> AsyncIterator[SimVenue]:
    async with open_sim_venue(SimConfig(seed=7, markets=2, rate=20.0, window_rate=0.0)) as venue:
        yield venue


class Recorder:
    """Delegates to a venue client, noting when each lookup was made (virtual time)."""

    def __init__(self, inner: VenueClient) -> None:
        self.inner = inner
        self.venue = inner.venue
        self.lookups: list[float] = []

    async def lookup(self, client_order_id: str, instrument: InstrumentId) -> Any:
        self.lookups.append(trio.current_time())
        return await self.inner.lookup(client_order_id, instrument)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def harness(sim: SimVenue) -> tuple[Harness, Recorder]:
    h = Harness(sim)
    h.runner.relookup = RelookupPolicy(interval_s=INTERVAL, max_s=30.0, jitter=0.0)
    gate = h.runner.gates[kalshi_yes(sim).venue]
    rec = Recorder(gate.client)
    gate.client = rec
    return h, rec


def reserved_kalshi_leg(sim: SimVenue) -> tuple[FundCore, OrderIntent]:
    """A fund core that accepted an opportunity: the Kalshi leg holds a real reservation."""
    c = core()
    legs = (
        OpportunityLeg(
            instrument=kalshi_yes(sim), side=Side.BUY, limit_price=990_000, size=5 * SIZE_ONE
        ),
        OpportunityLeg(
            instrument=poly_yes(sim), side=Side.BUY, limit_price=10_000, size=5 * SIZE_ONE
        ),
    )
    req = c.decide(opp(legs=legs))
    assert isinstance(req, ExecutionRequest), req
    return c, req.intents[0]


async def resolved(h: Harness) -> None:
    while h.runner.unresolved:  # noqa: ASYNC110 - virtual time: each sleep is a clock jump
        await trio.sleep(0.1)


async def test_unresolved_fill_is_found_by_a_relookup_and_booked_once(
    sim: SimVenue, autojump_clock: trio.testing.MockClock
) -> None:
    h, rec = harness(sim)
    c, it = reserved_kalshi_leg(sim)
    # The order executes but its reply is lost; every lookup (3 attempts) fails too.
    sim.faults.inject(FaultKind.REST_DROP_RESPONSE, venue=SimV.KALSHI, count=1)
    sim.faults.inject(FaultKind.REST_500, venue=SimV.KALSHI, count=3)
    with trio.fail_after(60):
        result = await h.runner.place(it)
        assert not result.resolved
        assert result.state is OrderState.AMBIGUOUS
        assert list(h.runner.unresolved) == [it.client_order_id]
        assert len(rec.lookups) == 3
        for msg in h.out:
            c.on_outcome(msg)
        assert c.ledger.orders[it.client_order_id].phase is OrderPhase.AMBIGUOUS
        parked_at = trio.current_time()
        before = list(h.out)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(h.runner.relookup_loop)
            await resolved(h)
            nursery.cancel_scope.cancel()
    assert rec.lookups[-1] - parked_at == pytest.approx(INTERVAL, abs=0.05)
    new = h.out[len(before) :]
    assert [type(m) for m in new] == [OrderAck, Fill, OrderFinal]
    assert new[1].size == 5 * SIZE_ONE
    assert new[2].state is OrderState.FILLED
    # Never resent: the venue holds exactly one order with this client order id.
    assert len(sim.exchange.kalshi_by_client(it.client_order_id)) == 1
    assert h.runner.counters["relookup_resolved"] == 1
    assert h.runner.counters["relookup_attempts"] == 1
    # The fund manager books the fill and releases the rest of the reservation once.
    for msg in new + new:  # a repeat delivery must change nothing
        c.on_outcome(msg)
    order = c.ledger.orders[it.client_order_id]
    assert order.phase is OrderPhase.DONE
    assert order.reserved == 0
    assert c.ledger.positions[it.instrument].size == 5 * SIZE_ONE
    assert c.ledger.fills_applied == 1
    assert c.ledger.conserved()
    await h.aclose()


async def test_relookups_back_off_until_the_venue_answers(
    sim: SimVenue, autojump_clock: trio.testing.MockClock
) -> None:
    h, rec = harness(sim)
    it = intent("backoff", 0, kalshi_yes(sim), 990_000)
    sim.faults.inject(FaultKind.REST_DROP_RESPONSE, venue=SimV.KALSHI, count=1)
    sim.faults.inject(FaultKind.REST_500, venue=SimV.KALSHI, count=3 + 3)  # 3 re-lookups fail
    with trio.fail_after(60):
        result = await h.runner.place(it)
        assert not result.resolved
        parked_at = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(h.runner.relookup_loop)
            await resolved(h)
            nursery.cancel_scope.cancel()
    relookups = rec.lookups[3:]
    gaps = [b - a for a, b in zip([parked_at, *relookups], relookups, strict=False)]
    assert gaps == pytest.approx([1.0, 2.0, 4.0, 8.0], abs=0.05)
    assert h.runner.counters["relookup_failed"] == 3
    assert h.runner.counters["relookup_resolved"] == 1
    assert len(sim.exchange.kalshi_by_client(it.client_order_id)) == 1
    await h.aclose()


async def test_unknown_to_the_venue_is_released_not_resent(
    sim: SimVenue, autojump_clock: trio.testing.MockClock
) -> None:
    h, _ = harness(sim)
    c, it = reserved_kalshi_leg(sim)
    cash_before = c.ledger.cash[it.instrument.venue] + it.reserved
    # The request is held and dropped before the venue executes it; lookups fail.
    sim.faults.inject(FaultKind.REST_TIMEOUT, venue=SimV.KALSHI, count=1, duration=5.0)
    sim.faults.inject(FaultKind.REST_500, venue=SimV.KALSHI, count=3)
    with trio.fail_after(60):
        result = await h.runner.place(it)
        assert not result.resolved
        async with trio.open_nursery() as nursery:
            nursery.start_soon(h.runner.relookup_loop)
            await resolved(h)
            nursery.cancel_scope.cancel()
    rejects = h.of(OrderReject)
    assert [r.reason for r in rejects] == ["not_placed"]
    assert h.runner.counters["relookup_not_found"] == 1
    assert not sim.exchange.kalshi_by_client(it.client_order_id)  # never resent
    assert h.runner.counters["sent"] == 1
    for msg in h.out:
        c.on_outcome(msg)
    assert c.ledger.orders[it.client_order_id].phase is OrderPhase.DONE
    assert c.ledger.cash[it.instrument.venue] == cash_before
    assert c.ledger.conserved()
    await h.aclose()


async def test_executor_actor_keeps_resolving_after_the_execution_reported_ambiguous(
    sim: SimVenue,
    autojump_clock: trio.testing.MockClock,
) -> None:
    base = exec_config(sim)
    cfg = msgspec.structs.replace(
        base,
        ambiguous_lookup_attempts=2,
        relookup=RelookupConfig(interval_s=INTERVAL, max_s=30.0, jitter=0.0),
        # the faults count requests: no keep-warm reads in between
        http=msgspec.structs.replace(base.http, keep_warm_s=0.0),
    )
    control = TradingControl()
    intents: Mailbox[ExecutorCommand] = Mailbox("i", 8, OverflowPolicy.BLOCK)
    outcomes: Mailbox[ExecutorOutcomeMsg] = Mailbox("o", 256, OverflowPolicy.BLOCK)
    ex = Executor(
        config=cfg,
        control=control,
        intents=intents,
        outcomes=outcomes,
        clients=lambda: build_clients(cfg),
    )
    a = intent("ex", 0, kalshi_yes(sim), 990_000)
    b = intent("ex", 1, poly_yes(sim), 990_000)
    sim.faults.inject(FaultKind.REST_DROP_RESPONSE, venue=SimV.KALSHI, count=1)
    sim.faults.inject(FaultKind.REST_500, venue=SimV.KALSHI, count=2 + 1)
    seen: list[Any] = []
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(ex.run, actor_context("trading.executor", intents))
            await intents.send(ExecutionRequest(opportunity_id="ex", intents=(a, b)))
            while not any(
                isinstance(m, OrderFinal) and m.client_order_id == a.client_order_id for m in seen
            ):
                seen.append(await outcomes.receive())
            nursery.cancel_scope.cancel()
    reports = [m for m in seen if isinstance(m, ExecutionReport)]
    assert [r.outcome for r in reports] == [ExecutionOutcome.AMBIGUOUS]
    after = seen[seen.index(reports[0]) + 1 :]
    assert [type(m) for m in after] == [OrderAck, Fill, OrderFinal]
    assert all(m.client_order_id == a.client_order_id for m in after)
    assert sum(isinstance(m, OrderAmbiguous) for m in seen) == 1
    stats = ex.statistics()
    assert stats["unresolved"] == 0
    assert stats["relookup"] == {"attempts": 2, "failed": 1, "resolved": 1, "not_found": 0}
    assert len(sim.exchange.kalshi_by_client(a.client_order_id)) == 1
    assert control.state is TradingState.ACTIVE  # the fund manager, not the executor, reduces


async def test_ambiguous_leg_flattens_the_known_legs_and_is_hedged_on_resolution(
    sim: SimVenue, autojump_clock: trio.testing.MockClock
) -> None:
    """Never a known naked leg beyond max_leg_delay: when one leg's outcome stays unknown,
    the legs that filled are unwound at once, and the unknown leg is unwound in turn when
    a re-lookup finds that it filled. Both venues' accounts end flat."""
    h, _ = harness(sim)
    poly, kalshi = poly_yes(sim), kalshi_yes(sim)
    req = ExecutionRequest(
        opportunity_id="amb",
        intents=(
            intent("amb", 0, poly, 990_000, size=10 * SIZE_ONE),
            intent("amb", 1, kalshi, 990_000, size=10 * SIZE_ONE),
        ),
    )
    # The Kalshi order executes but its reply is lost, and its 3 lookups fail.
    sim.faults.inject(FaultKind.REST_DROP_RESPONSE, venue=SimV.KALSHI, count=1)
    sim.faults.inject(FaultKind.REST_500, venue=SimV.KALSHI, count=3)
    kalshi_coid = req.intents[1].client_order_id
    with trio.fail_after(60):
        report = await execute_legs(req, h.runner, h.control, h.settings)
        assert report.outcome is ExecutionOutcome.AMBIGUOUS
        # The Polymarket leg filled and was sold back within max_leg_delay.
        # (10 shares bought; without the user channel the fee taken in shares is estimated
        # at its worst case, so a dust remainder of a few hundredths may stay)
        assert sim.exchange.poly.positions.get(poly.symbol, 0) < SIZE_ONE // 10
        assert [u.intent.instrument for u in h.of(UnwindStarted)] == [poly]
        assert list(h.runner.pending_hedges) == [kalshi_coid]
        # Meanwhile the venue holds the Kalshi contracts we could not see.
        held = f"{kalshi.symbol}:yes"
        assert sim.exchange.kalshi.positions.get(held, 0) == 10 * SIZE_ONE
        async with trio.open_nursery() as nursery:
            nursery.start_soon(h.runner.relookup_loop)
            await resolved(h)
            while h.runner.pending_hedges or len(h.of(UnwindStarted)) < 2:  # noqa: ASYNC110
                await trio.sleep(0.1)
            nursery.cancel_scope.cancel()
    assert [u.intent.instrument for u in h.of(UnwindStarted)] == [poly, kalshi]
    assert sim.exchange.kalshi.positions.get(held, 0) == 0
    assert h.runner.counters["resolution_unwinds"] == 1
    assert "resolution_naked" not in h.runner.counters
    await h.aclose()


async def test_ambiguous_leg_that_never_filled_leaves_nothing_to_hedge(
    sim: SimVenue, autojump_clock: trio.testing.MockClock
) -> None:
    h, _ = harness(sim)
    poly, kalshi = poly_yes(sim), kalshi_yes(sim)
    req = ExecutionRequest(
        opportunity_id="amb0",
        intents=(
            intent("amb0", 0, poly, 990_000, size=10 * SIZE_ONE),
            intent("amb0", 1, kalshi, 990_000, size=10 * SIZE_ONE),
        ),
    )
    # REST_TIMEOUT holds the Kalshi request unanswered and never executes it; the lookups
    # fail, so its outcome stays unknown until a re-lookup finds no such order.
    sim.faults.inject(FaultKind.REST_TIMEOUT, venue=SimV.KALSHI, count=1)
    sim.faults.inject(FaultKind.REST_500, venue=SimV.KALSHI, count=3)
    with trio.fail_after(60):
        report = await execute_legs(req, h.runner, h.control, h.settings)
        assert report.outcome is ExecutionOutcome.AMBIGUOUS
        async with trio.open_nursery() as nursery:
            nursery.start_soon(h.runner.relookup_loop)
            await resolved(h)
            nursery.cancel_scope.cancel()
    assert not h.runner.pending_hedges
    assert [u.intent.instrument for u in h.of(UnwindStarted)] == [poly]  # only the known leg
    assert sim.exchange.kalshi.positions.get(f"{kalshi.symbol}:yes", 0) == 0
    await h.aclose()


def warm_executor(
    sim: SimVenue, *, direct: bool = True, **http: int
) -> tuple[Executor, Mailbox[ExecutorCommand], Mailbox[ExecutorOutcomeMsg]]:
    """An executor on the sim keeping connections warm every 5 s (``http`` overrides)."""
    base = exec_config(sim)
    cfg = msgspec.structs.replace(
        base, http=msgspec.structs.replace(base.http, keep_warm_s=5.0, **http), direct=direct
    )
    intents: Mailbox[ExecutorCommand] = Mailbox("i", 8, OverflowPolicy.BLOCK)
    outcomes: Mailbox[ExecutorOutcomeMsg] = Mailbox("o", 256, OverflowPolicy.BLOCK)
    ex = Executor(
        config=cfg,
        control=TradingControl(),
        intents=intents,
        outcomes=outcomes,
        clients=lambda: build_clients(cfg),
    )
    return ex, intents, outcomes


async def test_executor_keeps_a_connection_warm_per_venue(
    sim: SimVenue, autojump_clock: trio.testing.MockClock
) -> None:
    ex, intents, _ = warm_executor(sim)
    cfg = ex.config
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(ex.run, actor_context("trading.executor", intents))
            per_round = 2 * cfg.http.keep_warm_connections  # two venues
            await trio.sleep(1.0)
            assert ex.statistics()["warm_reads"] == per_round  # at start
            await trio.sleep(5.0)
            assert ex.statistics()["warm_reads"] == 2 * per_round  # and every keep_warm_s
            sim.faults.inject(FaultKind.REST_500, venue=SimV.KALSHI, count=1)
            await trio.sleep(5.0)
            stats = ex.statistics()
            # counted, not fatal
            assert (stats["warm_reads"], stats["warm_failures"]) == (3 * per_round - 1, 1)
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("warm_connections", [1, 2])
async def test_both_legs_on_one_venue_find_a_warm_connection(
    sim: SimVenue, autojump_clock: trio.testing.MockClock, warm_connections: int
) -> None:
    """A complement execution sends both legs to one venue: with two connections kept warm
    both are written from the executor's step; with one, the second leg connects."""
    ex, intents, outcomes = warm_executor(sim, keep_warm_connections=warm_connections)
    m = sim.markets[0]
    no = InstrumentId(venue=poly_yes(sim).venue, symbol=m.no_token, outcome=Outcome.NO)
    req = ExecutionRequest(
        opportunity_id="cpl",
        intents=(intent("cpl", 0, poly_yes(sim), 990_000), intent("cpl", 1, no, 990_000)),
    )
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(ex.run, actor_context("trading.executor", intents))
            await trio.sleep(1.0)  # warmed
            await intents.send(req)
            while not isinstance(await outcomes.receive(), ExecutionReport):
                pass
            nursery.cancel_scope.cancel()
    assert ex.runner is not None
    assert ex.runner.counters["sent"] == 2
    assert ex.runner.counters.get("sent_now", 0) == warm_connections


@pytest.mark.parametrize("direct", [True, False])
async def test_two_executions_at_once_on_one_venue_find_warm_connections_by_default(
    sim: SimVenue, autojump_clock: trio.testing.MockClock, direct: bool
) -> None:
    """A window often triggers two executions in one step (complement and cross-venue):
    with direct dispatch both are written from the sender's step (the executor's task
    takes no step for them); queued, the executor takes both in one step (no scheduler
    round between them). Either way, with the default warm connections, all four legs on
    one venue are written at once; none connects."""
    ex, intents, outcomes = warm_executor(sim, direct=direct)
    venue = poly_yes(sim).venue
    reqs = []
    for n, m in enumerate(sim.markets[:2]):
        yes = InstrumentId(venue=venue, symbol=m.yes_token, outcome=Outcome.YES)
        no = InstrumentId(venue=venue, symbol=m.no_token, outcome=Outcome.NO)
        opp = f"cpl{n}"
        reqs.append(
            ExecutionRequest(
                opportunity_id=opp,
                intents=(intent(opp, 0, yes, 990_000), intent(opp, 1, no, 990_000)),
            )
        )
    reports = 0
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(ex.run, actor_context("trading.executor", intents))
            await trio.sleep(1.0)  # warmed
            counter = StepCounter.named("Executor.run")
            trio.lowlevel.add_instrument(counter)
            for req in reqs:  # both queued before the executor's next step
                intents.send_nowait(req)
            while reports < 2:
                reports += isinstance(await outcomes.receive(), ExecutionReport)
            trio.lowlevel.remove_instrument(counter)
            nursery.cancel_scope.cancel()
    assert counter.steps == (0 if direct else 1)
    assert intents.statistics().direct == (2 if direct else 0)
    assert ex.runner is not None
    assert ex.runner.counters["sent"] == ex.runner.counters.get("sent_now", 0) == 4


async def test_a_polymarket_order_body_is_kept_only_while_it_may_be_looked_up(
    sim: SimVenue, autojump_clock: trio.testing.MockClock
) -> None:
    """The memoized signed body (same bytes on a resend, its hash for lookups) goes when the
    order is final, and stays while an AMBIGUOUS order waits for a re-lookup."""
    h = Harness(sim)
    h.runner.relookup = RelookupPolicy(interval_s=INTERVAL, max_s=30.0, jitter=0.0)
    poly = h.clients[poly_yes(sim).venue]
    memo = poly._bodies  # type: ignore[union-attr]
    with trio.fail_after(60):
        done = intent("memo", 0, poly_yes(sim), 990_000)
        result = await h.runner.place(done)
        assert result.resolved
        assert result.state is OrderState.FILLED
        assert done.client_order_id not in memo
        lost = intent("memo", 1, poly_yes(sim), 990_000)
        sim.faults.inject(FaultKind.REST_DROP_RESPONSE, venue=SimV.POLYMARKET, count=1)
        sim.faults.inject(FaultKind.REST_500, venue=SimV.POLYMARKET, count=3)
        result = await h.runner.place(lost)
        assert not result.resolved
        assert lost.client_order_id in memo  # its lookups need the order's hash
        async with trio.open_nursery() as nursery:
            nursery.start_soon(h.runner.relookup_loop)
            await resolved(h)
            nursery.cancel_scope.cancel()
    assert h.runner.counters["relookup_resolved"] == 1
    assert memo == {}
    await h.aclose()
