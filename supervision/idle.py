"""What the Trio loop does when no task is runnable: block in ``epoll_wait`` (default) or
keep polling (busy-poll, the "spin" idle strategy of trading systems);
:func:`wait_until_idle`, which lets a producer step aside until the work it handed on
(and whatever that wakes in turn) has run; and :func:`every_when_idle`, a timer for
optional work that only runs when nothing else is runnable.

Blocking is free while idle, but on a small VM the first tick after an idle spell arrives
to a descheduled vCPU and cold CPU caches (``arbtree bench market`` reports tick-to-decision
under both strategies). Spinning keeps the loop hot at the price of one core at 100 %:
every scheduler round polls I/O with a zero timeout, so a frame is picked up as soon as it
lands. Use it on a machine with a core to spare (``[run] idle = "spin"``); never in tests
that rely on ``autojump_clock``, which only jumps when every task is blocked.

Idle detection is built on Trio's public run-loop hooks, not on
``trio.testing.wait_all_tasks_blocked`` (which Trio documents for tests): an instrument
(:class:`trio.abc.Instrument`, ``after_io_wait``) looks at the run queue
(:func:`trio.lowlevel.current_statistics`) after each I/O poll while a task waits, and a
gate task keeps those polls non-blocking for as long as one does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NoReturn

import trio
import trio.lowlevel

IdleStrategy = Literal["block", "spin"]


class _IdleWatch(trio.abc.Instrument):
    """One per Trio run: the tasks waiting for an idle loop, and the gate task that keeps
    the loop polling while any wait.

    While a task waits, the gate stays runnable, so every I/O wait is a zero-timeout poll
    and the loop comes back to :meth:`after_io_wait` at once. The loop is idle when, after
    that poll, the gate is the only runnable task and no deadline is due: then every
    waiter is woken (they run in this round, beside the gate, which then parks).
    """

    def __init__(self) -> None:
        self.waiters: list[trio.lowlevel.Task] = []
        self.parked_gate: trio.lowlevel.Task | None = None

    def after_io_wait(self, timeout: float) -> None:
        if not self.waiters:
            return
        stats = trio.lowlevel.current_statistics()
        if stats.tasks_runnable == 1 and stats.seconds_to_next_deadline > 0:
            waiters, self.waiters = self.waiters, []
            for task in waiters:
                trio.lowlevel.reschedule(task)

    def add_waiter(self, task: trio.lowlevel.Task) -> None:
        self.waiters.append(task)
        gate = self.parked_gate
        if gate is not None:
            self.parked_gate = None
            trio.lowlevel.reschedule(gate)

    async def gate(self) -> None:
        def unpark(_: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
            self.parked_gate = None
            return trio.lowlevel.Abort.SUCCEEDED

        while True:
            if self.waiters:
                await trio.lowlevel.checkpoint()
            else:
                self.parked_gate = trio.lowlevel.current_task()
                await trio.lowlevel.wait_task_rescheduled(unpark)


_WATCH: trio.lowlevel.RunVar[_IdleWatch] = trio.lowlevel.RunVar("supervision.idle")


def _watch() -> _IdleWatch:
    try:
        return _WATCH.get()
    except LookupError:
        watch = _IdleWatch()
        _WATCH.set(watch)
        trio.lowlevel.add_instrument(watch)
        trio.lowlevel.spawn_system_task(watch.gate, name="supervision.idle.gate")
        return watch


async def busy_poll() -> NoReturn:
    """Run forever so the loop never sleeps in I/O wait: every round polls I/O with a zero
    timeout. The poller waits for the loop to be idle (nothing else runnable, nothing from
    one non-blocking poll) before each of its own rounds, so it never keeps the loop busy
    for others: tasks in :func:`wait_until_idle` still see it go idle, and wake in the
    same round as the poller. Cancellable like any task."""
    while True:
        await wait_until_idle()


async def wait_until_idle() -> None:
    """Let every task that is runnable now, and every task those wake in turn, run first:
    return once the loop has nothing else to do (no task runnable and nothing from one
    non-blocking I/O poll). A checkpoint (cancellable). It does not return while some
    task stays runnable round after round; a caller that must not wait for that bounds
    it from outside (a cancel scope: tens of µs on a cold CPU, so a hot path should not
    open one per call; a periodic check elsewhere can cancel a long wait instead).

    For example, a reader that handed a batch on calls it before its next socket read, so
    the batch's way through the actors downstream is not queued behind the read's system
    calls; a read that finds data waiting takes it at once."""
    watch = _watch()
    task = trio.lowlevel.current_task()
    watch.add_waiter(task)

    def abort(_: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
        watch.waiters.remove(task)
        return trio.lowlevel.Abort.SUCCEEDED

    await trio.lowlevel.wait_task_rescheduled(abort)


async def every_when_idle(every_s: float, work: Callable[[], object]) -> NoReturn:
    """Call ``work`` every ``every_s``, each time once the loop is idle (no task runnable,
    nothing from one non-blocking I/O poll): for optional work that must not land on the
    way of a message in flight, such as rehearsals that keep a hot path in the CPU caches.
    Trio runs a round's tasks in either order, so work run straight from its timer would
    come before the next hop of a message in flight half the time. A message that arrives
    while ``work`` runs still waits for it."""
    while True:
        await trio.sleep(every_s)
        await wait_until_idle()
        work()
