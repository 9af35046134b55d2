"""Phased shutdown: order, timeouts, deadline, errors, force; and how the tree uses it."""

from __future__ import annotations

import os
import signal

import pytest
import trio
import trio.testing

from protocols.tree import PhaseOutcome, SupervisionEvent, SupervisionEventKind
from supervision import (
    Actor,
    ActorContext,
    ChildSpec,
    Mailbox,
    PhaseSpec,
    ShutdownCoordinator,
    SupervisorGaveUp,
    SupervisorSpec,
    open_tree,
)
from supervision.shutdown import open_signal_handling

from .helpers import Journal, worker

PHASES = (PhaseSpec("one", 1.0), PhaseSpec("two", 2.0), PhaseSpec("three", 1.0))
# What an application declares: a first phase that halts its actors, a last that closes.
TREE_PHASES = (PhaseSpec("halt-trading", 2.0), PhaseSpec("close", 2.0))


async def test_phases_run_in_order_tasks_concurrently_errors_recorded(
    autojump_clock: object,
) -> None:
    coord = ShutdownCoordinator(PHASES)
    log: list[tuple[str, float]] = []

    def task(name: str, secs: float, fail: bool = False):  # type: ignore[no-untyped-def]
        async def fn() -> None:
            await trio.sleep(secs)
            log.append((name, trio.current_time()))
            if fail:
                raise ValueError(f"{name} broke")

        return fn

    coord.add_task("three", "z", task("z", 0.1))
    coord.add_task("one", "a", task("a", 0.5))
    coord.add_task("one", "b", task("b", 0.5, fail=True))
    coord.add_task("two", "c", task("c", 0.2))
    coord.request("test")
    report = await coord.run()
    assert [n for n, _ in log] in (["a", "b", "c", "z"], ["b", "a", "c", "z"])
    assert [t for _, t in log] == pytest.approx([0.5, 0.5, 0.7, 0.8])  # a, b concurrent
    one, two, three = report.phases
    assert one.outcome is PhaseOutcome.FAILED
    assert one.errors == ("b: ValueError: b broke",)
    assert set(one.tasks) == {"a", "b"}
    assert two.outcome is PhaseOutcome.OK
    assert three.outcome is PhaseOutcome.OK
    assert one.duration_s == pytest.approx(0.5)
    assert report.reason == "test"
    assert not report.forced


async def test_per_phase_timeout_and_global_deadline(autojump_clock: object) -> None:
    coord = ShutdownCoordinator(PHASES, deadline_s=2.5)
    reached: list[str] = []

    async def hang() -> None:
        await trio.sleep_forever()

    async def quick() -> None:
        reached.append("quick")

    coord.add_task("one", "hang", hang)
    coord.add_task("two", "hang", hang)
    coord.add_task("three", "quick", quick)
    report = await coord.run()
    one, two, three = report.phases
    assert (one.outcome, one.timed_out, one.duration_s) == (PhaseOutcome.TIMED_OUT, True, 1.0)
    # phase two would allow 2 s but the global deadline leaves 1.5 s
    assert two.timed_out
    assert two.duration_s == pytest.approx(1.5)
    assert "global deadline" in two.errors[0]
    assert three.outcome is PhaseOutcome.SKIPPED
    assert reached == []
    assert report.duration_s == pytest.approx(2.5)


async def test_re_register_replaces_and_unregister_removes() -> None:
    coord = ShutdownCoordinator(PHASES)
    calls: list[str] = []

    async def old() -> None:
        calls.append("old")

    async def new() -> None:
        calls.append("new")

    async def gone() -> None:
        calls.append("gone")

    coord.add_task("one", "x", old)
    coord.add_task("one", "x", new)
    remove = coord.add_task("two", "y", gone)
    remove()
    with pytest.raises(ValueError, match="unknown shutdown phase"):
        coord.add_task("nope", "x", new)
    await coord.run()
    assert calls == ["new"]


async def test_forced_request_skips_remaining_phases(autojump_clock: object) -> None:
    coord = ShutdownCoordinator(PHASES)

    async def slow() -> None:
        await trio.sleep(0.5)
        coord.request("second signal", force=True)
        await trio.sleep(10)

    coord.add_task("one", "slow", slow)
    coord.request("first")
    coord.request("ignored")  # idempotent: the first reason stays
    report = await coord.run()
    assert report.reason == "first"
    assert report.forced
    assert report.phases[0].duration_s == pytest.approx(0.5)
    assert [p.outcome for p in report.phases[1:]] == [PhaseOutcome.SKIPPED] * 2


class Halting(Actor):
    """Registers a halt task that asks the live actor to stop trading, and waits for it."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def run(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        halted = trio.Event()

        async def halt() -> None:
            await ctx.inbox.send("halt")
            await halted.wait()

        ctx.shutdown.add_task("halt-trading", ctx.path, halt)
        task_status.started()
        try:
            while True:
                if await ctx.inbox.receive() == "halt":
                    self.journal.add("halted", ctx.path)
                    halted.set()
        finally:
            self.journal.add("stop", ctx.path)


async def test_tree_runs_phases_while_actors_alive_then_stops_them() -> None:
    journal = Journal()
    inbox: Mailbox[str] = Mailbox("halting", 4)
    child = ChildSpec(id="h", start=lambda: Halting(journal), mailboxes=(inbox,))
    events: list[SupervisionEvent] = []
    async with open_tree(
        SupervisorSpec(children=[child]),
        name="t",
        on_event=events.append,
        shutdown=ShutdownCoordinator(TREE_PHASES),
    ) as tree:
        pass
    assert [w for w, _, _ in journal.entries] == ["halted", "stop"]
    assert tree.report is not None
    assert tree.report.phases[0].outcome is PhaseOutcome.OK
    assert tree.report.phases[0].tasks == ("t/h",)
    kinds = [(e.kind, e.path) for e in events if e.path.startswith("shutdown/")]
    assert kinds[:2] == [
        (SupervisionEventKind.PHASE_STARTED, "shutdown/halt-trading"),
        (SupervisionEventKind.PHASE_FINISHED, "shutdown/halt-trading"),
    ]
    assert len(kinds) == 2 * len(TREE_PHASES)


async def test_request_shutdown_ends_the_block_and_reports() -> None:
    journal = Journal()
    a, _ = worker("a", journal)
    async with open_tree(SupervisorSpec(children=[a]), name="t") as tree:
        tree.request_shutdown("operator")
        report = await tree.wait_stopped()
        assert report.reason == "operator"
        await trio.sleep_forever()  # cancelled by the tree once stopped
    assert journal.of("stop") == ["a"]


async def test_root_failure_runs_phases_then_reraises() -> None:
    journal = Journal()
    a, box = worker("a", journal)
    ran: list[str] = []
    coord = ShutdownCoordinator((PhaseSpec("checkpoint", 5.0),))

    async def checkpoint() -> None:
        ran.append("checkpoint")

    coord.add_task("checkpoint", "fund", checkpoint)
    with pytest.raises(SupervisorGaveUp, match="'t/a'"):  # noqa: PT012
        async with open_tree(
            SupervisorSpec(children=[a], max_restarts=0), name="t", shutdown=coord
        ) as tree:
            box.send_nowait("crash")
            await trio.sleep_forever()
    assert ran == ["checkpoint"]
    assert tree.report is not None
    assert "gave up" in tree.report.reason


async def test_error_in_block_runs_shutdown_and_propagates_unwrapped() -> None:
    journal = Journal()
    a, _ = worker("a", journal)
    with pytest.raises(KeyError, match="boom"):
        async with open_tree(SupervisorSpec(children=[a]), name="t"):
            raise KeyError("boom")
    assert journal.of("stop") == ["a"]


async def test_signals_request_then_force() -> None:
    coord = ShutdownCoordinator(PHASES)
    async with open_signal_handling(coord):
        os.kill(os.getpid(), signal.SIGTERM)
        await coord.wait_requested()
        assert coord.reason == "signal SIGTERM"
        assert not coord.forced
        os.kill(os.getpid(), signal.SIGINT)
        await coord.wait_forced()
    assert coord.forced


async def test_tree_with_signal_handling_nests_cleanly_in_outer_scopes() -> None:
    """Regression: the signal watcher's nursery once exited after the tree's own, which
    corrupted Trio's cancel-scope stack as soon as an enclosing scope was exited."""
    journal = Journal()
    a, _ = worker("a", journal)
    with trio.CancelScope() as outer:
        async with open_tree(SupervisorSpec(children=[a]), name="t", handle_signals=True) as tree:
            tree.request_shutdown("operator")
            await tree.wait_stopped()
    assert not outer.cancelled_caught
    assert journal.of("stop") == ["a"]


async def test_during_shutdown_normal_exit_is_final_but_failure_restarts() -> None:
    """A permanent child that returns during the phases has finished its part (not
    restarted); one that crashes is restarted, since a later phase may need it."""
    journal = Journal()
    quitter, quitter_box = worker("quitter", journal)
    crasher, crasher_box = worker("crasher", journal)
    coord = ShutdownCoordinator(PHASES)

    async def first_phase() -> None:
        await quitter_box.send("exit")
        await crasher_box.send("crash")
        await trio.testing.wait_all_tasks_blocked()

    coord.add_task("one", "make-children-exit", first_phase)
    async with open_tree(
        SupervisorSpec(children=[quitter, crasher], max_restarts=5), name="t", shutdown=coord
    ) as tree:
        tree.request_shutdown("operator")
        await tree.wait_stopped()
    assert journal.of("start") == ["quitter", "crasher", "crasher"]
    snap_restarts = {n.path: n.restarts_total for n in tree.snapshot().nodes}
    assert snap_restarts["t/quitter"] == 0
    assert snap_restarts["t/crasher"] == 1
