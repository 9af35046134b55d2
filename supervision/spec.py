"""Declarative tree specifications, validated when the tree is built.

A spec is data: the runtime (``supervision.supervisor``) interprets it. Validation runs
before anything starts, so a wrong tree fails at build time with a message naming the
supervisor and the child, never half-way through a run.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from supervision.actor import Actor
    from supervision.mailbox import Mailbox


class Strategy(enum.StrEnum):
    """OTP restart strategies."""

    ONE_FOR_ONE = "one_for_one"
    ONE_FOR_ALL = "one_for_all"
    REST_FOR_ONE = "rest_for_one"
    SIMPLE_ONE_FOR_ONE = "simple_one_for_one"  # dynamic: children added at run time


class Restart(enum.StrEnum):
    """OTP child restart types."""

    PERMANENT = "permanent"  # always restarted
    TRANSIENT = "transient"  # restarted only after an abnormal exit
    TEMPORARY = "temporary"  # never restarted; removed when it exits


class AutoShutdown(enum.StrEnum):
    """What a supervisor does when a significant child exits by itself (OTP 24+)."""

    NEVER = "never"
    ANY_SIGNIFICANT = "any_significant"
    ALL_SIGNIFICANT = "all_significant"


BRUTAL: float = 0.0
"""``shutdown=BRUTAL``: cancel the child at once, no grace period."""

INFINITY: float = math.inf
"""``shutdown=INFINITY``: wait as long as the child needs (the default for supervisors)."""

DEFAULT_WORKER_SHUTDOWN_S = 5.0


class SpecError(ValueError):
    """A tree specification is invalid; the message names the supervisor and child."""


@attrs.frozen
class Backoff:
    """Per-child restart delay, Akka's BackoffSupervisor formula.

    delay(n) = min(max_s, min_s * 2**n) * (1 + U[0,1) * random_factor), where n counts
    consecutive restarts; n resets to 0 once the child has run ``reset_after_s``
    (default ``min_s``) without failing. Layered on top of the supervisor's intensity.
    """

    min_s: float
    max_s: float
    random_factor: float = 0.2
    reset_after_s: float | None = None

    def __attrs_post_init__(self) -> None:
        if not (0 <= self.min_s <= self.max_s) or self.random_factor < 0:
            raise SpecError(
                f"invalid backoff: need 0 <= min_s <= max_s and random_factor >= 0, got {self!r}"
            )

    @property
    def reset_after(self) -> float:
        return self.min_s if self.reset_after_s is None else self.reset_after_s

    def delay(self, restart_count: int, uniform: float) -> float:
        """The delay before restart number ``restart_count`` (0-based); ``uniform`` in [0, 1)."""
        base = min(self.max_s, self.min_s * 2.0 ** min(restart_count, 64))
        return base * (1.0 + uniform * self.random_factor)


@attrs.frozen
class ChildSpec:
    """One child of a supervisor: a worker (an Actor factory) or a nested supervisor.

    ``start`` is a factory so that every restart gets a fresh actor instance (OTP: state
    is not carried across a restart); the mailboxes the factory closes over outlive the
    instance, so queued messages survive the restart.
    """

    id: str
    start: Callable[[], Actor] | SupervisorSpec
    restart: Restart = Restart.PERMANENT
    shutdown: float | None = None  # seconds; BRUTAL; INFINITY; None = OTP default
    significant: bool = False
    backoff: Backoff | None = None
    heartbeat_timeout_s: float | None = None  # for the watchdog; None = not watched
    mailboxes: Sequence[Mailbox[Any]] = ()  # inboxes owned here, so they outlive restarts

    @property
    def is_supervisor(self) -> bool:
        return isinstance(self.start, SupervisorSpec)

    @property
    def shutdown_s(self) -> float:
        if self.shutdown is not None:
            return self.shutdown
        return INFINITY if self.is_supervisor else DEFAULT_WORKER_SHUTDOWN_S


@attrs.frozen
class SupervisorSpec:
    """A supervisor's flags and children; defaults are OTP's (one_for_one, 1 restart in 5 s)."""

    children: Sequence[ChildSpec] = ()
    strategy: Strategy = Strategy.ONE_FOR_ONE
    max_restarts: int = 1
    max_seconds: float = 5.0
    auto_shutdown: AutoShutdown = AutoShutdown.NEVER


def validate(spec: SupervisorSpec, path: str) -> None:
    """Reject an invalid tree before anything starts; recurse into child supervisors."""
    if not isinstance(spec.strategy, Strategy):
        raise SpecError(f"supervisor {path!r}: unknown strategy {spec.strategy!r}")
    if not isinstance(spec.auto_shutdown, AutoShutdown):
        raise SpecError(f"supervisor {path!r}: unknown auto_shutdown {spec.auto_shutdown!r}")
    if spec.max_restarts < 0:
        raise SpecError(f"supervisor {path!r}: max_restarts must be >= 0, got {spec.max_restarts}")
    if not spec.max_seconds > 0:
        raise SpecError(
            f"supervisor {path!r}: max_seconds (intensity window) must be > 0, "
            f"got {spec.max_seconds}"
        )
    seen: set[str] = set()
    for child in spec.children:
        where = f"supervisor {path!r}, child {child.id!r}"
        if not child.id or "/" in child.id:
            raise SpecError(f"{where}: a child id must be non-empty and contain no '/'")
        if child.id in seen:
            raise SpecError(f"{where}: duplicate child id")
        seen.add(child.id)
        if not isinstance(child.restart, Restart):
            raise SpecError(f"{where}: unknown restart type {child.restart!r}")
        if child.significant and child.restart is Restart.PERMANENT:
            raise SpecError(f"{where}: a significant child cannot be permanent")
        if child.significant and spec.auto_shutdown is AutoShutdown.NEVER:
            raise SpecError(f"{where}: significant children need auto_shutdown other than never")
        if child.shutdown is not None and child.shutdown < 0:
            raise SpecError(f"{where}: shutdown must be >= 0 seconds, got {child.shutdown}")
        if isinstance(child.start, SupervisorSpec):
            validate(child.start, f"{path}/{child.id}")
        elif not callable(child.start):
            raise SpecError(f"{where}: start must be an Actor factory or a SupervisorSpec")
    if spec.strategy is Strategy.SIMPLE_ONE_FOR_ONE and spec.children:
        raise SpecError(
            f"supervisor {path!r}: simple_one_for_one starts with no children; "
            "add them at run time with start_child()"
        )
