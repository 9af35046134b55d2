"""What the Trio loop does when no task is runnable: block in ``epoll_wait`` (default) or
keep polling (busy-poll, the trading-system "spin" idle strategy).

Blocking is free while idle, but on this kind of machine (a VM with 2 vCPUs) the first
tick after an idle spell arrives to a descheduled vCPU and cold CPU caches: measured in
``arbtree bench market``, tick-to-decision at 1k msg/s loses ~30-40 µs at p50 to it.
Spinning keeps the loop hot at the price of one core at 100 %: every scheduler round
polls I/O with a zero timeout, so a frame is picked up as soon as it lands. Use it on a
machine with a core to spare (``[run] idle = "spin"``); never in tests that rely on
``autojump_clock``, which only jumps when every task is blocked.
"""

from __future__ import annotations

from typing import Literal, NoReturn

import trio
import trio.lowlevel

IdleStrategy = Literal["block", "spin"]


async def busy_poll() -> NoReturn:
    """Run forever as one always-runnable task, so the loop never sleeps in I/O wait.
    Cancellable like any task (a plain checkpoint per round)."""
    checkpoint = trio.lowlevel.checkpoint
    while True:
        await checkpoint()
