"""Executor actor: paper (simulated venue over HTTP, the default) or live venue clients.

Receives :class:`ExecutionRequest` s (BLOCK, never dropped) from the fund manager and runs
each as one two-leg execution (bounded concurrency); every ack, fill, reject, ambiguous
outcome and final state goes back to the fund manager through a BLOCK mailbox. Registers
the ``cancel-open-orders`` and ``drain-executor`` shutdown tasks.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs
import trio

from actors.shutdown_phases import Phase
from actors.trading.breaker import CircuitBreaker
from actors.trading.control import TradingControl
from actors.trading.execution_store import ExecutionStore, FlattenFn, StoredExecution
from actors.trading.fees import FeeBook
from actors.trading.fill_tracker import FillTracker
from actors.trading.ladder import OrderPurpose
from actors.trading.messages import (
    CancelAll,
    ExecutionReport,
    ExecutionRequest,
    ExecutorCommand,
    ExecutorOutcomeMsg,
    OrderFinal,
    RetireOrders,
)
from actors.trading.order_runner import OrderRunner, SentNow, VenueGate
from actors.trading.rate_limit import TokenBucket
from actors.trading.rehearsal import OrderRehearsal
from actors.trading.retry import RelookupPolicy, RetryPolicy
from actors.trading.send_timing import SendTimes
from actors.trading.two_leg import execute_legs, resume_execution, send_legs_now
from actors.trading.unwind import ExecutionSettings
from actors.trading.user_channel import UserChannelState
from actors.trading.venue_clients import VenueClient, VenueError
from protocols.config.trading import ExecutorConfig, VenueExecConfig
from protocols.fixed import parse_units
from protocols.messages import Fill, FillStatus, OrderReject, OrderState, Venue
from supervision import Actor, ActorContext, Mailbox, QueueInstead
from supervision.idle import every_when_idle

log = logging.getLogger("arbtree.trading.executor")

ClientsFactory = Callable[[], Mapping[Venue, VenueClient]]


def make_gates(cfg: ExecutorConfig, clients: Mapping[Venue, VenueClient]) -> dict[Venue, VenueGate]:
    gates: dict[Venue, VenueGate] = {}
    per_venue: dict[Venue, VenueExecConfig] = {
        Venue.POLYMARKET: cfg.polymarket,
        Venue.KALSHI: cfg.kalshi,
    }
    for venue, client in clients.items():
        vcfg = per_venue[venue]
        gates[venue] = VenueGate(
            client=client,
            bucket=TokenBucket(vcfg.rate_limit.rate_per_s, vcfg.rate_limit.burst),
            breaker=CircuitBreaker(
                failure_threshold=cfg.breaker.failure_threshold,
                open_s=cfg.breaker.open_s,
                half_open_probes=cfg.breaker.half_open_probes,
            ),
            rate_limited_open_s=cfg.breaker.rate_limited_open_s,
            tick=parse_units(vcfg.tick_size),
            min_size=parse_units(vcfg.min_size),
            size_step=max(1, parse_units(vcfg.size_step)),
        )
    return gates


@attrs.define(eq=False)
class Executor(Actor):
    config: ExecutorConfig
    control: TradingControl
    intents: Mailbox[ExecutorCommand]
    outcomes: Mailbox[ExecutorOutcomeMsg]
    clients: ClientsFactory
    user_fills: Mailbox[Fill] | None = None  # fills from the venues' user channels
    channels: UserChannelState | None = None  # which user channels are connected
    heartbeat_s: float = 0.5
    metrics: Any = None  # actors.observability.Metrics: send-time histograms
    # What outlives this incarnation (the wiring passes one store to every incarnation).
    store: ExecutionStore | None = None
    send_times: SendTimes = attrs.field(init=False)
    runner: OrderRunner | None = attrs.field(init=False, default=None)
    rehearsal: OrderRehearsal | None = attrs.field(init=False, default=None)
    executions: Counter[str] = attrs.field(init=False)  # the store's: across incarnations
    in_flight: int = attrs.field(init=False, default=0)
    draining: bool = attrs.field(init=False, default=False)
    warm_reads: int = attrs.field(init=False, default=0)
    warm_failures: int = attrs.field(init=False, default=0)
    _idle: trio.Event = attrs.field(init=False, factory=trio.Event)

    def __attrs_post_init__(self) -> None:
        self.send_times = SendTimes(metrics=self.metrics)
        self.executions = self.execution_store().executions_by_outcome

    def execution_store(self) -> ExecutionStore:
        if self.store is None:
            self.store = ExecutionStore(
                tracker=FillTracker(fee_book=FeeBook.from_config(self.config))
            )
        return self.store

    def statistics(self) -> dict[str, Any]:
        runner = self.runner
        store = self.execution_store().statistics()
        out: dict[str, Any] = {
            "store": store,
            "naked_legs": store["naked_legs"],
            "naked_shares": store["naked_shares"],
            "in_flight": self.in_flight,
            "executions": dict(self.executions),
            "draining": self.draining,
            "send_times": self.send_times.statistics(),
            "warm_reads": self.warm_reads,
            "warm_failures": self.warm_failures,
        }
        rehearsal = self.rehearsal
        if rehearsal is not None:
            out["rehearsals"] = rehearsal.runs
            out["rehearsals_failed"] = rehearsal.failed
        if runner is not None:
            out["orders"] = dict(runner.counters)
            out["resting"] = len(runner.resting)
            out["fills_duplicate"] = runner.tracker.duplicates
            out["fills_absorbed"] = runner.tracker.absorbed
            out["fill_tracker"] = runner.tracker.statistics()
            # AMBIGUOUS orders whose lookups failed, looked up again on a timer.
            out["unresolved"] = len(runner.unresolved)
            out["relookup"] = {
                k: runner.counters.get(f"relookup_{k}", 0)
                for k in ("attempts", "failed", "resolved", "not_found")
            }
            out["venues"] = {
                str(v): {
                    "breaker": g.breaker.state.value,
                    "breaker_opened": g.breaker.opened_total,
                    "breaker_refused": g.breaker.refused_total,
                    "tokens": round(g.bucket.tokens, 3),
                    "rate_waits": g.bucket.waited,
                }
                for v, g in runner.gates.items()
            }
        return out

    async def run(
        self,
        ctx: ActorContext,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        clients = self.clients()
        for client in clients.values():
            if hasattr(client, "send_times"):  # HTTP venue clients report their send times
                client.send_times = self.send_times
        cfg = self.config
        store = self.execution_store()
        runner = self.runner = OrderRunner.over(
            store,
            gates=make_gates(cfg, clients),
            emit=self.outcomes.send,
            retry=RetryPolicy.from_config(cfg.retry),
            lookup_attempts=cfg.ambiguous_lookup_attempts,
            control=self.control,
            fill_wait_s=cfg.user_channel.fill_wait_s,
            relookup=RelookupPolicy.from_config(cfg.relookup),
        )
        channels = self.channels
        if channels is not None:
            runner.channel_live = channels.live
        settings = ExecutionSettings(
            max_leg_delay_s=cfg.max_leg_delay_s,
            unwind_max_slippage=parse_units(cfg.unwind_max_slippage),
        )
        rehearsal = self.rehearsal = OrderRehearsal(runner.gates)
        self.control.stats_sources["executor"] = self.statistics
        ctx.shutdown.add_task(Phase.CANCEL_OPEN_ORDERS, f"{ctx.path}:cancel", self.cancel_open)
        ctx.shutdown.add_task(Phase.DRAIN_EXECUTOR, f"{ctx.path}:drain", self.drain)
        self._idle.set()
        limiter = trio.CapacityLimiter(max(1, cfg.max_concurrent_executions))
        flatten: FlattenFn | None = None
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._heartbeats, ctx)
                if cfg.http.keep_warm_s > 0:
                    nursery.start_soon(
                        self._keep_warm,
                        clients,
                        cfg.http.keep_warm_s,
                        cfg.http.keep_warm_connections,
                    )
                nursery.start_soon(runner.relookup_loop)
                nursery.start_soon(runner.unwind_loop)
                store.flatten = flatten = functools.partial(
                    runner.flatten, control=self.control, settings=settings
                )
                if cfg.rehearse_interval_s > 0:
                    nursery.start_soon(every_when_idle, cfg.rehearse_interval_s, rehearsal)
                if self.user_fills is not None:
                    nursery.start_soon(self._fill_loop, runner, self.user_fills)
                left = store.take_over()
                if left:
                    ctx.log.warning(
                        "resuming %d executions an earlier executor incarnation left "
                        "unfinished: %s",
                        len(left),
                        ", ".join(e.request.opportunity_id for e in left[:5]),
                    )
                for stored in left:
                    self._begin()
                    nursery.start_soon(self._resume, stored, runner, settings)
                task_status.started()
                intents = self.intents

                def handle(cmd: ExecutorCommand) -> None:
                    """Direct, in the fund manager's step: an execution's legs are
                    written now and its task started; everything else (and an
                    execution that would wait for a slot or be refused) queues."""
                    if (
                        not isinstance(cmd, ExecutionRequest)
                        or self.draining
                        or not self.control.permits(OrderPurpose.OPEN)
                    ):
                        raise QueueInstead
                    token = object()
                    try:
                        limiter.acquire_on_behalf_of_nowait(token)
                    except trio.WouldBlock:
                        raise QueueInstead from None
                    runner.store.begin(cmd)  # recorded before its first leg is written
                    self._launch(cmd, token, nursery, runner, settings, limiter)

                if cfg.direct:
                    intents.set_handler(handle)
                while True:
                    await self._handle(await intents.receive(), nursery, runner, settings, limiter)
                    # Executions decided together (a window often triggers two) go out in
                    # this step: a receive per request was a scheduler round each. Still
                    # one command in hand at a time: the rest stay in the mailbox, which
                    # outlives a restart.
                    while len(intents):
                        await self._handle(
                            intents.receive_nowait(), nursery, runner, settings, limiter
                        )
        finally:
            self.intents.set_handler(None)
            if flatten is not None and store.flatten is flatten:
                store.flatten = None
            with trio.CancelScope(shield=True), trio.move_on_after(2.0):
                for client in clients.values():
                    await client.aclose()

    async def _handle(
        self,
        cmd: ExecutorCommand,
        nursery: trio.Nursery,
        runner: OrderRunner,
        settings: ExecutionSettings,
        limiter: trio.CapacityLimiter,
    ) -> None:
        if isinstance(cmd, CancelAll):
            nursery.start_soon(self.cancel_open)
            return
        if isinstance(cmd, RetireOrders):  # the books retired them first
            runner.tracker.retire(cmd.client_order_ids, cmd.fill_keys)
            return
        store = runner.store
        store.begin(cmd)  # before any await: a stop from here on hands it over
        if self.draining or not self.control.permits(OrderPurpose.OPEN):
            why = "shutting_down" if self.draining else f"trading_{self.control.state.label}"
            await self._refuse(cmd, why)
            store.finish(cmd.opportunity_id)
            return
        token = object()
        try:  # no extra scheduler round when a slot is free (the usual case)
            limiter.acquire_on_behalf_of_nowait(token)
        except trio.WouldBlock:
            await limiter.acquire_on_behalf_of(token)
        self._launch(cmd, token, nursery, runner, settings, limiter)

    def _launch(
        self,
        cmd: ExecutionRequest,
        token: object,
        nursery: trio.Nursery,
        runner: OrderRunner,
        settings: ExecutionSettings,
        limiter: trio.CapacityLimiter,
    ) -> None:
        """Write the legs the gates allow now, and start the execution's task."""
        self._begin()
        if self.rehearsal is not None:
            self.rehearsal.last = cmd
        # The legs go out now, in this step, when the gates allow it: the task below first
        # runs a scheduler round later (and a leg's task one more).
        sent = send_legs_now(cmd, runner, self.control)
        nursery.start_soon(self._execute, cmd, runner, settings, limiter, token, sent)

    def _begin(self) -> None:
        self.in_flight += 1
        if self._idle.is_set():
            self._idle = trio.Event()

    def _end(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()

    async def _execute(
        self,
        req: ExecutionRequest,
        runner: OrderRunner,
        settings: ExecutionSettings,
        limiter: trio.CapacityLimiter,
        token: object,
        sent: dict[int, SentNow] | None,
    ) -> None:
        try:
            report = await execute_legs(req, runner, self.control, settings, sent)
            await self._report(runner, report)
        finally:
            limiter.release_on_behalf_of(token)
            self._end()

    async def _resume(
        self, stored: StoredExecution, runner: OrderRunner, settings: ExecutionSettings
    ) -> None:
        """Finish an execution an earlier incarnation left behind (see ExecutionStore)."""
        try:
            settle_s = self.config.http.read_timeout_s
            report = await resume_execution(stored, runner, self.control, settings, settle_s)
            self.executions["resumed"] += 1
            log.warning(
                "execution %s resumed after an executor restart: %s (%s)",
                report.opportunity_id,
                report.outcome.value,
                report.detail,
            )
            await self._report(runner, report)
        finally:
            self._end()

    async def _report(self, runner: OrderRunner, report: ExecutionReport) -> None:
        # Forgotten first: a stop during the send loses a report, never an order.
        runner.store.finish(report.opportunity_id)
        self.executions[report.outcome.value] += 1
        await self.outcomes.send(report)

    async def _refuse(self, req: ExecutionRequest, reason: str) -> None:
        for it in req.intents:
            await self.outcomes.send(
                OrderReject(
                    client_order_id=it.client_order_id,
                    instrument=it.instrument,
                    reason=reason,
                    venue_code="",
                    retryable=False,
                    ack_ns=time.monotonic_ns(),
                )
            )
        self.executions[f"refused_{reason}"] += 1

    async def _fill_loop(self, runner: OrderRunner, fills: Mailbox[Fill]) -> None:
        while True:
            for fill in await fills.receive_batch(256):
                out = runner.tracker.from_channel(fill)
                if out is None:
                    continue
                await self.outcomes.send(out)
                if out.client_order_id and out.status is not FillStatus.FAILED:
                    runner.tracker.notify(out.client_order_id, out.size)

    async def _keep_warm(
        self, clients: Mapping[Venue, VenueClient], every_s: float, connections: int
    ) -> None:
        """Keep ``connections`` pooled connections per venue open: that many cheap reads at
        once (each holds a connection while it waits, so the next opens or takes another)
        now and every ``every_s`` (below the pool's keep-alive expiry), so no leg of an
        execution pays a connect."""
        while True:
            async with trio.open_nursery() as nursery:
                for client in clients.values():
                    warm = getattr(client, "warm", None)
                    if warm is None:
                        continue
                    for _ in range(connections):
                        nursery.start_soon(self._warm_once, client.venue, warm)
            await trio.sleep(every_s)

    async def _warm_once(self, venue: Venue, warm: Callable[[], Awaitable[None]]) -> None:
        try:
            await warm()
        except Exception as exc:  # a read; the next round tries again
            self.warm_failures += 1
            if self.warm_failures & (self.warm_failures - 1) == 0:  # 1, 2, 4...
                log.warning("keeping %s's connection warm failed: %r", venue, exc)
        else:
            self.warm_reads += 1

    async def _heartbeats(self, ctx: ActorContext) -> None:
        while True:
            ctx.heartbeat()
            await trio.sleep(self.heartbeat_s)

    async def cancel_open(self) -> None:
        """Cancel every order that may be resting (cancels are always allowed)."""
        runner = self.runner
        if runner is None:
            return
        for coid, (intent, venue_order_id) in list(runner.resting.items()):
            gate = runner.gates[intent.instrument.venue]
            try:
                ok = await gate.client.cancel(coid, venue_order_id)
            except VenueError:
                continue
            if ok:
                runner.resting.pop(coid, None)
                await self.outcomes.send(
                    OrderFinal(
                        client_order_id=coid,
                        state=OrderState.CANCELLED,
                        filled_size=-1,
                        reason="cancelled",
                        at_ns=time.monotonic_ns(),
                    )
                )

    async def drain(self) -> None:
        """Stop taking new executions; wait for in-flight ones to reach a known state."""
        self.draining = True
        with trio.move_on_after(self.config.drain_timeout_s):
            await self._idle.wait()
        left = self.execution_store().executions
        if left:
            log.error(
                "%d executions still unfinished after drain_timeout_s; their orders are at "
                "the venue and in the database: %s",
                len(left),
                ", ".join(sorted(left)[:10]),
            )
