"""The actor base class and the context the runtime hands to every actor incarnation."""

from __future__ import annotations

import abc
import logging
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


@attrs.define(eq=False)
class NodeStatus:
    """The mutable liveness fields an actor may touch; everything else belongs to the runtime."""

    last_heartbeat: float | None = None
    degraded_reason: str | None = None
