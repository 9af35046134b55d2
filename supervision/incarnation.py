"""What a supervisor keeps per child: the :class:`ChildRecord` (spec, registry node,
backoff, scheduled restart) and its current :class:`Incarnation` (scope, stop signal,
outcome), the start handshake that tells whether the actor reached ``started()``, and the
hard stop of an incarnation and everything under it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs
import trio

from supervision.actor import StopSignal
from supervision.injected import InjectedFault
from supervision.registry import Node
from supervision.restarts import BackoffState
from supervision.spec import ChildSpec

if TYPE_CHECKING:
    from supervision.supervisor import Supervisor


@attrs.define(eq=False)
class Incarnation:
    """One run of a child: its scope, stop state and outcome."""

    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    stop: StopSignal = attrs.field(factory=StopSignal)
    done: trio.Event = attrs.field(factory=trio.Event)
    supervisor: Supervisor | None = None
    started_at: float = 0.0
    stop_requested: bool = False
    handled: bool = False  # its exit was dealt with (by a stop or by the loop)
    outcome: BaseException | None = None
    injected: InjectedFault | None = None  # see supervision.injected
    hang_scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)


@attrs.define(eq=False)
class ChildRecord:
    spec: ChildSpec
    node: Node
    dynamic: bool = False
    inc: Incarnation | None = None
    backoff: BackoffState = attrs.field(factory=BackoffState)
    pending: object | None = None  # token of a scheduled (backoff) restart


class _Handshake:
    """Wraps the task status passed to an actor, to know whether it reached ``started()``."""

    def __init__(self, inner: trio.TaskStatus[None], on_started: Callable[[], None]) -> None:
        self._inner = inner
        self._on_started = on_started
        self.started_ok = False

    def started(self, value: None = None) -> None:
        self._inner.started(value)
        self.started_ok = True
        self._on_started()


def _force(inc: Incarnation, reason: str) -> None:
    inc.stop.force(reason)
    inc.scope.cancel(reason=reason)
    inc.hang_scope.cancel(reason=reason)
    if inc.supervisor is not None:
        inc.supervisor.force_all(reason)
