"""Readiness checks: components register a cheap ``() -> (ok, reason)`` at start.

``/health/ready`` is ready when every registered check passes, the tree has finished
starting (no node starting, backing off or failed) and no shutdown is running. Checks are
called on the event loop at request time, so they must only read state the component
already keeps (a connected flag, a book's last update time) and never do I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import attrs
import msgspec

from protocols.tree import LifecycleState, TreeSnapshot

__all__ = ["CheckResult", "ReadinessCheck", "ReadinessChecks", "ReadinessReport"]

log = logging.getLogger("arbtree.observability.health")

ReadinessCheck = Callable[[], tuple[bool, str]]

_NOT_READY_STATES = (LifecycleState.STARTING, LifecycleState.BACKOFF, LifecycleState.FAILED)


class CheckResult(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    ok: bool
    reason: str = ""


class ReadinessReport(msgspec.Struct, frozen=True, kw_only=True):
    ready: bool
    checks: tuple[CheckResult, ...]
    failed: tuple[str, ...]  # names of the failed checks


@attrs.define(eq=False)
class ReadinessChecks:
    """The registry of readiness checks for one process."""

    _checks: dict[str, ReadinessCheck] = attrs.field(factory=dict)

    def register(self, name: str, check: ReadinessCheck) -> Callable[[], None]:
        """Add (or replace) the check called ``name``; returns its unregister function.

        A restarted component registers again under the same name, replacing its previous
        incarnation's check. The unregister function only removes the check it added.
        """
        self._checks[name] = check

        def unregister() -> None:
            if self._checks.get(name) is check:
                del self._checks[name]

        return unregister

    def names(self) -> tuple[str, ...]:
        return tuple(self._checks)

    def evaluate(
        self, snapshot: TreeSnapshot | None = None, *, require_tree: bool = True
    ) -> ReadinessReport:
        """Run every check; with ``require_tree``, a missing snapshot is not ready."""
        results: list[CheckResult] = []
        if snapshot is None and require_tree:
            results.append(CheckResult(name="tree", ok=False, reason="no tree attached"))
        if snapshot is not None:
            results.append(_tree_check(snapshot))
            phase = snapshot.shutdown_phase
            results.append(
                CheckResult(
                    name="shutdown",
                    ok=phase is None,
                    reason="" if phase is None else f"shutting down (phase {phase})",
                )
            )
        for name, check in list(self._checks.items()):
            try:
                ok, reason = check()
            except Exception as exc:
                log.exception("readiness check %s raised", name)
                ok, reason = False, f"check raised {type(exc).__name__}: {exc}"
            results.append(CheckResult(name=name, ok=bool(ok), reason=reason))
        failed = tuple(r.name for r in results if not r.ok)
        return ReadinessReport(ready=not failed, checks=tuple(results), failed=failed)


def _tree_check(snapshot: TreeSnapshot) -> CheckResult:
    bad = [f"{n.path} is {n.state.value}" for n in snapshot.nodes if n.state in _NOT_READY_STATES]
    if bad:
        more = f" (+{len(bad) - 3} more)" if len(bad) > 3 else ""
        return CheckResult(name="tree", ok=False, reason="; ".join(bad[:3]) + more)
    return CheckResult(name="tree", ok=True, reason=f"{len(snapshot.nodes)} nodes up")
