"""The OTP supervisor on a Trio nursery.

One ``Supervisor`` object per supervisor *incarnation*. Its children are tasks in its
nursery; every decision (restart, stop, give up, dynamic start) is taken by one loop task
that reads a command channel, so decisions are serialised exactly like OTP's gen_server
supervisor: a child's exit, a backoff timer firing, and a ``start_child`` call from
outside are all commands.

Stopping a child (``_stop_child``), "graceful" in Trio terms:

* a worker's ``run`` executes inside its own cancel scope. A stop cancels that scope with a
  reason, so the actor sees ``trio.Cancelled`` at its next checkpoint. Cleanup that needs to
  await runs inside ``ctx.grace()``, a shielded scope the stop does not reach. The child's
  ``shutdown`` seconds bound that grace: the grace scopes get that deadline, and when it
  passes the runtime cancels them (hard stop). ``BRUTAL`` cancels the grace scopes at
  once; ``INFINITY`` never does.
* a nested supervisor is asked to stop through its command channel, so it terminates its
  own children in reverse start order with their own shutdown policies; only if its
  ``shutdown`` runs out is its scope (and every grace scope under it) cancelled.

Children are started in order, each with ``nursery.start`` (the actor calls
``task_status.started()`` when ready); an exception before ``started()`` is a failed start.

Beside it: :mod:`supervision.incarnation` (per-child records, the start handshake, hard
stop), :mod:`supervision.commands` (what the loop reads) and :mod:`supervision.failures`
(classifying a child's exit; ``unwrap`` is re-exported here).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import trio

from protocols.tree import LifecycleState, NodeKind, SupervisionEventKind
from supervision.actor import ActorContext
from supervision.commands import _Call, _ChildDown, _Command, _DelayedStart, _Stop
from supervision.failures import _must_propagate
from supervision.failures import unwrap as unwrap  # re-exported for supervision.tree
from supervision.incarnation import ChildRecord, Incarnation, _force, _Handshake
from supervision.injected import act_out
from supervision.registry import Node, failure_info
from supervision.restarts import Intensity
from supervision.spec import (
    AutoShutdown,
    ChildSpec,
    Restart,
    Strategy,
    SupervisorSpec,
)

if TYPE_CHECKING:
    from supervision.tree import Tree


class SupervisorGaveUp(Exception):
    """A supervisor exceeded its restart intensity (or could not start its children).

    ``child_path`` is the child whose failure tipped it over; ``cause`` that failure. The
    parent supervisor handles this like any other abnormal exit of its child.
    """

    def __init__(self, supervisor_path: str, child_path: str, cause: BaseException | None) -> None:
        what = f"{type(cause).__name__}: {cause}" if cause is not None else "no cause"
        super().__init__(
            f"supervisor {supervisor_path!r} gave up after {child_path!r} failed ({what})"
        )
        self.supervisor_path = supervisor_path
        self.child_path = child_path
        self.cause = cause


class Supervisor:
    """One incarnation of a supervisor node; see the module docstring."""

    def __init__(self, tree: Tree, path: str, spec: SupervisorSpec, node: Node) -> None:
        self.tree = tree
        self.path = path
        self.spec = spec
        self.node = node
        self.log = node.log
        self.intensity = Intensity(spec.max_restarts, spec.max_seconds)
        self.children: list[ChildRecord] = []
        self._send, self._recv = trio.open_memory_channel[_Command](math.inf)
        self._nursery: trio.Nursery | None = None
        self._finished = False
        self._result: SupervisorGaveUp | None = None
        self._alive = True

    # ------------------------------------------------------------- public-ish

    def find(self, child_path: str) -> ChildRecord | None:
        for rec in self.children:
            if rec.node.path == child_path:
                return rec
        return None

    def request_stop(self, reason: str) -> None:
        """Ordered stop: children in reverse start order, each with its shutdown policy."""
        self._post(_Stop(reason))

    def force_all(self, reason: str) -> None:
        """Hard stop of everything below: cancel every child's scope and grace scopes."""
        for rec in self.children:
            inc = rec.inc
            if inc is not None and not inc.done.is_set():
                _force(inc, reason)

    async def call(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``fn`` inside the supervisor loop (serialised with every other decision)."""
        if not self._alive:
            raise RuntimeError(f"supervisor {self.path!r} is not running")
        call = _Call(fn)
        self._post(call)
        await call.done.wait()
        if call.error is not None:
            raise call.error
        return call.result

    # ------------------------------------------------------------------- run

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                for child in self.spec.children:
                    self._add_record(child, dynamic=False)
                for rec in list(self.children):
                    exc = await self._start(rec)
                    if exc is not None:
                        await self._stop_all(f"start of {rec.node.path!r} failed")
                        self._result = SupervisorGaveUp(self.path, rec.node.path, exc)
                        break
                else:
                    task_status.started()
                    await self._loop()
                nursery.cancel_scope.cancel(reason=f"supervisor {self.path} finished")
        finally:
            self._alive = False
            self._fail_pending_calls()
            for rec in self.children:
                if rec.dynamic:
                    self.tree.registry.remove_subtree(rec.node.path)
                    if rec.node.path in self.node.children:
                        self.node.children.remove(rec.node.path)
        if self._result is not None:
            raise self._result

    def _fail_pending_calls(self) -> None:
        while True:
            try:
                cmd = self._recv.receive_nowait()
            except trio.WouldBlock:
                return
            if isinstance(cmd, _Call):
                cmd.error = RuntimeError(f"supervisor {self.path!r} stopped")
                cmd.done.set()

    def _post(self, cmd: _Command) -> None:
        self._send.send_nowait(cmd)

    async def _loop(self) -> None:
        while not self._finished:
            cmd = await self._recv.receive()
            if isinstance(cmd, _ChildDown):
                rec, inc = cmd.rec, cmd.inc
                ran_for = 0.0
                if inc is not None:
                    if inc is not rec.inc or inc.handled:
                        continue  # stale: a stop already dealt with it
                    inc.handled = True
                    rec.inc = None
                    ran_for = trio.current_time() - inc.started_at
                await self._on_child_down(rec, cmd.exc, ran_for=ran_for, failed_start=inc is None)
            elif isinstance(cmd, _DelayedStart):
                live = [r for r in cmd.group if r.pending is cmd.token and r in self.children]
                for r in live:
                    r.pending = None
                if live:
                    await self._start_group(live)
            elif isinstance(cmd, _Stop):
                self.log.info("stopping: %s", cmd.reason)
                await self._stop_all(cmd.reason)
                self._finished = True
            else:
                try:
                    cmd.result = await cmd.fn()
                except Exception as exc:
                    cmd.error = exc
                finally:
                    cmd.done.set()

    # -------------------------------------------------------------- children

    def _child_path(self, child_id: str) -> str:
        return f"{self.path}/{child_id}"

    def _add_record(self, spec: ChildSpec, *, dynamic: bool) -> ChildRecord:
        path = self._child_path(spec.id)
        registry = self.tree.registry
        node = registry.get(path)
        sub = spec.start if isinstance(spec.start, SupervisorSpec) else None
        if node is None or dynamic:
            node = registry.add(
                Node(
                    path=path,
                    kind=NodeKind.SUPERVISOR if sub is not None else NodeKind.WORKER,
                    strategy=sub.strategy.value if sub is not None else None,
                    restart=spec.restart.value,
                    window_s=self.spec.max_seconds,
                    heartbeat_timeout_s=spec.heartbeat_timeout_s,
                    mailboxes=tuple(spec.mailboxes),
                    log=registry.logger(path),
                )
            )
        node.state = LifecycleState.STOPPED
        rec = ChildRecord(spec=spec, node=node, dynamic=dynamic)
        self.children.append(rec)
        if path not in self.node.children:
            self.node.children.append(path)
        return rec

    def _remove_record(self, rec: ChildRecord) -> None:
        if rec in self.children:
            self.children.remove(rec)
        path = rec.node.path
        if path in self.node.children:
            self.node.children.remove(path)
        self.tree.registry.remove_subtree(path)

    async def _start(self, rec: ChildRecord) -> BaseException | None:
        """Start one child and wait for its handshake; return the failure, if any."""
        assert self._nursery is not None
        inc = Incarnation()
        rec.inc = inc
        rec.pending = None
        node = rec.node
        node.state = LifecycleState.STARTING
        try:
            await self._nursery.start(self._run_child, rec, inc, name=node.path)
        except BaseException as raw:
            if _must_propagate(raw):
                raise
            exc = unwrap(raw)
            inc.handled = True
            rec.inc = None
            node.state = LifecycleState.FAILED
            node.last_failure = failure_info(exc)
            node.log.warning("failed to start: %s: %s", type(exc).__name__, exc)
            self.tree.emit(SupervisionEventKind.FAILED, node.path, f"start failed: {exc!r}")
            return exc
        return None

    async def _run_child(
        self,
        rec: ChildRecord,
        inc: Incarnation,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        node = rec.node
        spec = rec.spec

        def on_started() -> None:
            now = trio.current_time()
            inc.started_at = now
            node.started_at = now
            node.status.last_heartbeat = now
            node.status.degraded_reason = None
            node.state = LifecycleState.RUNNING
            node.log.info("started")
            self.tree.emit(SupervisionEventKind.STARTED, node.path, "")

        handshake = _Handshake(task_status, on_started)
        try:
            with inc.scope:
                if isinstance(spec.start, SupervisorSpec):
                    sup = Supervisor(self.tree, node.path, spec.start, node)
                    inc.supervisor = sup
                    self.tree.supervisors[node.path] = sup
                    await sup.run(task_status=handshake)
                else:
                    actor = spec.start()
                    ctx = ActorContext(
                        path=node.path,
                        log=logging.LoggerAdapter(node.log, {"path": node.path}),
                        mailboxes={mb.name: mb for mb in spec.mailboxes},
                        shutdown=self.tree.shutdown,
                        node=node.status,
                        stop=inc.stop,
                    )
                    await actor.run(ctx, task_status=handshake)
            if inc.injected is not None and not inc.stop_requested:
                await act_out(inc.injected, node.path, inc.hang_scope)
            if not handshake.started_ok and not inc.stop_requested:
                raise RuntimeError(f"{node.path}: run() returned without task_status.started()")
        except BaseException as raw:
            if _must_propagate(raw):
                raise
            if not handshake.started_ok:
                raise unwrap(raw) from None
            inc.outcome = unwrap(raw)
        finally:
            if (
                inc.supervisor is not None
                and self.tree.supervisors.get(node.path) is inc.supervisor
            ):
                del self.tree.supervisors[node.path]
            inc.done.set()
        if not inc.stop_requested:
            self._post(_ChildDown(rec, inc, inc.outcome))
        elif inc.outcome is not None:
            node.last_failure = failure_info(inc.outcome)
            node.log.warning("error while stopping: %r", inc.outcome)

    async def _on_child_down(
        self, rec: ChildRecord, exc: BaseException | None, *, ran_for: float, failed_start: bool
    ) -> None:
        node = rec.node
        now = trio.current_time()
        if not failed_start:
            if exc is None:
                node.state = LifecycleState.STOPPED
                node.log.info("exited normally")
                self.tree.emit(SupervisionEventKind.EXITED, node.path, "")
            else:
                node.state = LifecycleState.FAILED
                node.last_failure = failure_info(exc)
                node.log.error("failed: %s: %s", type(exc).__name__, exc)
                self.tree.emit(SupervisionEventKind.FAILED, node.path, repr(exc))
        # Once a tree shutdown is under way, a normal exit is the child finishing its part
        # (a reader closing its socket in an early phase): it is not restarted. A failure
        # still is, because later phases may need the child (a writer flushing its buffer).
        finished_for_shutdown = exc is None and self.tree.shutdown.requested
        restart = (rec.spec.restart is Restart.PERMANENT and not finished_for_shutdown) or (
            rec.spec.restart is Restart.TRANSIENT and exc is not None
        )
        if not restart:
            if rec.spec.restart is Restart.TEMPORARY:
                self._remove_record(rec)
            if rec.spec.significant and self._auto_shutdown_due():
                reason = f"significant child {node.path} exited ({self.spec.auto_shutdown.value})"
                self.log.info("auto shutdown: %s", reason)
                await self._stop_all(reason)
                self._finished = True
            return
        if not self.intensity.record(now):
            await self._give_up(rec, exc)
            return
        await self._restart_group(rec, self._group_for(rec), now, ran_for)

    def _auto_shutdown_due(self) -> bool:
        mode = self.spec.auto_shutdown
        if mode is AutoShutdown.ANY_SIGNIFICANT:
            return True
        if mode is AutoShutdown.ALL_SIGNIFICANT:
            return all(
                r.inc is None and r.pending is None for r in self.children if r.spec.significant
            )
        return False

    def _group_for(self, rec: ChildRecord) -> list[ChildRecord]:
        strategy = self.spec.strategy
        if strategy is Strategy.ONE_FOR_ALL:
            return list(self.children)
        if strategy is Strategy.REST_FOR_ONE:
            return self.children[self.children.index(rec) :]
        return [rec]

    async def _restart_group(
        self, rec: ChildRecord, group: list[ChildRecord], now: float, ran_for: float
    ) -> None:
        failed_path = rec.node.path
        for other in reversed(group):
            if other is not rec:
                await self._stop_child(
                    other, f"{self.spec.strategy.value} restart after {failed_path} failed"
                )
        for other in group:
            if other is not rec and other.spec.restart is Restart.TEMPORARY:
                self._remove_record(other)  # OTP: temporary children are never restarted
        members = [r for r in group if r in self.children]
        for r in members:
            r.node.count_restart(now)
        delay = 0.0
        if rec.spec.backoff is not None:
            delay = rec.backoff.next_delay(rec.spec.backoff, ran_for, self.tree.rng)
        if delay <= 0:
            self.tree.emit(SupervisionEventKind.RESTARTING, failed_path, "")
            await self._start_group(members)
            return
        token = object()
        for r in members:
            r.pending = token
            r.node.state = LifecycleState.BACKOFF
        rec.node.log.info("restarting in %.3fs (backoff)", delay)
        self.tree.emit(SupervisionEventKind.BACKOFF, failed_path, f"{delay:.6f}")
        assert self._nursery is not None
        self._nursery.start_soon(self._fire_later, tuple(members), token, delay)

    async def _fire_later(
        self, group: tuple[ChildRecord, ...], token: object, delay: float
    ) -> None:
        await trio.sleep(delay)
        self._post(_DelayedStart(group, token))

    async def _start_group(self, group: list[ChildRecord]) -> None:
        for r in group:
            if r not in self.children:
                continue
            exc = await self._start(r)
            if exc is not None:
                # A failed (re)start is a new failure of that child; it counts again.
                self._post(_ChildDown(r, None, exc))
                return

    async def _give_up(self, rec: ChildRecord, exc: BaseException | None) -> None:
        err = SupervisorGaveUp(self.path, rec.node.path, exc)
        self.log.error(
            "restart intensity exceeded (%d in %ss): giving up",
            self.spec.max_restarts,
            self.spec.max_seconds,
        )
        self.tree.emit(SupervisionEventKind.GAVE_UP, self.path, str(err))
        await self._stop_all(f"supervisor {self.path} gave up after {rec.node.path} failed")
        self._result = err
        self._finished = True

    async def _stop_all(self, reason: str) -> None:
        for rec in reversed(list(self.children)):
            await self._stop_child(rec, reason)

    async def _stop_child(self, rec: ChildRecord, reason: str) -> None:
        """Stop one child with its shutdown policy (see the module docstring)."""
        rec.pending = None
        inc = rec.inc
        node = rec.node
        if inc is None:
            if node.state is LifecycleState.BACKOFF:
                node.state = LifecycleState.STOPPED
            return
        inc.handled = True
        if inc.done.is_set():
            rec.inc = None
            return
        inc.stop_requested = True
        node.state = LifecycleState.STOPPING
        grace = rec.spec.shutdown_s
        node.log.info("stopping (shutdown=%s): %s", grace, reason)
        if inc.supervisor is not None:
            inc.supervisor.request_stop(reason)
        else:
            inc.stop.request(reason, grace)
            inc.scope.cancel(reason=reason)
            inc.hang_scope.cancel(reason=reason)
        if grace <= 0:
            _force(inc, f"{reason} (brutal)")
        elif grace != math.inf:
            with trio.move_on_after(grace):
                await inc.done.wait()
            if not inc.done.is_set():
                node.log.warning("did not stop within %ss: hard stop", grace)
                _force(inc, f"{reason}: shutdown grace of {grace}s expired")
        await inc.done.wait()
        rec.inc = None
        node.state = LifecycleState.STOPPED
        self.tree.emit(SupervisionEventKind.STOPPED, node.path, reason)

    # ------------------------------------------- operations called via call()

    async def op_start_child(self, spec: ChildSpec) -> str:
        if any(r.spec.id == spec.id for r in self.children):
            raise ValueError(f"supervisor {self.path!r} already has a child {spec.id!r}")
        rec = self._add_record(spec, dynamic=self.spec.strategy is Strategy.SIMPLE_ONE_FOR_ONE)
        exc = await self._start(rec)
        if exc is not None:
            self._remove_record(rec)
            raise exc
        return rec.node.path

    async def op_restart_child(self, rec: ChildRecord, reason: str) -> None:
        await self._stop_child(rec, reason)
        if rec not in self.children:
            return
        rec.node.count_restart(trio.current_time())
        self.tree.emit(SupervisionEventKind.RESTARTING, rec.node.path, reason)
        exc = await self._start(rec)
        if exc is not None:
            self._post(_ChildDown(rec, None, exc))

    async def op_terminate_child(self, rec: ChildRecord, reason: str) -> None:
        await self._stop_child(rec, reason)
        if rec.dynamic or rec.spec.restart is Restart.TEMPORARY:
            self._remove_record(rec)
