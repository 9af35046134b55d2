"""Restart and shutdown durations of the supervision runtime, each beside a bare-Trio floor
measured the same way in the same run (``arbtree bench``'s runtime rows).

* restart: crash -> the new incarnation started (``runtime_bench.restart_latency``); the
  floor is a plain task that raises, caught by its parent, which starts a new task with
  ``nursery.start`` and waits for its ``task_status.started()``.
* shutdown: ``request_shutdown`` -> ``wait_stopped`` of a tree of idle actors parked on
  their inboxes, with arbtree's shutdown phases declared (none has work here); the floor
  cancels a nursery of as many tasks parked on memory channels.
"""

from __future__ import annotations

import time

import trio
import trio.testing

from actors.shutdown_phases import new_shutdown
from supervision import Actor, ActorContext, ChildSpec, Mailbox, SupervisorSpec, open_tree


async def bare_restart(n: int) -> list[float]:
    """Seconds from a task's raise to its replacement's ``started()``, ``n`` times."""
    out: list[float] = []

    async def doomed(go: trio.Event, *, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        await go.wait()
        raise RuntimeError("bench crash")

    raised_at = 0.0
    for _ in range(n + 1):
        go = trio.Event()
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(doomed, go)
                if raised_at:
                    out.append(time.perf_counter() - raised_at)
                raised_at = time.perf_counter()
                go.set()
        except* RuntimeError:
            pass
    return out


class _Idle(Actor):
    async def run(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        while True:
            await ctx.inbox.receive()


async def tree_shutdown(actors: int) -> float:
    """Seconds from ``request_shutdown`` to ``wait_stopped`` for ``actors`` idle actors."""
    children = [
        ChildSpec(id=f"a{i}", start=_Idle, mailboxes=(Mailbox[int](f"a{i}", 4),))
        for i in range(actors)
    ]
    spec = SupervisorSpec(children=children)
    async with open_tree(spec, name="bench", shutdown=new_shutdown()) as tree:
        t0 = time.perf_counter()
        tree.request_shutdown("bench")
        await tree.wait_stopped()
        return time.perf_counter() - t0


async def bare_shutdown(tasks: int) -> float:
    """Seconds to cancel a nursery of ``tasks`` tasks parked on memory channels and have
    them all exit."""
    channels = [trio.open_memory_channel[int](4) for _ in range(tasks)]

    async def parked(rx: trio.MemoryReceiveChannel[int]) -> None:
        while True:
            await rx.receive()

    async with trio.open_nursery() as nursery:
        for _, rx in channels:
            nursery.start_soon(parked, rx)
        await trio.testing.wait_all_tasks_blocked()
        t0 = time.perf_counter()
        nursery.cancel_scope.cancel()
    return time.perf_counter() - t0
