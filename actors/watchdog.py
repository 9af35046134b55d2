"""Watchdog: heartbeats, feed staleness, and the trading-state ladder.

Every ``check_interval_s`` it reads the tree snapshot against
``tree.heartbeat_deadlines()``: a running actor silent beyond its deadline is restarted
through its supervisor (``tree.restart_child``), then given ``restart_grace_s`` before it
can be restarted again. Restarts in a sliding window (its own plus the supervisors',
from ``restarts_total``, less an operator's) escalate the ladder to REDUCING, then
HALTED; so does storage being unhealthy for too long. Stale instruments (a callable,
e.g. the quote cache's stale flags) degrade the watchdog node and are reported to
``on_stale``. Every decision is logged and, with a sink, recorded as a
``SupervisionEvent``.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

import attrs
import msgspec
import trio

from actors.trading.control import TradingControl
from actors.trading.ladder import TradingState
from actors.trading.sink import RecordSink
from protocols.config.trading import WatchdogConfig
from protocols.tree import LifecycleState, SupervisionEvent, SupervisionEventKind, TreeSnapshot
from supervision import Actor, ActorContext

log = logging.getLogger("arbtree.watchdog")


class WatchdogStats(msgspec.Struct, frozen=True, kw_only=True):
    """What the watchdog has done so far (``Watchdog.statistics()``)."""

    checks: int  # tree inspections
    restarts: int  # actors it restarted
    restarts_in_window: int  # restarts (its own and the supervisors') in the sliding window
    decisions: dict[str, int]  # decisions taken, by kind
    stale_instruments: tuple[str, ...]  # sorted


class TreeHandle(Protocol):
    def snapshot(self) -> TreeSnapshot: ...

    def heartbeat_deadlines(self) -> dict[str, float]: ...

    def restart_child(self, path: str, reason: str) -> Awaitable[None]: ...


_WATCHED = (LifecycleState.RUNNING, LifecycleState.DEGRADED)


@attrs.define(eq=False)
class OperatorRestarts:
    """Restarts an operator asked for (the control endpoint), per node path. They are not
    failures: like the supervisors' intensity, the watchdog's ladder does not count them
    (docs/supervision.md). The control endpoint is given :meth:`wrap` of the tree."""

    counts: collections.Counter[str] = attrs.field(factory=collections.Counter)

    def wrap(self, tree: Any) -> _CountingTree:
        return _CountingTree(tree, self)


@attrs.define(eq=False)
class _CountingTree:
    """The tree as the control endpoint sees it: ``restart_child`` is counted as an
    operator's restart first; everything else is the tree's."""

    tree: Any
    operator: OperatorRestarts

    async def restart_child(self, path: str, reason: str) -> Any:
        self.operator.counts[path] += 1
        return await self.tree.restart_child(path, reason)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tree, name)


@attrs.define(eq=False)
class Watchdog(Actor):
    config: WatchdogConfig
    # The Tree is built after its children start: the callable may return None (or raise
    # LookupError) until it exists; the watchdog waits for it.
    tree: Callable[[], TreeHandle | None]
    control: TradingControl | None = None
    stale_instruments: Callable[[], Iterable[str]] | None = None
    storage_healthy: Callable[[], bool] | None = None
    on_stale: Callable[[frozenset[str]], None] | None = None
    sink: RecordSink | None = None
    operator_restarts: OperatorRestarts | None = None
    restarts: int = attrs.field(init=False, default=0)
    checks: int = attrs.field(init=False, default=0)  # tree inspections so far
    decisions: collections.Counter[str] = attrs.field(init=False, factory=collections.Counter)
    stale: frozenset[str] = attrs.field(init=False, default=frozenset())
    _restart_times: collections.deque[float] = attrs.field(init=False, factory=collections.deque)
    _grace_until: dict[str, float] = attrs.field(init=False, factory=dict)
    _seen_restarts: dict[str, int] = attrs.field(init=False, factory=dict)
    _storage_down_since: float | None = attrs.field(init=False, default=None)

    def statistics(self) -> WatchdogStats:
        return WatchdogStats(
            checks=self.checks,
            restarts=self.restarts,
            restarts_in_window=len(self._restart_times),
            decisions=dict(self.decisions),
            stale_instruments=tuple(sorted(self.stale)),
        )

    def _statistics_record(self) -> dict[str, Any]:
        """:meth:`statistics` as plain data, for the trading control's statistics."""
        record: dict[str, Any] = msgspec.to_builtins(self.statistics())
        return record

    async def run(
        self,
        ctx: ActorContext,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        if self.control is not None:
            self.control.stats_sources["watchdog"] = self._statistics_record
        task_status.started()
        tree = None
        while tree is None:
            ctx.heartbeat()
            try:
                tree = self.tree()
            except LookupError:
                tree = None
            if tree is None:
                await trio.sleep(self.config.check_interval_s)
        # Restarts that happened before this incarnation are history, not news.
        operator = self.operator_restarts.counts if self.operator_restarts is not None else {}
        for node in tree.snapshot().nodes:
            self._seen_restarts[node.path] = node.restarts_total - operator.get(node.path, 0)
        while True:
            ctx.heartbeat()
            await self.check(ctx, tree)
            await trio.sleep(self.config.check_interval_s)

    def _decide(self, ctx: ActorContext, kind: str, path: str, detail: str) -> None:
        self.decisions[kind] += 1
        ctx.log.warning("watchdog %s %s: %s", kind, path, detail)
        if self.sink is not None:
            event_kind = (
                SupervisionEventKind.RESTARTING
                if kind == "restart"
                else SupervisionEventKind.FAILED
            )
            self.sink(
                SupervisionEvent(
                    kind=event_kind, path=path, at=time.time(), detail=f"watchdog {kind}: {detail}"
                )
            )

    async def check(self, ctx: ActorContext, tree: TreeHandle) -> None:
        self.checks += 1
        now = ctx.now()
        cfg = self.config
        snapshot = tree.snapshot()
        deadlines = tree.heartbeat_deadlines()
        nodes = {n.path: n for n in snapshot.nodes}
        # Restarts done by the supervisors themselves count toward escalation too; an
        # operator's do not. Counted as restarts less the operator's, never going back
        # (the operator's is counted before the tree's own count moves).
        operator = self.operator_restarts.counts if self.operator_restarts is not None else {}
        for path, snap in nodes.items():
            before = self._seen_restarts.get(path, 0)
            counted = snap.restarts_total - operator.get(path, 0)
            if counted > before:
                self._restart_times.extend([now] * (counted - before))
                self._seen_restarts[path] = counted
        for path, timeout in sorted(deadlines.items()):
            if path == ctx.path:
                continue
            node = nodes.get(path)
            if node is None or node.state not in _WATCHED or node.heartbeat_age_s is None:
                continue
            if node.heartbeat_age_s <= timeout or self._grace_until.get(path, 0.0) > now:
                continue
            reason = f"no heartbeat for {node.heartbeat_age_s:.2f} s (deadline {timeout:.2f} s)"
            self._decide(ctx, "restart", path, reason)
            self._grace_until[path] = now + cfg.restart_grace_s + timeout
            try:
                await tree.restart_child(path, f"watchdog: {reason}")
            except (KeyError, RuntimeError) as exc:
                self._decide(ctx, "restart_failed", path, repr(exc))
                continue
            self.restarts += 1
            # The supervisor counts it in restarts_total; _seen_restarts picks it up next time.
        while self._restart_times and self._restart_times[0] < now - cfg.restart_window_s:
            self._restart_times.popleft()
        recent = len(self._restart_times)
        control = self.control
        if control is not None:
            if recent >= cfg.restarts_to_halted:
                self._escalate(
                    ctx, TradingState.HALTED, f"{recent} restarts in {cfg.restart_window_s:.0f} s"
                )
            elif recent >= cfg.restarts_to_reducing:
                self._escalate(
                    ctx, TradingState.REDUCING, f"{recent} restarts in {cfg.restart_window_s:.0f} s"
                )
            if self.storage_healthy is not None:
                if self.storage_healthy():
                    self._storage_down_since = None
                else:
                    since = self._storage_down_since
                    if since is None:
                        self._storage_down_since = since = now
                    down = now - since
                    if down >= cfg.storage_down_halted_s:
                        self._escalate(ctx, TradingState.HALTED, f"storage down {down:.0f} s")
                    elif down >= cfg.storage_down_reducing_s:
                        self._escalate(ctx, TradingState.REDUCING, f"storage down {down:.0f} s")
        if self.stale_instruments is not None:
            stale = frozenset(self.stale_instruments())
            if stale != self.stale:
                self.stale = stale
                if stale:
                    detail = f"{len(stale)} stale: {', '.join(sorted(stale)[:5])}"
                    ctx.set_degraded(detail)
                    self._decide(ctx, "degrade", "feeds", detail)
                else:
                    ctx.set_healthy()
                    self.decisions["recovered"] += 1
                if self.on_stale is not None:
                    self.on_stale(stale)

    def _escalate(self, ctx: ActorContext, state: TradingState, reason: str) -> None:
        control = self.control
        if control is None or control.ladder.latched >= state:
            return
        control.ladder.escalate(state, reason, "watchdog")
        self._decide(ctx, f"escalate_{state.label}", "trading", reason)
