"""Fund manager: the single owner of balances, reservations, exposure, positions and PnL.

The books and every decision live in :class:`~actors.trading.fund_core.FundCore` (the
synchronous heart: pre-trade checks, reservations, intents, outcome accounting,
reconciliation). :class:`FundManager` is the actor around it: it drains the detector's
mailbox, forwards :class:`ExecutionRequest` s to the executor, applies the executor's
outcomes, watches the kill-switch file, rolls the day, writes checkpoints.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import msgspec
import trio

from actors.shutdown_phases import Phase
from actors.trading.checks import (
    Limits,
)
from actors.trading.control import TradingControl
from actors.trading.fees import FeeBook
from actors.trading.fund_core import FundCore, venue_rules, wall_ms_now
from actors.trading.fund_journal import FundJournal
from actors.trading.ladder import Hold, TradingState
from actors.trading.messages import (
    CancelAll,
    ExecutionRequest,
    ExecutorCommand,
    ExecutorOutcomeMsg,
    RetireOrders,
)
from actors.trading.rehearsal import Rehearsal
from actors.trading.sink import RecordSink
from actors.trading.venue_clients import AccountSnapshot, VenueClient
from protocols.config.trading import ExecutorConfig, FundManagerConfig
from protocols.fixed import PRICE_ONE, parse_units
from protocols.messages import (
    FundCheckpointRecord,
    InstrumentId,
    Opportunity,
    TimeInForce,
    Venue,
)
from supervision import Actor, ActorContext, Mailbox, QueueInstead
from supervision.idle import every_when_idle

log = logging.getLogger("arbtree.trading.fund_manager")

CheckpointLoader = Callable[[], Awaitable[FundCheckpointRecord | None]]


_CHECKPOINT = msgspec.json.Encoder()
_CHECKPOINT_DECODER = msgspec.json.Decoder(FundCheckpointRecord)


async def load_checkpoint_file(path: str) -> FundCheckpointRecord | None:
    """The file fallback for checkpoints (storage provides the real loader)."""
    p = trio.Path(path)
    if not await p.exists():
        return None
    return _CHECKPOINT_DECODER.decode(await p.read_bytes())


async def save_checkpoint_file(path: str, record: FundCheckpointRecord) -> None:
    tmp = trio.Path(path + ".tmp")
    await tmp.write_bytes(_CHECKPOINT.encode(record))
    await trio.to_thread.run_sync(os.replace, tmp, path)


class _AccountFailed(Exception):
    """A venue's account report could not be read."""


@attrs.define(eq=False)
class FundManager(Actor):
    """The fund-manager actor. ``control`` and the mailboxes outlive incarnations; the
    books are rebuilt on every start from the checkpoint and the venues (fail closed)."""

    config: FundManagerConfig
    executor_config: ExecutorConfig
    control: TradingControl
    opportunities: Mailbox[Opportunity]
    intents: Mailbox[ExecutorCommand]
    outcomes: Mailbox[ExecutorOutcomeMsg]
    # Venue clients for reconciliation (a factory: fresh clients per attempt, closed after).
    venues: Callable[[], Mapping[Venue, VenueClient]] | None = None
    checkpoint_loader: CheckpointLoader | None = None
    sink: RecordSink | None = None
    clock_ns: Callable[[], int] = time.monotonic_ns
    wall_ms: Callable[[], int] = wall_ms_now
    reconcile_retry_s: float = 5.0
    # Outlives incarnations (the wiring passes one): the books' base and every event since.
    journal: FundJournal = attrs.field(factory=FundJournal)
    core: FundCore | None = attrs.field(init=False, default=None)
    last_reconcile_problems: list[str] = attrs.field(init=False, factory=list)
    # Retirements not yet handed to the executor (its mailbox was full): sent next sweep.
    retire_pending: RetireOrders | None = attrs.field(init=False, default=None)
    retire_notices: int = attrs.field(init=False, default=0)
    rehearsal: Rehearsal | None = attrs.field(init=False, default=None)

    def _new_core(self) -> FundCore:
        return FundCore(
            limits=Limits.from_config(self.config.limits),
            rules=venue_rules(self.executor_config),
            control=self.control,
            time_in_force=TimeInForce(self.executor_config.time_in_force),
            sink=self.sink,
            clock_ns=self.clock_ns,
            wall_ms=self.wall_ms,
            fee_book=FeeBook.from_config(self.executor_config),
            retention=self.config.retention,
        )

    def statistics(self) -> dict[str, Any]:
        core = self.core
        out = core.statistics() if core is not None else {}
        out["reconcile_problems"] = list(self.last_reconcile_problems)
        if "retention" in out:
            pending = self.retire_pending
            out["retention"]["notices_sent"] = self.retire_notices
            out["retention"]["notice_pending"] = (
                0 if pending is None else len(pending.client_order_ids) + len(pending.fill_keys)
            )
        out["opportunities_mailbox"] = msgspec.structs.asdict(self.opportunities.statistics())
        rehearsal = self.rehearsal
        out["rehearsals"] = rehearsal.runs if rehearsal is not None else 0
        return out

    async def run(
        self,
        ctx: ActorContext,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        core = self.core = self._new_core()
        self.control.stats_sources["fund_manager"] = self.statistics
        self.journal.adopt = self.adopt_venue
        self.journal.unhedged = self._unhedged
        ladder = self.control.ladder
        ladder.hold(Hold.RECONCILIATION, "start-up reconciliation pending")
        ctx.shutdown.add_task(Phase.HALT_TRADING, f"{ctx.path}:refuse-new", self._halt_trading)
        ctx.shutdown.add_task(Phase.CHECKPOINT, f"{ctx.path}:checkpoint", self._write_checkpoint)
        with trio.move_on_after(max(1.0, self.executor_config.http.read_timeout_s * 2)):
            await self._reconcile(ctx)
        ctx.heartbeat()
        task_status.started()
        rehearsal = self.rehearsal = Rehearsal(core)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._opportunity_loop, ctx, core, rehearsal)
            nursery.start_soon(self._outcome_loop, ctx, core)
            nursery.start_soon(self._timers, ctx, core)
            if self.config.rehearse_interval_s > 0:
                nursery.start_soon(every_when_idle, self.config.rehearse_interval_s, rehearsal)

    async def _reconcile(self, ctx: ActorContext) -> bool:
        core = self.core
        assert core is not None
        checkpoint: FundCheckpointRecord | None = None
        try:
            if self.checkpoint_loader is not None:
                checkpoint = await self.checkpoint_loader()
            elif self.config.checkpoint_file:
                checkpoint = await load_checkpoint_file(self.config.checkpoint_file)
        except Exception as exc:
            return self._reconciled(ctx, [f"checkpoint could not be loaded: {exc!r}"])
        try:
            accounts = await self._accounts()
        except _AccountFailed as exc:
            return self._reconciled(ctx, [str(exc)])
        paper = {Venue(k): parse_units(v) for k, v in self.config.paper_balances.items()}
        tolerance = parse_units(self.config.reconcile_tolerance)
        # A restart in this process: the books are the journal's base plus every event
        # since (what the last incarnation held), not a checkpoint up to an interval old.
        problems = core.reconcile_rebuilt(self.journal, accounts, tolerance)
        if problems is None:
            problems = core.reconcile(checkpoint, accounts, paper, tolerance)
        return self._reconciled(ctx, problems)

    async def _accounts(self) -> dict[Venue, AccountSnapshot]:
        """Every venue's account report (fresh clients, closed after)."""
        accounts: dict[Venue, AccountSnapshot] = {}
        clients = self.venues() if self.venues is not None else {}
        try:
            for venue, client in clients.items():
                try:
                    accounts[venue] = await client.account()
                except Exception as exc:
                    raise _AccountFailed(f"{venue}: account report failed: {exc!r}") from exc
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(1.0):
                for client in clients.values():
                    await client.aclose()
        return accounts

    def _unhedged(self) -> list[tuple[InstrumentId, int, int]]:
        """The books' positions held beyond their hedge, with average prices (flatten)."""
        core = self.core
        if core is None:
            return []
        led = core.ledger
        return [
            (inst, shares, led.positions[inst].cost * PRICE_ONE // led.positions[inst].size)
            for inst, shares in led.unhedged()
        ]

    async def adopt_venue(self, reason: str) -> tuple[bool, str]:
        """The operator's way out when the books and the venues cannot agree: take the
        venues' cash and positions as the books, write every difference down (a warning
        per change and a checkpoint at once: a database row) and lift the
        reconciliation hold. The trading state stays as latched (resume is separate)."""
        core = self.core
        if core is None:
            return False, "the fund manager has not started"
        try:
            accounts = await self._accounts()
        except _AccountFailed as exc:
            return False, str(exc)
        if not accounts:
            return False, "no venue clients: nothing to adopt"
        unreported = [str(v) for v in core.rules if v not in accounts]
        unreported += [str(v) for v, a in accounts.items() if a.positions is None]
        if unreported:
            return False, f"{', '.join(unreported)} did not report positions: cannot adopt"
        changes = core.adopt_venue(accounts)
        for change in changes:
            log.warning("adopted the venue's books (%s): %s", reason, change)
        self._emit_checkpoint(core)
        self.last_reconcile_problems = []
        self.control.ladder.release_hold(Hold.RECONCILIATION)
        return True, "adopted: " + ("; ".join(changes) or "no difference")

    def _reconciled(self, ctx: ActorContext, problems: list[str]) -> bool:
        self.last_reconcile_problems = problems
        if problems:
            message = "start-up reconciliation disagrees: " + "; ".join(problems)
            ctx.log.error("%s (trading stays HALTED)", message)
            self.control.ladder.hold(Hold.RECONCILIATION, message)
            ctx.set_degraded(message)
            return False
        ctx.log.info(
            "start-up reconciliation agreed; trading state %s", self.control.ladder.latched.label
        )
        self.control.ladder.release_hold(Hold.RECONCILIATION)
        ctx.set_healthy()
        if self.core is not None:
            self.journal.mark(self.core, self.core.checkpoint())
        return True

    async def _opportunity_loop(
        self, ctx: ActorContext, core: FundCore, rehearsal: Rehearsal
    ) -> None:
        opportunities, intents, journal = self.opportunities, self.intents, self.journal

        def handle(opp: Opportunity) -> None:
            """Direct, in the detector's step (supervision.mailbox): decide and hand the
            execution to the executor; queued instead while its inbox is full (this step
            must not wait)."""
            if len(intents) >= intents.capacity:
                raise QueueInstead
            result = core.decide(opp)
            rehearsal.last = opp
            if isinstance(result, ExecutionRequest):
                journal.record(result)
                intents.send_nowait(result)
            ctx.heartbeat()

        if self.config.direct:
            opportunities.set_handler(handle)
        try:
            while True:
                batch = await opportunities.receive_batch(64)
                for opp in batch:
                    result = core.decide(opp)
                    rehearsal.last = opp
                    if isinstance(result, ExecutionRequest):
                        journal.record(result)
                        # The executor runs next with no step of ours in its round.
                        await intents.hand_off(result)
                ctx.heartbeat()
        finally:
            if self.config.direct:
                opportunities.set_handler(None)

    async def _outcome_loop(self, ctx: ActorContext, core: FundCore) -> None:
        while True:
            batch = await self.outcomes.receive_batch(256)
            journal = self.journal
            for msg in batch:
                core.on_outcome(msg)
                journal.record(msg)
            ctx.heartbeat()

    async def _timers(self, ctx: ActorContext, core: FundCore) -> None:
        state_cfg = self.config.state
        kill = Path(state_cfg.kill_switch_file) if state_cfg.kill_switch_file else None
        interval = state_cfg.kill_switch_poll_s
        next_checkpoint = ctx.now() + self.config.checkpoint_interval_s
        sweep_s = self.config.retention.sweep_interval_s
        next_retire = ctx.now() + sweep_s
        next_reconcile = ctx.now() + self.reconcile_retry_s
        was_halted = self.control.state is TradingState.HALTED
        while True:
            ctx.heartbeat()
            if kill is not None:
                if kill.exists():
                    if Hold.KILL_SWITCH not in self.control.ladder.holds:
                        self.control.halt(f"kill-switch file {kill} exists", Hold.KILL_SWITCH)
                        self.control.ladder.hold(Hold.KILL_SWITCH, f"file {kill} exists")
                else:
                    self.control.ladder.release_hold(Hold.KILL_SWITCH)
            halted = self.control.state is TradingState.HALTED
            if halted and not was_halted:
                with trio.move_on_after(1.0):
                    await self.intents.send(CancelAll(reason=self.control.ladder.reason))
            was_halted = halted
            now = ctx.now()
            if Hold.RECONCILIATION in self.control.ladder.holds and now >= next_reconcile:
                next_reconcile = now + self.reconcile_retry_s
                with trio.move_on_after(self.reconcile_retry_s):
                    await self._reconcile(ctx)
            if now >= next_checkpoint and Hold.RECONCILIATION not in self.control.ladder.holds:
                next_checkpoint = now + self.config.checkpoint_interval_s
                self._emit_checkpoint(core)
            if now >= next_retire:
                next_retire = now + sweep_s
                self._retire(core)
            core._maybe_roll_day()
            await trio.sleep(interval)

    def _retire(self, core: FundCore) -> None:
        """Drop what is due from the books, then tell the executor (never before: it must
        not forget an order the books still track). Never waits: with the executor's
        mailbox full the notice is merged into the next sweep's."""
        notice = core.retire()
        pending = self.retire_pending
        if pending is not None and notice is not None:
            notice = RetireOrders(
                client_order_ids=pending.client_order_ids + notice.client_order_ids,
                fill_keys=pending.fill_keys + notice.fill_keys,
            )
        elif notice is None:
            notice = pending
        if notice is None:
            return
        try:
            self.intents.send_nowait(notice)
        except trio.WouldBlock:
            self.retire_pending = notice
        else:
            self.retire_pending = None
            self.retire_notices += 1

    def _emit_checkpoint(self, core: FundCore) -> FundCheckpointRecord:
        record = core.checkpoint()
        self.journal.mark(core, record)
        if self.sink is not None:
            self.sink(record)
        return record

    async def _halt_trading(self) -> None:
        if self.core is not None:
            self.core.shutting_down = True

    async def _write_checkpoint(self) -> None:
        core = self.core
        if core is None or Hold.RECONCILIATION in self.control.ladder.holds:
            return  # never overwrite a good checkpoint with unreconciled books
        record = self._emit_checkpoint(core)
        if self.config.checkpoint_file:
            await save_checkpoint_file(self.config.checkpoint_file, record)


__all__ = ["CheckpointLoader", "FundCore", "FundManager"]
