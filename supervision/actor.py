"""The actor base class and the context the runtime hands to every actor incarnation."""

from __future__ import annotations

import abc
import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import attrs
import trio

if TYPE_CHECKING:
    from supervision.mailbox import Mailbox
    from supervision.shutdown import ShutdownCoordinator


class Actor(abc.ABC):
    """Subclass (with ``@attrs.define``) and implement ``run``.

    ``run`` must call ``task_status.started()`` once it is ready to serve: the supervisor
    starts children in order and waits for each handshake before starting the next.
    Returning from ``run`` is a normal exit; raising is a failure; either is then handled
    by the child's restart type. An actor owns its state: no locks, no shared mutation.

    Stopping: the supervisor cancels ``run`` (``trio.Cancelled`` at the next checkpoint,
    carrying a reason). Cleanup that must await goes in ``with ctx.grace():`` inside a
    ``finally``/``except trio.Cancelled`` block: that scope is shielded from the stop and
    cancelled itself when the child's shutdown grace (``ChildSpec.shutdown``) runs out.
    """

    @abc.abstractmethod
    async def run(
        self,
        ctx: ActorContext,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None: ...


@attrs.define(eq=False)
class ActorContext:
    """What the runtime gives one actor incarnation: identity, inboxes, liveness, shutdown.

    The runtime builds one per incarnation; the mailboxes are the same objects every time.
    """

    path: str
    log: logging.LoggerAdapter[logging.Logger]
    mailboxes: dict[str, Mailbox[Any]]
    shutdown: ShutdownCoordinator
    _node: NodeStatus
    _stop: StopSignal = attrs.field(factory=lambda: StopSignal())

    @property
    def inbox(self) -> Mailbox[Any]:
        """The first mailbox declared in the child spec."""
        return next(iter(self.mailboxes.values()))

    def mailbox(self, name: str) -> Mailbox[Any]:
        return self.mailboxes[name]

    def now(self) -> float:
        """Trio's clock (virtual under MockClock): use it for every deadline and age."""
        return trio.current_time()

    def heartbeat(self) -> None:
        """Tell the watchdog this actor is alive; cheap enough to call once per batch."""
        self._node.last_heartbeat = trio.current_time()

    def set_degraded(self, reason: str) -> None:
        self._node.degraded_reason = reason

    def set_healthy(self) -> None:
        self._node.degraded_reason = None

    @property
    def stop_requested(self) -> bool:
        """True once the supervisor has asked this incarnation to stop."""
        return self._stop.reason is not None

    @property
    def stop_reason(self) -> str | None:
        return self._stop.reason

    @contextmanager
    def grace(self) -> Iterator[trio.CancelScope]:
        """A shielded scope for cleanup after a stop, bounded by the shutdown grace.

        The stop's cancellation does not reach inside; the runtime cancels the scope when the
        grace period (``ChildSpec.shutdown`` seconds) expires, or at once for ``BRUTAL``.
        Also usable before any stop (e.g. in a ``finally`` after an error): it is then only
        a shield until a stop's grace expires.
        """
        with self._stop.open_grace() as scope:
            yield scope


@attrs.define(eq=False)
class NodeStatus:
    """The mutable liveness fields an actor may touch; everything else belongs to the runtime."""

    last_heartbeat: float | None = None
    degraded_reason: str | None = None


@attrs.define(eq=False)
class StopSignal:
    """Per-incarnation stop state shared by the runtime and ``ActorContext.grace``.

    ``request`` records the reason and the hard deadline; ``force`` cancels every open grace
    scope. The runtime cancels the actor's own (unshielded) scope itself.
    """

    reason: str | None = None
    hard_deadline: float = math.inf
    forced: bool = False
    _scopes: set[trio.CancelScope] = attrs.field(factory=set)

    def request(self, reason: str, grace_s: float) -> None:
        if self.reason is None:
            self.reason = reason
        deadline = trio.current_time() + grace_s if grace_s != math.inf else math.inf
        self.hard_deadline = min(self.hard_deadline, deadline)
        for scope in self._scopes:
            scope.deadline = min(scope.deadline, self.hard_deadline)

    def force(self, reason: str) -> None:
        self.forced = True
        if self.reason is None:
            self.reason = reason
        for scope in self._scopes:
            scope.cancel(reason=reason)

    @contextmanager
    def open_grace(self) -> Iterator[trio.CancelScope]:
        scope = trio.CancelScope(shield=True, deadline=self.hard_deadline)
        if self.forced:
            scope.cancel(reason=self.reason)
        self._scopes.add(scope)
        try:
            with scope:
                yield scope
        finally:
            self._scopes.discard(scope)
