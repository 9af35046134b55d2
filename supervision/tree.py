"""``open_tree``: validate a spec, run it, expose snapshots and control, shut it down in phases.

Lifecycle of a tree:

1. ``validate`` the whole spec (``SpecError`` before anything starts);
2. start the root supervisor (children in order, synchronously) and yield the ``Tree``;
3. a shutdown starts when the block is left, on ``request_shutdown``, on SIGINT/SIGTERM (with
   ``handle_signals=True``) or when the root supervisor gives up;
4. the coordinator runs its phases while the actors are still alive (their registered tasks
   can talk to them), then the root stops its children in reverse start order, each with
   its shutdown policy (brutally if the shutdown was forced);
5. a root failure (``SupervisorGaveUp``) is re-raised after that.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import trio

from protocols.tree import (
    LifecycleState,
    NodeKind,
    ShutdownReport,
    SupervisionEvent,
    SupervisionEventKind,
    TreeSnapshot,
)
from supervision.injected import InjectedFault
from supervision.registry import Node, Registry
from supervision.shutdown import ShutdownCoordinator, open_signal_handling
from supervision.spec import ChildSpec, SpecError, SupervisorSpec, validate
from supervision.supervisor import Supervisor, SupervisorGaveUp, unwrap

log = logging.getLogger(__name__)


class Tree:
    """A running supervision tree; made by ``open_tree``."""

    def __init__(
        self,
        name: str,
        spec: SupervisorSpec,
        shutdown: ShutdownCoordinator,
        on_event: Callable[[SupervisionEvent], None] | None,
        rng: random.Random,
        log_namespace: str = "",
    ) -> None:
        self.name = name
        self.spec = spec
        self.shutdown = shutdown
        self.extra: dict[str, str] = {}
        self.rng = rng
        self.report: ShutdownReport | None = None
        self.registry = Registry(name, log_namespace)
        self.supervisors: dict[str, Supervisor] = {}
        self._on_event = on_event
        self._root_node = self.registry.add(
            Node(
                path=name,
                kind=NodeKind.SUPERVISOR,
                strategy=spec.strategy.value,
                log=self.registry.logger(name),
            )
        )
        self._root: Supervisor | None = None
        self._root_scope = trio.CancelScope()
        self._root_done = trio.Event()
        self._root_failure: SupervisorGaveUp | None = None
        self._stopped = trio.Event()
        self._body_exiting = False
        self._nursery: trio.Nursery | None = None
        shutdown.event_hook = self._forward_event

    # ------------------------------------------------------------- events

    def _forward_event(self, event: SupervisionEvent) -> None:
        hook = self._on_event
        if hook is None:
            return
        try:
            hook(event)
        except Exception:
            log.exception("on_event hook failed for %s %s", event.kind, event.path)

    def emit(self, kind: SupervisionEventKind, path: str, detail: str) -> None:
        if self._on_event is not None:
            self._forward_event(
                SupervisionEvent(kind=kind, path=path, at=time.time(), detail=detail)
            )

    # ------------------------------------------------------------- queries

    def snapshot(self) -> TreeSnapshot:
        return self.registry.snapshot(shutdown_phase=self.shutdown.current_phase, extra=self.extra)

    def heartbeat_deadlines(self) -> dict[str, float]:
        return self.registry.heartbeat_deadlines()

    # ------------------------------------------------------------- control

    def _supervisor(self, path: str) -> Supervisor:
        sup = self.supervisors.get(path)
        if sup is None:
            raise KeyError(f"no running supervisor at {path!r}")
        return sup

    def _parent_of(self, path: str) -> Supervisor:
        parent, _, _ = path.rpartition("/")
        if not parent:
            raise KeyError(f"{path!r} is the root or not a path in tree {self.name!r}")
        return self._supervisor(parent)

    async def start_child(self, supervisor_path: str, child: ChildSpec) -> str:
        """Add and start a child under a running supervisor; returns its path."""
        sup = self._supervisor(supervisor_path)
        probe = SupervisorSpec(children=(child,), auto_shutdown=sup.spec.auto_shutdown)
        validate(probe, supervisor_path)
        path: str = await sup.call(lambda: sup.op_start_child(child))
        return path

    async def restart_child(self, path: str, reason: str) -> None:
        """Stop (with its shutdown policy) and start again; counted as a restart of the child.

        Like OTP's manual restart it does not count against the supervisor's intensity, and
        it restarts that child only, whatever the strategy.
        """
        sup = self._parent_of(path)
        rec = sup.find(path)
        if rec is None:
            raise KeyError(f"no child at {path!r}")
        await sup.call(lambda: sup.op_restart_child(rec, reason))

    async def terminate_child(self, path: str, reason: str) -> None:
        """Stop a child with its shutdown policy; it is not restarted (removed if dynamic)."""
        sup = self._parent_of(path)
        rec = sup.find(path)
        if rec is None:
            raise KeyError(f"no child at {path!r}")
        await sup.call(lambda: sup.op_terminate_child(rec, reason))

    def inject_fault(self, path: str, fault: InjectedFault) -> None:
        """Crash or hang the running worker at ``path`` (see ``supervision.injected``).

        Raises ``KeyError`` for an unknown path and ``ValueError`` for a supervisor or a
        child that is not running (starting, stopping, in backoff, already hit)."""
        sup = self._parent_of(path)
        rec = sup.find(path)
        if rec is None:
            raise KeyError(f"no child at {path!r}")
        inc = rec.inc
        if inc is None or rec.node.state is not LifecycleState.RUNNING or inc.stop_requested:
            raise ValueError(f"{path} is not running ({rec.node.state.value})")
        if inc.supervisor is not None:
            raise ValueError(f"{path} is a supervisor: inject into one of its workers")
        if inc.injected is not None:
            raise ValueError(f"{path} already has an injected {inc.injected.value}")
        inc.injected = fault
        rec.node.log.warning("%s injected", fault.value)
        inc.scope.cancel(reason=f"{fault.value} injected")

    def request_shutdown(self, reason: str, *, force: bool = False) -> None:
        self.shutdown.request(reason, force=force)

    async def wait_stopped(self) -> ShutdownReport:
        await self._stopped.wait()
        assert self.report is not None
        return self.report

    # ------------------------------------------------------------- running

    async def _run_root(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        sup = Supervisor(self, self.name, self.spec, self._root_node)
        self._root = sup
        self.supervisors[self.name] = sup
        started = False

        def mark_started(value: None = None) -> None:
            nonlocal started
            started = True
            self._root_node.state = LifecycleState.RUNNING
            self._root_node.started_at = trio.current_time()
            task_status.started()

        status = _RootStatus(mark_started)
        try:
            with self._root_scope:
                await sup.run(task_status=status)
        except SupervisorGaveUp as exc:
            if not started:
                self._root_node.state = LifecycleState.FAILED
                raise
            self._root_failure = exc
            self._root_node.state = LifecycleState.FAILED
            self.request_shutdown(f"root supervisor gave up: {exc}")
        else:
            self._root_node.state = LifecycleState.STOPPED
        finally:
            self.supervisors.pop(self.name, None)
            self._root_done.set()

    async def _shutdown_sequence(self) -> None:
        await self.shutdown.wait_requested()
        report = await self.shutdown.run()
        reason = self.shutdown.reason or "shutdown"
        root = self._root
        if not self._root_done.is_set() and root is not None:
            self._root_node.state = LifecycleState.STOPPING
            async with trio.open_nursery() as nursery:

                async def force_when_asked() -> None:
                    await self.shutdown.wait_forced()
                    root.force_all(f"shutdown forced: {reason}")
                    self._root_scope.cancel(reason=f"shutdown forced: {reason}")

                nursery.start_soon(force_when_asked)
                root.request_stop(f"shutdown: {reason}")
                await self._root_done.wait()
                nursery.cancel_scope.cancel(reason="root stopped")
        self.report = report
        self._stopped.set()
        log.info("tree %s stopped (%s)", self.name, reason)
        if not self._body_exiting and self._nursery is not None:
            self._nursery.cancel_scope.cancel(reason=f"tree {self.name} stopped: {reason}")


class _RootStatus:
    def __init__(self, fn: Callable[[None], None]) -> None:
        self._fn = fn

    def started(self, value: None = None) -> None:
        self._fn(value)


@asynccontextmanager
async def open_tree(
    spec: SupervisorSpec,
    *,
    name: str = "tree",
    shutdown: ShutdownCoordinator | None = None,
    log_namespace: str = "",
    on_event: Callable[[SupervisionEvent], None] | None = None,
    rng: random.Random | None = None,
    handle_signals: bool = False,
) -> AsyncIterator[Tree]:
    """Run a supervision tree for the duration of the block; see the module docstring."""
    if not name or "/" in name:
        raise SpecError(f"tree name must be non-empty and contain no '/', got {name!r}")
    validate(spec, name)
    if shutdown is None:
        shutdown = ShutdownCoordinator(())
    tree = Tree(name, spec, shutdown, on_event, rng or random.Random(), log_namespace)
    tree.registry.logger(name).info("starting tree %s", name)
    try:
        async with trio.open_nursery() as nursery:
            tree._nursery = nursery
            await nursery.start(tree._run_root)
            nursery.start_soon(tree._shutdown_sequence, name=f"{name}:shutdown")
            # The signal watcher's nursery must nest inside the tree's: an exit stack
            # entered outside it would exit the two scopes out of order.
            async with AsyncExitStack() as stack:
                if handle_signals:
                    await stack.enter_async_context(open_signal_handling(tree.shutdown))
                try:
                    yield tree
                except BaseException as exc:
                    tree._body_exiting = True
                    if isinstance(unwrap(exc), trio.Cancelled):
                        raise  # cancelled from outside: the nursery cancels the tree at once
                    tree.request_shutdown(f"error in tree block: {exc!r}")
                    await tree._stopped.wait()
                    raise
                else:
                    tree._body_exiting = True
                    tree.request_shutdown("tree block exited")
                    await tree._stopped.wait()
    except BaseExceptionGroup as group:
        raise unwrap(group) from None
    if tree._root_failure is not None:
        raise tree._root_failure
