"""What the Trio loop does when no task is runnable: block in ``epoll_wait`` (default) or
keep polling (busy-poll, the trading-system "spin" idle strategy);
:func:`wait_until_idle`, which lets a producer step aside until the work it handed on
(and whatever that wakes in turn) has run; and :func:`every_when_idle`, a timer for
optional work that only runs when nothing else is runnable.

Blocking is free while idle, but on this kind of machine (a VM with 2 vCPUs) the first
tick after an idle spell arrives to a descheduled vCPU and cold CPU caches: measured in
``arbtree bench market``, tick-to-decision at 1k msg/s loses ~30-40 µs at p50 to it.
Spinning keeps the loop hot at the price of one core at 100 %: every scheduler round
polls I/O with a zero timeout, so a frame is picked up as soon as it lands. Use it on a
machine with a core to spare (``[run] idle = "spin"``); never in tests that rely on
``autojump_clock``, which only jumps when every task is blocked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NoReturn

import trio
import trio.lowlevel
import trio.testing

IdleStrategy = Literal["block", "spin"]


async def busy_poll() -> NoReturn:
    """Run forever so the loop never sleeps in I/O wait: every round polls I/O with a zero
    timeout. The poller waits for the loop to be idle (nothing else runnable, nothing from
    one non-blocking poll) before each of its own rounds, so it never keeps the loop busy
    for others: tasks in :func:`wait_until_idle` still see it go idle, and wake in the
    same round as the poller. Cancellable like any task."""
    wait_idle = trio.testing.wait_all_tasks_blocked
    while True:
        await wait_idle()


async def wait_until_idle() -> None:
    """Let every task that is runnable now, and every task those wake in turn, run first:
    return once the loop has nothing else to do (no task runnable and nothing from one
    non-blocking I/O poll). A checkpoint (cancellable). It does not return while some
    task stays runnable round after round; a caller that must not wait for that bounds
    it from outside (a cancel scope: tens of µs on a cold CPU, so a hot path should not
    open one per call; the feeds use their liveness timer instead).

    A feed calls it after handing a batch to the quote cache and before its next socket
    read, so the batch's way to a decision (cache, detector, and what they wake) is not
    queued behind the read's system calls; a read that finds data waiting takes it at
    once. Uses Trio's idle detection (:func:`trio.testing.wait_all_tasks_blocked` with no
    cushion; public API, also what ``autojump_clock`` defers to)."""
    await trio.testing.wait_all_tasks_blocked()


async def every_when_idle(every_s: float, work: Callable[[], object]) -> NoReturn:
    """Call ``work`` every ``every_s``, each time once the loop is idle (no task runnable,
    nothing from one non-blocking I/O poll): for optional work that must not land on a
    tick's way to an order, such as the rehearsals that keep the order path in the CPU
    caches (:mod:`actors.trading.rehearsal`). Trio runs a round's tasks in either order,
    so work run straight from its timer would come before the next hop of a tick in
    flight half the time. A tick that arrives while ``work`` runs still waits for it."""
    while True:
        await trio.sleep(every_s)
        await wait_until_idle()
        work()
