"""Strategies, restart types and restart intensity, against OTP semantics."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from protocols.tree import LifecycleState
from supervision import (
    ChildSpec,
    Mailbox,
    Restart,
    Strategy,
    SupervisorGaveUp,
    SupervisorSpec,
    open_tree,
)

from .helpers import Journal, Worker, settle, worker


def _three(journal: Journal) -> tuple[list[ChildSpec], dict[str, Mailbox[Any]]]:
    specs: list[ChildSpec] = []
    boxes: dict[str, Mailbox[Any]] = {}
    for name in "abc":
        spec, box = worker(name, journal)
        specs.append(spec)
        boxes[name] = box
    return specs, boxes


@pytest.mark.parametrize(
    ("strategy", "stopped", "restarted"),
    [
        (Strategy.ONE_FOR_ONE, [], ["b"]),
        (Strategy.ONE_FOR_ALL, ["c", "a"], ["a", "b", "c"]),
        (Strategy.REST_FOR_ONE, ["c"], ["b", "c"]),
    ],
)
async def test_strategy_restarts_the_right_children_in_order(
    strategy: Strategy, stopped: list[str], restarted: list[str]
) -> None:
    journal = Journal()
    specs, boxes = _three(journal)
    spec = SupervisorSpec(children=specs, strategy=strategy, max_restarts=3)
    async with open_tree(spec, name="t") as tree:
        await settle()
        assert journal.of("start") == ["a", "b", "c"]
        journal.clear()
        boxes["b"].send_nowait("crash")
        await settle()
        # "b" itself stops by crashing; the others are stopped in reverse start order
        assert [w for w in journal.of("stop") if w != "b"] == stopped
        assert journal.of("start") == restarted
        snap = {n.path: n for n in tree.snapshot().nodes}
        for name in "abc":
            node = snap[f"t/{name}"]
            assert node.state is LifecycleState.RUNNING
            assert node.restarts_total == (1 if name in restarted else 0)
        assert snap["t/b"].last_failure is not None
        assert snap["t/b"].last_failure.message == "b crashed"
        journal.clear()
    assert journal.of("stop") == ["c", "b", "a"]


async def test_simple_one_for_one_children_added_at_run_time() -> None:
    journal = Journal()
    spec = SupervisorSpec(strategy=Strategy.SIMPLE_ONE_FOR_ONE, max_restarts=5)
    async with open_tree(spec, name="t") as tree:
        boxes = {}
        for name in ("x", "y"):
            child, boxes[name] = worker(name, journal)
            assert await tree.start_child("t", child) == f"t/{name}"
        boxes["x"].send_nowait("crash")
        await settle()
        assert journal.of("start") == ["x", "y", "x"]
        paths = [n.path for n in tree.snapshot().nodes]
        assert paths == ["t", "t/x", "t/y"]
        await tree.terminate_child("t/y", "test")
        assert [n.path for n in tree.snapshot().nodes] == ["t", "t/x"]  # dynamic: removed
        dup, _ = worker("x", journal)
        with pytest.raises(ValueError, match="already has a child 'x'"):
            await tree.start_child("t", dup)


@pytest.mark.parametrize(
    ("restart", "command", "restarted", "present"),
    [
        (Restart.PERMANENT, "exit", True, True),
        (Restart.PERMANENT, "crash", True, True),
        (Restart.TRANSIENT, "exit", False, True),
        (Restart.TRANSIENT, "crash", True, True),
        (Restart.TEMPORARY, "exit", False, False),
        (Restart.TEMPORARY, "crash", False, False),
    ],
)
async def test_restart_types(
    restart: Restart, command: str, restarted: bool, present: bool
) -> None:
    journal = Journal()
    child, box = worker("w", journal, restart=restart)
    other, _ = worker("o", journal)
    async with open_tree(SupervisorSpec(children=[child, other], max_restarts=3), name="t") as tree:
        box.send_nowait(command)
        await settle()
        assert journal.of("start").count("w") == (2 if restarted else 1)
        nodes = {n.path: n for n in tree.snapshot().nodes}
        assert ("t/w" in nodes) is present
        if present and not restarted:
            assert nodes["t/w"].state is LifecycleState.STOPPED
        assert nodes["t/o"].restarts_total == 0


async def test_group_restart_counts_once_against_intensity(autojump_clock: object) -> None:
    journal = Journal()
    specs, boxes = _three(journal)
    spec = SupervisorSpec(children=specs, strategy=Strategy.ONE_FOR_ALL, max_restarts=1)
    async with open_tree(spec, name="t") as tree:
        boxes["a"].send_nowait("crash")
        await settle()  # one event restarting three children: still within 1 in 5 s
        assert journal.of("start") == ["a", "b", "c"] * 2
        await trio.sleep(5.1)  # the window slides past the first restart
        boxes["c"].send_nowait("crash")
        await settle()
        assert journal.of("start") == ["a", "b", "c"] * 3
        assert tree.snapshot().nodes[1].restarts_in_window == 1


async def test_intensity_exhaustion_escalates_level_by_level(autojump_clock: object) -> None:
    journal = Journal()
    leaf, box = worker("leaf", journal)
    sibling, _ = worker("sibling", journal)
    mid = ChildSpec(id="mid", start=SupervisorSpec(children=[leaf], max_restarts=1))
    root = SupervisorSpec(children=[sibling, mid], max_restarts=0)
    with pytest.raises(SupervisorGaveUp) as info:  # noqa: PT012
        async with open_tree(root, name="t") as tree:
            box.send_nowait("crash")
            await settle()
            assert journal.of("start") == ["sibling", "leaf", "leaf"]  # mid restarted leaf once
            box.send_nowait("crash")  # second within 5 s: mid gives up, root has no budget
            await tree.wait_stopped()
    top = info.value
    assert (top.supervisor_path, top.child_path) == ("t", "t/mid")
    assert isinstance(top.cause, SupervisorGaveUp)
    assert (top.cause.supervisor_path, top.cause.child_path) == ("t/mid", "t/mid/leaf")
    assert isinstance(top.cause.cause, RuntimeError)
    # mid stopped its leaf before failing; then the root stopped the sibling
    assert journal.of("stop") == ["leaf", "leaf", "sibling"]


async def test_failed_restart_counts_again(autojump_clock: object) -> None:
    journal = Journal()
    attempts = []

    def factory() -> Worker:
        attempts.append(trio.current_time())
        return Worker("w", journal, fail_start=len(attempts) > 1)

    child, box = worker("w", journal, factory=factory)
    spec = SupervisorSpec(children=[child], max_restarts=3, max_seconds=60)
    with pytest.raises(SupervisorGaveUp) as info:  # noqa: PT012
        async with open_tree(spec, name="t") as tree:
            box.send_nowait("crash")
            await tree.wait_stopped()
    # the crash counts 1; each failed start counts again: 3 failed restarts, the 4th goes over
    assert len(attempts) == 1 + 3
    assert info.value.child_path == "t/w"
    assert "cannot start" in str(info.value.cause)


async def test_initial_start_failure_fails_open_tree() -> None:
    journal = Journal()
    good, _ = worker("good", journal)
    bad, _ = worker("bad", journal, fail_start=True)
    with pytest.raises(SupervisorGaveUp, match="'t/bad'"):
        async with open_tree(SupervisorSpec(children=[good, bad]), name="t"):
            pytest.fail("must not get here")
    assert journal.of("stop") == ["good"]
