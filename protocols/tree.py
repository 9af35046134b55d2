"""Supervision-tree snapshots, lifecycle events and shutdown reports.

These cross process boundaries (control endpoint, inspector, storage), so they are
msgspec Structs that encode to JSON and decode back to the same types.
"""

from __future__ import annotations

import enum

import msgspec


class LifecycleState(enum.StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    DEGRADED = "degraded"
    STOPPING = "stopping"
    STOPPED = "stopped"
    BACKOFF = "backoff"
    FAILED = "failed"


class NodeKind(enum.StrEnum):
    SUPERVISOR = "supervisor"
    WORKER = "worker"


class MailboxStats(msgspec.Struct, frozen=True, kw_only=True):
    """A mailbox's counters, as returned by ``Mailbox.statistics()``."""

    name: str
    policy: str
    depth: int
    capacity: int
    peak: int
    sent: int
    received: int
    dropped: int
    coalesced: int
    # Of ``received``: run at once by the receiver's handler in the sender's step (direct
    # dispatch, see supervision.mailbox); the rest were queued and taken by its task.
    direct: int = 0


class FailureInfo(msgspec.Struct, frozen=True, kw_only=True):
    """The last abnormal exit of a node: enough to diagnose it from the inspector."""

    type: str
    message: str
    traceback: str
    at: float  # wall-clock epoch seconds


class NodeSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    path: str  # "arbtree/market/quote_cache"
    kind: NodeKind
    state: LifecycleState
    strategy: str | None = None  # supervisors only
    restart: str | None = None  # permanent / transient / temporary, for children
    restarts_total: int = 0
    restarts_in_window: int = 0
    uptime_s: float | None = None  # since the current incarnation started
    degraded_reason: str | None = None
    last_failure: FailureInfo | None = None
    mailboxes: tuple[MailboxStats, ...] = ()
    heartbeat_age_s: float | None = None
    children: tuple[str, ...] = ()  # paths, in start order


class TreeSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """The whole tree at one moment; ``nodes`` is in depth-first start order."""

    taken_at: float  # wall-clock epoch seconds
    root: str
    nodes: tuple[NodeSnapshot, ...]
    shutdown_phase: str | None = None
    extra: dict[str, str] = {}  # application-level facts (e.g. trading state)


class SupervisionEventKind(enum.StrEnum):
    STARTED = "started"
    EXITED = "exited"  # normal exit
    FAILED = "failed"
    RESTARTING = "restarting"
    BACKOFF = "backoff"
    GAVE_UP = "gave_up"
    STOPPED = "stopped"
    PHASE_STARTED = "phase_started"
    PHASE_FINISHED = "phase_finished"


class SupervisionEvent(msgspec.Struct, frozen=True, kw_only=True):
    kind: SupervisionEventKind
    path: str
    at: float  # wall-clock epoch seconds
    detail: str = ""


class PhaseOutcome(enum.StrEnum):
    OK = "ok"
    TIMED_OUT = "timed_out"
    FAILED = "failed"
    SKIPPED = "skipped"  # global deadline already passed


class PhaseReport(msgspec.Struct, frozen=True, kw_only=True):
    phase: str
    duration_s: float
    outcome: PhaseOutcome
    timed_out: bool
    tasks: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


class ShutdownReport(msgspec.Struct, frozen=True, kw_only=True):
    reason: str
    forced: bool
    phases: tuple[PhaseReport, ...]
    duration_s: float
