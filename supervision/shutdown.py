"""Coordinated shutdown in named phases (Akka's CoordinatedShutdown, linear).

The application declares its phases (names and timeouts, in order): this module knows no
phase names. Actors register tasks against a phase (``add_task``); ``run`` executes the
phases in order, the tasks of one phase concurrently, each phase under its own timeout and
all of them under a global deadline. A task error or a timeout is recorded and the
sequence goes on: a shutdown never stops half-way because one step failed. A *forced*
request cancels the phase in progress and skips the rest.
"""

from __future__ import annotations

import logging
import math
import signal
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

import attrs
import trio

from protocols.tree import (
    PhaseOutcome,
    PhaseReport,
    ShutdownReport,
    SupervisionEvent,
    SupervisionEventKind,
)

log = logging.getLogger(__name__)

TaskFn = Callable[[], Awaitable[None]]


@attrs.frozen
class PhaseSpec:
    name: str
    timeout_s: float


class ShutdownCoordinator:
    """Runs the registered shutdown tasks phase by phase; see the module docstring."""

    def __init__(self, phases: Sequence[PhaseSpec], *, deadline_s: float = 30.0):
        names = [p.name for p in phases]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate shutdown phase names: {names}")
        self.phases: tuple[PhaseSpec, ...] = tuple(phases)
        self.deadline_s = deadline_s
        self._tasks: dict[str, dict[str, TaskFn]] = {p.name: {} for p in self.phases}
        self.reason: str | None = None
        self.forced = False
        self.current_phase: str | None = None
        self.report: ShutdownReport | None = None
        self.event_hook: Callable[[SupervisionEvent], None] | None = None
        self._requested = trio.Event()
        self._forced = trio.Event()
        self._finished = trio.Event()
        self._running = False
        self._phase_scope: trio.CancelScope | None = None

    @property
    def requested(self) -> bool:
        return self._requested.is_set()

    def add_task(self, phase: str, name: str, fn: TaskFn) -> Callable[[], None]:
        """Register ``fn`` for ``phase``; the same (phase, name) replaces. Returns an unregister."""
        try:
            tasks = self._tasks[phase]
        except KeyError:
            raise ValueError(
                f"unknown shutdown phase '{phase}'; phases are {list(self._tasks)}"
            ) from None
        tasks[name] = fn

        def unregister() -> None:
            if tasks.get(name) is fn:
                del tasks[name]

        return unregister

    def request(self, reason: str, *, force: bool = False) -> None:
        """Ask for a shutdown (idempotent; the first reason is kept). ``force`` cuts it short."""
        if not self._requested.is_set():
            self.reason = reason
            self._requested.set()
            log.info("shutdown requested: %s%s", reason, " (forced)" if force else "")
        if force and not self.forced:
            self.forced = True
            self._forced.set()
            log.warning("shutdown forced: %s", reason)
            if self._phase_scope is not None:
                self._phase_scope.cancel(reason=f"shutdown forced: {reason}")

    async def wait_requested(self) -> None:
        await self._requested.wait()

    async def wait_forced(self) -> None:
        await self._forced.wait()

    async def wait_finished(self) -> ShutdownReport:
        await self._finished.wait()
        assert self.report is not None
        return self.report

    def _emit(self, kind: SupervisionEventKind, phase: str, detail: str) -> None:
        hook = self.event_hook
        if hook is not None:
            path = f"shutdown/{phase}"
            hook(SupervisionEvent(kind=kind, path=path, at=time.time(), detail=detail))

    async def run(self) -> ShutdownReport:
        """Run every phase once (a second call waits for the first and returns its report)."""
        if self._running:
            return await self.wait_finished()
        self._running = True
        if not self._requested.is_set():
            self.request("shutdown run")
        reason = self.reason or ""
        start = trio.current_time()
        global_deadline = start + self.deadline_s if self.deadline_s != math.inf else math.inf
        reports: list[PhaseReport] = []
        for phase in self.phases:
            tasks = dict(self._tasks[phase.name])
            now = trio.current_time()
            if self.forced or now >= global_deadline:
                why = "forced" if self.forced else "global deadline passed"
                reports.append(
                    PhaseReport(
                        phase=phase.name,
                        duration_s=0.0,
                        outcome=PhaseOutcome.SKIPPED,
                        timed_out=False,
                        tasks=tuple(tasks),
                        errors=(why,),
                    )
                )
                continue
            reports.append(await self._run_phase(phase, tasks, global_deadline))
        self.current_phase = None
        self.report = ShutdownReport(
            reason=reason,
            forced=self.forced,
            phases=tuple(reports),
            duration_s=trio.current_time() - start,
        )
        self._finished.set()
        return self.report

    async def _run_phase(
        self, phase: PhaseSpec, tasks: dict[str, TaskFn], global_deadline: float
    ) -> PhaseReport:
        self.current_phase = phase.name
        self._emit(SupervisionEventKind.PHASE_STARTED, phase.name, f"{len(tasks)} tasks")
        log.info("shutdown phase %s: %d tasks", phase.name, len(tasks))
        errors: list[str] = []
        started = trio.current_time()
        deadline = min(started + phase.timeout_s, global_deadline)

        async def one(name: str, fn: TaskFn) -> None:
            try:
                await fn()
            except Exception as exc:
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
                log.warning(
                    "shutdown task %s/%s failed: %s",
                    phase.name,
                    name,
                    "".join(traceback.format_exception_only(exc)).strip(),
                )

        with trio.CancelScope(deadline=deadline) as scope:
            self._phase_scope = scope
            async with trio.open_nursery() as nursery:
                for name, fn in tasks.items():
                    nursery.start_soon(one, name, fn, name=f"shutdown:{phase.name}:{name}")
        self._phase_scope = None
        duration = trio.current_time() - started
        timed_out = scope.cancelled_caught and not self.forced
        if scope.cancelled_caught and self.forced:
            errors.append("forced")
        if timed_out:
            late = "global deadline" if deadline == global_deadline else f"{phase.timeout_s}s"
            errors.append(f"timed out after {late}")
        if errors:
            outcome = PhaseOutcome.TIMED_OUT if timed_out else PhaseOutcome.FAILED
        else:
            outcome = PhaseOutcome.OK
        self._emit(SupervisionEventKind.PHASE_FINISHED, phase.name, outcome.value)
        log.info("shutdown phase %s: %s in %.3fs", phase.name, outcome.value, duration)
        return PhaseReport(
            phase=phase.name,
            duration_s=duration,
            outcome=outcome,
            timed_out=timed_out,
            tasks=tuple(tasks),
            errors=tuple(errors),
        )


@asynccontextmanager
async def open_signal_handling(coordinator: ShutdownCoordinator) -> AsyncIterator[None]:
    """SIGINT/SIGTERM request a shutdown; a second SIGINT forces it. Main thread only."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:

        async def watch() -> None:
            async for signum in signals:
                name = signal.Signals(signum).name
                if coordinator.requested and signum == signal.SIGINT:
                    coordinator.request(f"second {name}", force=True)
                else:
                    coordinator.request(f"signal {name}")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch, name="shutdown-signals")
            try:
                yield
            finally:
                nursery.cancel_scope.cancel(reason="signal handling closed")
