"""Faults injected into a running worker from outside (the chaos harness, the control
endpoint): a crash, and a hang.

Trio cannot raise into another task, so both cancel the incarnation's scope at its next
checkpoint (its cleanup runs as on a stop) and then act in the child's own task:

* ``crash``: the supervisor sees :class:`InjectedCrash` as the child's outcome, exactly as
  if ``run`` had raised it (counted against intensity, backoff, restart by its type);
* ``hang``: the task stays alive but silent, so the child no longer heartbeats and nobody
  reads its mailboxes, while its supervisor still believes it runs; it ends only when the
  child is stopped (a watchdog's heartbeat timeout, a restart, the tree's shutdown).
"""

from __future__ import annotations

import enum

import trio


class InjectedFault(enum.StrEnum):
    CRASH = "crash"
    HANG = "hang"


class InjectedCrash(RuntimeError):
    """The exception a crashed worker fails with."""


async def act_out(fault: InjectedFault, path: str, hang_scope: trio.CancelScope) -> None:
    """Run in the child's task after its scope was cancelled for ``fault``."""
    if fault is InjectedFault.CRASH:
        raise InjectedCrash(f"crash injected into {path}")
    with hang_scope:
        await trio.sleep_forever()
