"""The ladder's gate decides by order purpose: HALTED refuses new risk but never blocks the
reduce-only unwind of a leg whose partner failed (never a naked leg: docs/design.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import trio
import trio.testing

from actors.trading.breaker import CircuitBreaker
from actors.trading.control import TradingControl
from actors.trading.executor import Executor
from actors.trading.ids import leg_order_id
from actors.trading.ladder import OrderPurpose, TradingLadder, TradingState
from actors.trading.messages import (
    ExecutionOutcome,
    ExecutionRequest,
    ExecutorCommand,
    ExecutorOutcomeMsg,
    UnwindStarted,
)
from actors.trading.order_runner import OrderRunner, VenueGate
from actors.trading.rate_limit import TokenBucket
from actors.trading.retry import RetryPolicy
from actors.trading.two_leg import execute_legs
from actors.trading.unwind import ExecutionSettings
from actors.trading.venue_clients import AccountSnapshot, NotSent, OrderStatus
from protocols.config.trading import ExecutorConfig
from protocols.fixed import SIZE_ONE
from protocols.messages import (
    InstrumentId,
    OrderIntent,
    OrderReject,
    OrderState,
    Outcome,
    Side,
    TimeInForce,
    Venue,
)
from supervision import Mailbox, OverflowPolicy
from tests.trading.executor_harness import actor_context
from tests.trading.helpers import core, opp

A = InstrumentId(venue=Venue.KALSHI, symbol="K-1", outcome=Outcome.YES)
B = InstrumentId(venue=Venue.POLYMARKET, symbol="tok-no", outcome=Outcome.NO)


@attrs.define(eq=False)
class FakeClient:
    """Fills everything at the limit price, except what ``on_place`` decides."""

    venue: Venue
    on_place: Callable[[OrderIntent], None] | None = None
    placed: list[tuple[OrderIntent, float]] = attrs.field(factory=list)
    latency_s: float = 0.0

    async def place(self, intent: OrderIntent) -> OrderStatus | OrderReject:
        await trio.sleep(self.latency_s)
        self.placed.append((intent, trio.current_time()))
        if self.on_place is not None:
            self.on_place(intent)
        return OrderStatus(
            intent.client_order_id,
            f"v-{intent.client_order_id}",
            intent.instrument,
            OrderState.FILLED,
            intent.size,
            intent.size,
            intent.limit_price,
            0,
        )

    async def lookup(self, client_order_id: str, instrument: InstrumentId) -> OrderStatus | None:
        return None

    async def cancel(self, client_order_id: str, venue_order_id: str) -> bool:
        return True

    async def account(self) -> AccountSnapshot:
        return AccountSnapshot(self.venue, 0, (), {})

    async def aclose(self) -> None:
        return None


def gate(client: FakeClient) -> VenueGate:
    return VenueGate(
        client=client,
        bucket=TokenBucket(100.0, 100.0),
        breaker=CircuitBreaker(),
        tick=10_000,
        min_size=0,
    )


def leg(oid: str, index: int, inst: InstrumentId) -> OrderIntent:
    return OrderIntent(
        client_order_id=leg_order_id(oid, index),
        opportunity_id=oid,
        leg_index=index,
        instrument=inst,
        side=Side.BUY,
        limit_price=500_000,
        size=5 * SIZE_ONE,
        reserved=0,
        time_in_force=TimeInForce.FOK,
        recv_ns=0,
        detect_ns=0,
        intent_ns=0,
    )


def test_gate_by_purpose() -> None:
    ladder = TradingLadder()
    assert all(ladder.permits(p) for p in OrderPurpose)
    ladder.escalate(TradingState.REDUCING, "t", "t")
    assert not ladder.permits(OrderPurpose.OPEN)
    assert ladder.permits(OrderPurpose.UNWIND)
    ladder.escalate(TradingState.HALTED, "t", "t")
    assert not ladder.permits(OrderPurpose.OPEN)
    assert ladder.permits(OrderPurpose.UNWIND)
    assert ladder.permits(OrderPurpose.CANCEL)
    ladder.hold("kill_switch", "file")
    assert ladder.permits(OrderPurpose.UNWIND)


async def test_halt_between_legs_still_unwinds_the_filled_leg_in_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    control = TradingControl()
    kalshi = FakeClient(Venue.KALSHI)

    def halt_then_fail(intent: OrderIntent) -> None:
        # The kill switch fires while leg B is on the wire; B never reaches the venue.
        control.halt("kill switch during execution")
        raise NotSent("connect refused")

    poly = FakeClient(Venue.POLYMARKET, on_place=halt_then_fail, latency_s=0.05)
    out: list[Any] = []

    async def emit(msg: Any) -> None:
        out.append(msg)

    runner = OrderRunner(
        gates={Venue.KALSHI: gate(kalshi), Venue.POLYMARKET: gate(poly)},
        emit=emit,
        retry=RetryPolicy(attempts=3, base_s=0.01, max_s=0.02),
        control=control,
    )
    settings = ExecutionSettings(max_leg_delay_s=0.5, unwind_max_slippage=100_000)
    req = ExecutionRequest(opportunity_id="o", intents=(leg("o", 0, A), leg("o", 1, B)))
    report = await execute_legs(req, runner, control, settings)
    assert control.state is TradingState.HALTED
    assert report.outcome is ExecutionOutcome.UNWOUND, report
    # B was tried once, then its retry was refused at the gate (new risk under HALTED).
    assert len(poly.placed) == 1
    assert runner.counters["gate_refused"] == 1
    refused = [m for m in out if isinstance(m, OrderReject)]
    assert [r.reason for r in refused] == ["trading_halted"]
    # A filled and was sold back under HALTED, within max_leg_delay of B's failure.
    sells = [(i, t) for i, t in kalshi.placed if i.side is Side.SELL]
    assert len(sells) == 1
    unwind, at = sells[0]
    assert unwind.size == 5 * SIZE_ONE
    assert unwind.time_in_force is TimeInForce.IOC
    assert at - poly.placed[0][1] <= settings.max_leg_delay_s
    assert any(isinstance(m, UnwindStarted) for m in out)


async def test_new_opportunity_under_halted_is_refused(
    autojump_clock: trio.testing.MockClock,
) -> None:
    control = TradingControl()
    control.halt("test")
    kalshi, poly = FakeClient(Venue.KALSHI), FakeClient(Venue.POLYMARKET)
    out: list[Any] = []

    async def emit(msg: Any) -> None:
        out.append(msg)

    runner = OrderRunner(
        gates={Venue.KALSHI: gate(kalshi), Venue.POLYMARKET: gate(poly)},
        emit=emit,
        retry=RetryPolicy(),
        control=control,
    )
    req = ExecutionRequest(opportunity_id="n", intents=(leg("n", 0, A), leg("n", 1, B)))
    report = await execute_legs(req, runner, control, ExecutionSettings())
    assert report.outcome is ExecutionOutcome.REFUSED
    assert not kalshi.placed
    assert not poly.placed
    # A lone OPEN order is refused at the gate too; the fund manager refuses upstream.
    result = await runner.place(leg("n2", 0, A))
    assert result.reason == "trading_halted"
    assert not kalshi.placed
    c = core()
    c.control.halt("test")
    assert not isinstance(c.decide(opp()), ExecutionRequest)
    assert c.rejects["trading_halted"] == 1


async def test_drain_waits_for_an_unwind_started_under_halt(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Shutdown's drain-executor phase: new executions are refused, but an in-flight one
    whose partner leg failed is unwound before drain returns."""
    control = TradingControl()
    kalshi = FakeClient(Venue.KALSHI, latency_s=0.1)
    started = trio.Event()

    def fail(intent: OrderIntent) -> None:
        started.set()
        raise NotSent("down")

    poly = FakeClient(Venue.POLYMARKET, on_place=fail, latency_s=0.01)
    intents: Mailbox[ExecutorCommand] = Mailbox("i", 8, OverflowPolicy.BLOCK)
    outcomes: Mailbox[ExecutorOutcomeMsg] = Mailbox("o", 256, OverflowPolicy.BLOCK)
    cfg = ExecutorConfig(max_leg_delay_s=1.0, drain_timeout_s=5.0)
    ex = Executor(
        config=cfg,
        control=control,
        intents=intents,
        outcomes=outcomes,
        clients=lambda: {Venue.KALSHI: kalshi, Venue.POLYMARKET: poly},
    )

    async with trio.open_nursery() as nursery:
        await nursery.start(ex.run, actor_context("trading.executor", intents))
        await intents.send(
            ExecutionRequest(opportunity_id="d", intents=(leg("d", 0, A), leg("d", 1, B)))
        )
        await started.wait()
        control.halt("shutdown")
        await ex.drain()
        assert ex.in_flight == 0
        await intents.send(
            ExecutionRequest(opportunity_id="late", intents=(leg("late", 0, A), leg("late", 1, B)))
        )
        await trio.sleep(0.1)
        nursery.cancel_scope.cancel()
    sells = [i for i, _ in kalshi.placed if i.side is Side.SELL]
    assert len(sells) == 1
    assert ex.executions["unwound"] == 1
    assert ex.executions["refused_shutting_down"] == 1
