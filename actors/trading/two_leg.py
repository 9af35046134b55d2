"""Executing the legs of one opportunity together.

:func:`execute_legs` pre-checks every leg, sends them concurrently (FOK/IOC), and if the
legs filled unequally unwinds the excess within ``max_leg_delay`` (reported NAKED if it
could not). When a leg's outcome stays unknown (AMBIGUOUS, lookups failed), it unwinds
everything the known legs hold and unwinds the unknown leg if it later resolves filled.
:func:`send_legs_now` writes the legs from the caller's step, back to back, when every gate
allows it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import trio

from actors.trading.control import TradingControl
from actors.trading.execution_store import StoredExecution, StoredOrder
from actors.trading.ladder import OrderPurpose
from actors.trading.messages import ExecutionOutcome, ExecutionReport, ExecutionRequest
from actors.trading.order_runner import LegResult, OrderRunner, PendingHedge, SentNow, VenueGate
from actors.trading.unwind import ExecutionSettings, unwind
from protocols.fixed import PRICE_ONE
from protocols.messages import OrderIntent, Venue

__all__ = [
    "ExecutionSettings",
    "execute_legs",
    "precheck",
    "resume_execution",
    "send_legs_now",
    "settle_legs",
]


def precheck(intents: tuple[OrderIntent, ...], gates: Mapping[Venue, VenueGate]) -> str:
    """Every leg must be sendable before any is sent; returns "" or the problem."""
    for it in intents:
        gate = gates.get(it.instrument.venue)
        if gate is None:
            return f"leg {it.leg_index}: no client for {it.instrument.venue}"
        if it.size <= 0 or not 0 < it.limit_price < PRICE_ONE:
            return f"leg {it.leg_index}: size/price out of range"
        if gate.tick and it.limit_price % gate.tick:
            return f"leg {it.leg_index}: price off the {gate.tick} tick"
        if it.size < gate.min_size:
            return f"leg {it.leg_index}: size below venue minimum"
        if gate.breaker.retry_in() > 0:
            return f"leg {it.leg_index}: {it.instrument.venue} breaker open"
    return ""


def send_legs_now(
    req: ExecutionRequest, runner: OrderRunner, control: TradingControl
) -> dict[int, SentNow] | None:
    """Write the legs of ``req`` from the caller's step, by leg index: every leg is readied
    first (:meth:`OrderRunner.ready_now`: gates, bytes, a connection), then the ready ones
    are written back to back, and only then booked, so the last leg leaves one syscall
    after the first. A leg no gate lets out now is missing and :func:`execute_legs` sends
    it the usual way. ``None`` (nothing sent) when the pre-check or the trading state
    refuses the execution: :func:`execute_legs` then refuses it with the reason."""
    if not req.intents or precheck(req.intents, runner.gates):
        return None
    if not control.permits(OrderPurpose.OPEN):
        return None
    ready = [r for r in map(runner.ready_now, req.intents) if r is not None]
    started = [r.request.write() for r in ready]  # nothing between the legs' writes
    return {r.intent.leg_index: runner.written(r, s) for r, s in zip(ready, started, strict=True)}


async def execute_legs(
    req: ExecutionRequest,
    runner: OrderRunner,
    control: TradingControl,
    settings: ExecutionSettings,
    sent: Mapping[int, SentNow] | None = None,
) -> ExecutionReport:
    """Run one execution to a known outcome. ``sent``: what :func:`send_legs_now` wrote
    (its pre-check passed then, so it is not repeated: the legs are out)."""
    started = time.monotonic_ns()
    problem = ""
    if sent is None:
        problem = precheck(req.intents, runner.gates) if req.intents else "no legs"
        if not problem and not control.permits(OrderPurpose.OPEN):
            problem = f"trading {control.state.label}: {control.ladder.reason}"
    if problem:
        for it in req.intents:
            await runner.reject(it, "precheck", problem, False)
        return _report(req, started, ExecutionOutcome.REFUSED, problem)

    results: dict[int, LegResult] = {}

    async def one(it: OrderIntent) -> None:
        written = sent.get(it.leg_index) if sent else None
        results[it.leg_index] = await runner.place(it, sent=written)

    # The first leg goes out from this task, the others from their own: a new task first
    # runs a scheduler round later, and every round is tens of µs on the way to the socket.
    first, *others = req.intents
    async with trio.open_nursery() as nursery:
        for it in others:
            nursery.start_soon(one, it)
        await one(first)
    legs = [results[it.leg_index] for it in req.intents]
    return await settle_legs(req, legs, runner, control, settings, started)


async def resume_execution(
    stored: StoredExecution,
    runner: OrderRunner,
    control: TradingControl,
    settings: ExecutionSettings,
    settle_s: float,
) -> ExecutionReport:
    """Finish an execution an earlier executor incarnation left behind: every order of it
    (legs and unwinds) is brought to a known outcome by lookup (``OrderRunner.recover``),
    then the legs are hedged as a fresh execution's would be, counting what earlier
    unwinds already traded back. An unwind whose outcome stays unknown leaves its leg as
    it is (reported AMBIGUOUS: unwinding again could overshoot)."""
    started = time.monotonic_ns()
    req = stored.request
    results: dict[str, LegResult] = {}

    async def one(order: StoredOrder) -> None:
        results[order.intent.client_order_id] = await runner.recover(order, settle_s)

    async with trio.open_nursery() as nursery:
        for order in stored.views():
            nursery.start_soon(one, order)
    legs = [results[it.client_order_id] for it in req.intents]
    unwound: dict[int, int] = {}
    lost: list[LegResult] = []
    for it in req.intents:
        # The store's result: a re-lookup may have resolved an unwind since recover().
        mine = [
            stored.results.get(u.intent.client_order_id) or results[u.intent.client_order_id]
            for u in stored.unwinds_of(it.client_order_id)
        ]
        unwound[it.leg_index] = sum(r.filled for r in mine)
        lost += [r for r in mine if not r.resolved]
    if lost and all(r.resolved for r in legs):
        # What the unresolved unwinds sold is unknown: unwinding now could overshoot. The
        # excess is owed instead; its retry waits for their re-lookups, and each one that
        # resolves filled takes its size off what is owed (OrderRunner.relookup_once).
        hedged = max(0, min(r.received - unwound[r.intent.leg_index] for r in legs))
        for r in legs:
            step = max(1, runner.gates[r.intent.instrument.venue].size_step)
            excess = (r.received - unwound[r.intent.leg_index] - hedged) // step * step
            if excess > 0:
                runner.owe_unwind(r, excess, control, settings)
        detail = ", ".join(f"{r.intent.client_order_id}: {r.reason}" for r in lost)
        return _report(req, started, ExecutionOutcome.AMBIGUOUS, f"unwinds unresolved: {detail}")
    return await settle_legs(req, legs, runner, control, settings, started, unwound)


def _report(
    req: ExecutionRequest, started: int, outcome: ExecutionOutcome, detail: str
) -> ExecutionReport:
    return ExecutionReport(
        opportunity_id=req.opportunity_id,
        outcome=outcome,
        detail=detail,
        started_ns=started,
        finished_ns=time.monotonic_ns(),
    )


async def settle_legs(
    req: ExecutionRequest,
    legs: list[LegResult],
    runner: OrderRunner,
    control: TradingControl,
    settings: ExecutionSettings,
    started: int,
    unwound: Mapping[int, int] | None = None,
) -> ExecutionReport:
    """Every leg's outcome is in ``legs``: hedge them (unwind what one holds beyond the
    others) and report. ``unwound``: shares per leg index already traded back by unwind
    orders. A leg left unhedged is owed an unwind, retried until flat."""
    unwound = unwound or {}

    def report(outcome: ExecutionOutcome, detail: str) -> ExecutionReport:
        return _report(req, started, outcome, detail)

    def holding(r: LegResult) -> int:
        return r.received - unwound.get(r.intent.leg_index, 0)

    unresolved = [r for r in legs if not r.resolved]
    if unresolved:
        detail = ", ".join(f"{r.intent.client_order_id}: {r.reason}" for r in unresolved)
        left = await _flatten_known(legs, unresolved, runner, control, settings, holding)
        if left:
            detail += f"; {left} shares of resolved legs could not be unwound"
        return report(ExecutionOutcome.AMBIGUOUS, detail)
    filled = [r.filled for r in legs]
    if not any(unwound.values()) and all(r.filled >= r.intent.size for r in legs):
        return report(ExecutionOutcome.COMPLETE, "all legs filled")
    if not any(filled):
        return report(
            ExecutionOutcome.NOT_FILLED,
            "; ".join(f"leg {r.intent.leg_index}: {r.reason or r.state}" for r in legs),
        )
    # What each leg really holds (a Polymarket buy's fee is taken in shares).
    hedged = max(0, min(holding(r) for r in legs))
    deadline = trio.current_time() + settings.max_leg_delay_s
    naked: list[str] = []
    for r in legs:
        step = max(1, runner.gates[r.intent.instrument.venue].size_step)
        excess = (holding(r) - hedged) // step * step  # below one step cannot be traded
        if excess > 0:
            left = await unwind(r, excess, runner, control, settings, deadline)
            if left >= step:
                naked.append(f"{r.intent.instrument.key()} {left} unhedged")
                runner.owe_unwind(r, left, control, settings)
    if naked:
        return report(ExecutionOutcome.NAKED, "; ".join(naked))
    outcome = ExecutionOutcome.UNWOUND if hedged == 0 else ExecutionOutcome.PARTIAL
    return report(outcome, f"hedged {hedged}, excess unwound")


async def _flatten_known(
    legs: list[LegResult],
    unresolved: list[LegResult],
    runner: OrderRunner,
    control: TradingControl,
    settings: ExecutionSettings,
    holding: Callable[[LegResult], int],
) -> int:
    """Some legs' outcome is unknown (lookups failed; they are looked up again on a timer):
    a hedge cannot be computed, so flatten what is known -- unwind everything the resolved
    legs hold within ``max_leg_delay`` -- and have each unknown leg unwound in turn if it
    resolves filled (``OrderRunner.pending_hedges``). No known holding outlives
    ``max_leg_delay``; an unknown one lives until the venue answers a lookup. Returns the
    shares that could not be unwound."""
    deadline = trio.current_time() + settings.max_leg_delay_s
    left = 0
    for r in legs:
        if not r.resolved or holding(r) <= 0:
            continue
        step = max(1, runner.gates[r.intent.instrument.venue].size_step)
        held = holding(r) // step * step
        if held > 0:
            rest = await unwind(r, held, runner, control, settings, deadline)
            if rest >= step:
                runner.owe_unwind(r, rest, control, settings)
            left += rest
    for r in unresolved:
        runner.pending_hedges[r.intent.client_order_id] = PendingHedge(left, control, settings)
    return left
