"""Backoff, graceful/hard stop, significant children, control calls, restarts under load."""

from __future__ import annotations

import random
from typing import Any

import msgspec
import pytest
import trio
import trio.lowlevel
import trio.testing

from protocols.tree import LifecycleState, SupervisionEvent, SupervisionEventKind, TreeSnapshot
from supervision import (
    BRUTAL,
    INFINITY,
    Actor,
    ActorContext,
    AutoShutdown,
    Backoff,
    ChildSpec,
    Mailbox,
    Restart,
    SpecError,
    Strategy,
    SupervisorSpec,
    open_tree,
)

from .helpers import Journal, settle, worker


async def test_backoff_delays_are_exact_under_a_seeded_rng(autojump_clock: object) -> None:
    journal = Journal()
    backoff = Backoff(min_s=1.0, max_s=3.0, random_factor=0.5, reset_after_s=10.0)
    child, box = worker("w", journal, backoff=backoff)
    events: list[SupervisionEvent] = []
    spec = SupervisorSpec(children=[child], max_restarts=100, max_seconds=1000)
    async with open_tree(spec, name="t", rng=random.Random(7), on_event=events.append) as tree:
        starts: list[float] = [trio.current_time()]
        for _ in range(4):
            box.send_nowait("crash")
            await settle()
            assert tree.snapshot().nodes[1].state is LifecycleState.BACKOFF
            crashed_at = trio.current_time()
            while journal.of("start").count("w") < len(starts) + 1:  # noqa: ASYNC110
                await trio.sleep(0.001)
            starts.append(trio.current_time() - crashed_at)
    expected_rng = random.Random(7)
    expected = [min(3.0, 1.0 * 2**n) * (1 + expected_rng.random() * 0.5) for n in range(4)]
    assert starts[1:] == pytest.approx(expected, abs=0.002)
    backoffs = [float(e.detail) for e in events if e.kind is SupervisionEventKind.BACKOFF]
    assert backoffs == pytest.approx(expected, abs=1e-6)


async def test_backoff_grows_when_failing_fast_and_auto_resets(autojump_clock: object) -> None:
    journal = Journal()
    backoff = Backoff(min_s=1.0, max_s=60.0, random_factor=0.0, reset_after_s=5.0)
    child, box = worker("w", journal, backoff=backoff)
    events: list[SupervisionEvent] = []
    spec = SupervisorSpec(children=[child], max_restarts=100, max_seconds=1000)
    async with open_tree(spec, name="t", on_event=events.append):
        for run_for in (1.0, 1.0, 1.0, 6.0, 1.0):
            restarts = len([e for e in events if e.kind is SupervisionEventKind.BACKOFF])
            while journal.of("start").count("w") < 1 + restarts:  # noqa: ASYNC110
                await trio.sleep(0.01)
            await trio.sleep(run_for)
            box.send_nowait("crash")
            await settle()
    delays = [float(e.detail) for e in events if e.kind is SupervisionEventKind.BACKOFF]
    # 1, 2, 4 while failing within reset_after; ran 6 s (> 5) -> reset to 1; then 2
    assert delays == [1.0, 2.0, 4.0, 1.0, 2.0]


@pytest.mark.parametrize(
    ("shutdown", "cleanup_s", "cleaned", "stop_took"),
    [
        (2.0, 0.5, True, 0.5),  # cleanup within its grace completes
        (2.0, 100.0, False, 2.0),  # ignores the stop for its grace: hard-stopped after 2 s
        (BRUTAL, 0.5, False, 0.0),  # brutal: no grace at all
        (INFINITY, 50.0, True, 50.0),  # infinity: as long as it needs
    ],
)
async def test_shutdown_grace_and_hard_stop(
    autojump_clock: object, shutdown: float, cleanup_s: float, cleaned: bool, stop_took: float
) -> None:
    journal = Journal()
    child, _ = worker("w", journal, shutdown=shutdown, cleanup_s=cleanup_s)
    async with open_tree(SupervisorSpec(children=[child]), name="t") as tree:
        await settle()
        t0 = trio.current_time()
        await tree.terminate_child("t/w", "test stop")
        took = trio.current_time() - t0
        assert tree.snapshot().nodes[1].state is LifecycleState.STOPPED
    assert took == pytest.approx(stop_took, abs=1e-6)
    assert ("cleaned" in [w for w, _, _ in journal.entries]) is cleaned
    assert journal.of("stop") == ["w"]  # the finally ran either way


async def test_stop_reason_reaches_the_actor() -> None:
    seen: list[str | None] = []

    class Watcher(Actor):
        async def run(
            self,
            ctx: ActorContext,
            *,
            task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
        ) -> None:
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                seen.append(ctx.stop_reason)

    spec = SupervisorSpec(children=[ChildSpec(id="w", start=Watcher)])
    async with open_tree(spec, name="t") as tree:
        await tree.terminate_child("t/w", "operator asked")
    assert seen == ["operator asked"]


async def test_reverse_order_termination_across_levels() -> None:
    journal = Journal()
    a, _ = worker("a", journal)
    b, _ = worker("b", journal)
    c, _ = worker("c", journal)
    d, _ = worker("d", journal)
    inner = ChildSpec(id="inner", start=SupervisorSpec(children=[b, c]))
    async with open_tree(SupervisorSpec(children=[a, inner, d]), name="t"):
        assert journal.of("start") == ["a", "b", "c", "d"]
    assert journal.of("stop") == ["d", "c", "b", "a"]


@pytest.mark.parametrize(
    ("mode", "exits", "stopped"),
    [
        (AutoShutdown.ANY_SIGNIFICANT, ["leg1"], True),
        (AutoShutdown.ALL_SIGNIFICANT, ["leg1"], False),
        (AutoShutdown.ALL_SIGNIFICANT, ["leg1", "leg2"], True),
    ],
)
async def test_significant_children_auto_shutdown(
    mode: AutoShutdown, exits: list[str], stopped: bool
) -> None:
    journal = Journal()
    leg1, box1 = worker("leg1", journal, restart=Restart.TRANSIENT, significant=True)
    leg2, box2 = worker("leg2", journal, restart=Restart.TRANSIENT, significant=True)
    helper, _ = worker("helper", journal)
    boxes = {"leg1": box1, "leg2": box2}
    unit = SupervisorSpec(children=[helper, leg1, leg2], auto_shutdown=mode)
    child = ChildSpec(id="unit", start=unit, restart=Restart.TRANSIENT)
    async with open_tree(SupervisorSpec(children=[child]), name="t") as tree:
        for name in exits:
            boxes[name].send_nowait("exit")
            await settle()
        nodes = {n.path: n for n in tree.snapshot().nodes}
        assert (nodes["t/unit"].state is LifecycleState.STOPPED) is stopped
        assert ("helper" in journal.of("stop")) is stopped
        assert journal.of("start").count("helper") == 1  # never restarted by the parent


async def test_significant_not_triggered_by_terminate_child() -> None:
    journal = Journal()
    leg, _ = worker("leg", journal, restart=Restart.TRANSIENT, significant=True)
    other, _ = worker("other", journal)
    unit = SupervisorSpec(children=[other, leg], auto_shutdown=AutoShutdown.ANY_SIGNIFICANT)
    child = ChildSpec(id="unit", start=unit, restart=Restart.TRANSIENT)
    async with open_tree(SupervisorSpec(children=[child]), name="t") as tree:
        await tree.terminate_child("t/unit/leg", "operator")
        await settle()
        nodes = {n.path: n for n in tree.snapshot().nodes}
        assert nodes["t/unit"].state is LifecycleState.RUNNING
        assert nodes["t/unit/other"].state is LifecycleState.RUNNING


async def test_restart_child_counts_and_restarts_only_that_child() -> None:
    journal = Journal()
    a, _ = worker("a", journal)
    b, _ = worker("b", journal)
    spec = SupervisorSpec(children=[a, b], strategy=Strategy.ONE_FOR_ALL, max_restarts=0)
    async with open_tree(spec, name="t") as tree:
        await tree.restart_child("t/a", "watchdog: stale heartbeat")
        await tree.restart_child("t/a", "watchdog: stale heartbeat")  # no intensity used
        nodes = {n.path: n for n in tree.snapshot().nodes}
        assert nodes["t/a"].restarts_total == 2
        assert nodes["t/a"].state is LifecycleState.RUNNING
        assert journal.of("start") == ["a", "b", "a", "a"]
        with pytest.raises(KeyError):
            await tree.restart_child("t/nope", "x")


async def test_no_message_lost_when_consumer_restarts_mid_stream() -> None:
    received: list[int] = []
    inbox: Mailbox[int] = Mailbox("stream", 16)

    class Consumer(Actor):
        async def run(
            self,
            ctx: ActorContext,
            *,
            task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
        ) -> None:
            task_status.started()
            while True:
                for msg in await ctx.inbox.receive_batch(7):
                    received.append(msg)
                    if msg % 97 == 0:
                        raise RuntimeError(f"poisoned by {msg}")  # rest of batch handled below

    # a crash loses at most the unprocessed rest of the batch it had taken; take one at a
    # time around poison values so the test checks the mailbox, not the actor
    class CarefulConsumer(Consumer):
        async def run(
            self,
            ctx: ActorContext,
            *,
            task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
        ) -> None:
            task_status.started()
            while True:
                msg = await ctx.inbox.receive()
                received.append(msg)
                if msg % 97 == 0:
                    raise RuntimeError(f"poisoned by {msg}")

    child = ChildSpec(id="consumer", start=CarefulConsumer, mailboxes=(inbox,))
    spec = SupervisorSpec(children=[child], max_restarts=1000, max_seconds=1)
    n = 2000
    async with open_tree(spec, name="t") as tree:
        for i in range(1, n + 1):
            await inbox.send(i)
        while len(received) < n:
            await trio.lowlevel.checkpoint()
        assert tree.snapshot().nodes[1].restarts_total == n // 97
    assert received == list(range(1, n + 1))
    stats = inbox.statistics()
    assert (stats.sent, stats.received, stats.dropped) == (n, n, 0)


async def test_snapshot_during_restart_storm_round_trips_json(autojump_clock: object) -> None:
    journal = Journal()
    children, boxes = [], []
    for i in range(6):
        child, box = worker(f"w{i}", journal, backoff=Backoff(0.0, 0.01, 0.5) if i % 2 else None)
        children.append(child)
        boxes.append(box)
    inner = ChildSpec(
        id="inner",
        start=SupervisorSpec(children=children, strategy=Strategy.REST_FOR_ONE, max_restarts=10**6),
    )
    spec = SupervisorSpec(children=[inner])
    rng = random.Random(3)
    snaps: list[TreeSnapshot] = []
    async with open_tree(spec, name="t", rng=random.Random(1)) as tree:
        tree.extra["trading"] = "active"
        for _ in range(300):
            rng.choice(boxes).send_nowait("crash")
            for _ in range(rng.randrange(3)):
                await trio.lowlevel.checkpoint()
            snaps.append(tree.snapshot())
        states = {n.state for s in snaps for n in s.nodes}
    assert LifecycleState.RUNNING in states
    assert len(states) >= 2  # the storm was visible
    for snap in snaps:
        decoded = msgspec.json.decode(msgspec.json.encode(snap), type=TreeSnapshot)
        assert decoded == snap
        paths = [n.path for n in snap.nodes]
        assert paths[:2] == ["t", "t/inner"]
        assert snap.extra == {"trading": "active"}
    assert sum(n.restarts_total for n in snaps[-1].nodes) > 0


def _bad(**kw: Any) -> ChildSpec:
    return ChildSpec(id=kw.pop("id", "x"), start=kw.pop("start", lambda: None), **kw)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (SupervisorSpec(children=[_bad(id="x"), _bad(id="x")]), "supervisor 't', child 'x'"),
        (
            SupervisorSpec(
                children=[ChildSpec(id="sub", start=SupervisorSpec(children=[_bad(id="a/b")]))]
            ),
            "supervisor 't/sub', child 'a/b'",
        ),
        (
            SupervisorSpec(children=[_bad(significant=True, restart=Restart.TRANSIENT)]),
            "auto_shutdown",
        ),
        (SupervisorSpec(max_seconds=0), "supervisor 't'"),
        (
            SupervisorSpec(children=[_bad()], strategy=Strategy.SIMPLE_ONE_FOR_ONE),
            "simple_one_for_one",
        ),
    ],
)
async def test_invalid_specs_rejected_before_start(spec: SupervisorSpec, message: str) -> None:
    with pytest.raises(SpecError, match=message.replace("(", r"\(")):
        async with open_tree(spec, name="t"):
            pytest.fail("must not start")
