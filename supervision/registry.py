"""The live registry of tree nodes, and snapshots of it.

Nodes are plain mutable records updated in place by the supervisors; a snapshot walks them
depth-first in start order and copies them into frozen ``protocols.tree`` structs. No locks
are needed (one Trio thread), and a snapshot never awaits, so it is consistent at any
moment, including in the middle of a restart storm.
"""

from __future__ import annotations

import collections
import logging
import time
import traceback
from typing import TYPE_CHECKING, Any

import attrs
import trio

from protocols.tree import (
    FailureInfo,
    LifecycleState,
    MailboxStats,
    NodeKind,
    NodeSnapshot,
    TreeSnapshot,
)
from supervision.actor import NodeStatus

if TYPE_CHECKING:
    from supervision.mailbox import Mailbox

_LIVE = (LifecycleState.RUNNING, LifecycleState.DEGRADED)


def logger_for(path: str, namespace: str = "") -> logging.Logger:
    """``app/market/quote_cache`` -> logger ``app.market.quote_cache``; under
    ``namespace`` (the application's) when the path does not already start with it."""
    dotted = path.replace("/", ".")
    if namespace and dotted != namespace and not dotted.startswith(f"{namespace}."):
        dotted = f"{namespace}.{dotted}"
    return logging.getLogger(dotted)


def failure_info(exc: BaseException) -> FailureInfo:
    frames = traceback.format_tb(exc.__traceback__, limit=-4) if exc.__traceback__ else []
    short = "".join(frames) + "".join(traceback.format_exception_only(exc))
    return FailureInfo(
        type=f"{type(exc).__module__}.{type(exc).__qualname__}",
        message=str(exc),
        traceback=short[-2000:],
        at=time.time(),
    )


@attrs.define(eq=False)
class Node:
    path: str
    kind: NodeKind
    strategy: str | None = None
    restart: str | None = None
    window_s: float = 5.0  # the parent's intensity period, for restarts_in_window
    heartbeat_timeout_s: float | None = None
    state: LifecycleState = LifecycleState.STARTING
    status: NodeStatus = attrs.field(factory=NodeStatus)
    restarts_total: int = 0
    restart_times: collections.deque[float] = attrs.field(
        factory=lambda: collections.deque(maxlen=256)
    )
    started_at: float | None = None
    last_failure: FailureInfo | None = None
    mailboxes: tuple[Mailbox[Any], ...] = ()
    children: list[str] = attrs.field(factory=list)
    log: logging.Logger = attrs.field(
        default=attrs.Factory(lambda self: logger_for(self.path), takes_self=True)
    )

    def count_restart(self, now: float) -> None:
        self.restarts_total += 1
        self.restart_times.append(now)

    def snapshot(self, now: float | None) -> NodeSnapshot:
        state = self.state
        status = self.status
        live = state in _LIVE
        if live and status.degraded_reason is not None:
            state = LifecycleState.DEGRADED
        in_window = 0
        uptime = heartbeat_age = None
        if now is not None:
            horizon = now - self.window_s
            in_window = sum(1 for t in self.restart_times if t > horizon)
            if live and self.started_at is not None:
                uptime = now - self.started_at
            if status.last_heartbeat is not None:
                heartbeat_age = now - status.last_heartbeat
        mailboxes: tuple[MailboxStats, ...] = tuple(mb.statistics() for mb in self.mailboxes)
        return NodeSnapshot(
            path=self.path,
            kind=self.kind,
            state=state,
            strategy=self.strategy,
            restart=self.restart,
            restarts_total=self.restarts_total,
            restarts_in_window=in_window,
            uptime_s=uptime,
            degraded_reason=status.degraded_reason if live else None,
            last_failure=self.last_failure,
            mailboxes=mailboxes,
            heartbeat_age_s=heartbeat_age,
            children=tuple(self.children),
        )


class Registry:
    """Path -> Node for the whole tree."""

    def __init__(self, root: str, log_namespace: str = "") -> None:
        self.root = root
        self.log_namespace = log_namespace
        self.nodes: dict[str, Node] = {}

    def logger(self, path: str) -> logging.Logger:
        """The logger of the node at ``path``, under the tree's log namespace."""
        return logger_for(path, self.log_namespace)

    def get(self, path: str) -> Node | None:
        return self.nodes.get(path)

    def add(self, node: Node) -> Node:
        self.nodes[node.path] = node
        return node

    def remove_subtree(self, path: str) -> None:
        node = self.nodes.pop(path, None)
        if node is None:
            return
        for child in node.children:
            self.remove_subtree(child)

    def snapshot(
        self, *, shutdown_phase: str | None = None, extra: dict[str, str] | None = None
    ) -> TreeSnapshot:
        try:
            now: float | None = trio.current_time()
        except RuntimeError:  # outside Trio: no clock, no ages
            now = None
        out: list[NodeSnapshot] = []
        stack = [self.root]
        nodes = self.nodes
        while stack:
            node = nodes.get(stack.pop())
            if node is None:
                continue
            out.append(node.snapshot(now))
            stack.extend(reversed(node.children))
        return TreeSnapshot(
            taken_at=time.time(),
            root=self.root,
            nodes=tuple(out),
            shutdown_phase=shutdown_phase,
            extra=dict(extra or {}),
        )

    def heartbeat_deadlines(self) -> dict[str, float]:
        return {
            path: node.heartbeat_timeout_s
            for path, node in self.nodes.items()
            if node.heartbeat_timeout_s is not None
        }
