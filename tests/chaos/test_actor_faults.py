"""Actor faults through the control endpoint: crash, hang, event-loop stall, and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from protocols.tree import LifecycleState
from supervision import ChildSpec, Mailbox, SupervisorSpec
from supervision.injected import InjectedFault
from supervision.supervisor import SupervisorGaveUp
from supervision.tree import open_tree
from tests.observability.helpers import Idle, node, open_stack, settle

IDLE = "arbtree/workers/idle"


async def test_crash_fails_the_worker_and_its_supervisor_restarts_it(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack, stack.client() as client:
        r = await client.post(
            "/actions/fault", json={"kind": "crash", "path": IDLE}, headers=stack.auth()
        )
        assert r.status_code == 200, r.text
        assert r.json() == {"ok": True, "action": "crash", "path": IDLE}
        await settle(stack.tree)
        idle = node(stack.tree.snapshot(), IDLE)
        assert idle.restarts_total == 1
        assert idle.state is LifecycleState.RUNNING
        assert idle.last_failure is not None
        assert idle.last_failure.type.endswith("InjectedCrash")
        assert f"crash injected into {IDLE}" in idle.last_failure.message
        stack.inbox.send_nowait(7)  # the new incarnation reads the same mailbox
        await settle(stack.tree)
        assert stack.got == [7]


async def test_hang_keeps_the_node_running_but_silent_until_restarted(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack, stack.client() as client:
        r = await client.post(
            "/actions/fault", json={"kind": "hang", "path": IDLE}, headers=stack.auth()
        )
        assert r.status_code == 200, r.text
        await settle(stack.tree)
        stack.inbox.send_nowait(1)
        await settle(stack.tree)
        hung = node(stack.tree.snapshot(), IDLE)
        assert hung.state is LifecycleState.RUNNING  # its supervisor has not noticed
        assert hung.restarts_total == 0
        assert stack.got == []  # nobody reads the mailbox
        assert stack.inbox.statistics().depth == 1
        again = await client.post(
            "/actions/fault", json={"kind": "hang", "path": IDLE}, headers=stack.auth()
        )
        assert again.status_code == 409
        assert "already has an injected hang" in again.json()["error"]
        restart = await client.post("/actions/restart", json={"path": IDLE}, headers=stack.auth())
        assert restart.status_code == 200
        await settle(stack.tree)
        assert stack.got == [1]  # the restarted incarnation drains what queued up


async def test_stall_blocks_the_event_loop(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack, stack.client() as client:
        gaps: list[float] = []

        async def ticker() -> None:
            last = trio.current_time()
            while True:
                await trio.sleep(0.002)
                now = trio.current_time()
                gaps.append(now - last)
                last = now

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ticker)
            r = await client.post(
                "/actions/fault", json={"kind": "stall", "ms": 150}, headers=stack.auth()
            )
            await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
        assert r.status_code == 200, r.text
        assert r.json()["blocked_s"] >= 0.15
        assert max(gaps) >= 0.15  # a task that sleeps 2 ms did not run for the whole stall


async def test_fault_requests_that_cannot_be_carried_out(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack, stack.client() as client:
        cases: list[tuple[dict[str, object], dict[str, str] | None, int, str]] = [
            ({"kind": "crash", "path": IDLE}, {}, 401, "unauthorized"),
            ({"kind": "crash", "path": "arbtree/workers/nope"}, None, 404, "no worker"),
            ({"kind": "crash", "path": "arbtree/workers"}, None, 409, "is a supervisor"),
            ({"kind": "explode", "path": IDLE}, None, 400, "kind must be"),
            ({"kind": "hang"}, None, 400, "needs"),
            ({"kind": "stall", "ms": 0}, None, 400, "integer ms"),
            ({"kind": "stall", "ms": 10**9}, None, 400, "integer ms"),
        ]
        for body, headers, status, words in cases:
            r = await client.post(
                "/actions/fault", json=body, headers=stack.auth() if headers is None else headers
            )
            assert r.status_code == status, (body, r.text)
            assert words in r.json()["error"], (body, r.text)
        assert node(stack.tree.snapshot(), IDLE).restarts_total == 0


async def test_faults_are_refused_where_the_run_does_not_allow_them(tmp_path: Path) -> None:
    """Outside paper trading (``faults_allowed`` off) every fault is 403, nothing injected."""
    async with open_stack(tmp_path) as stack, stack.client() as client:
        stack.plane.faults_allowed = False
        for body in ({"kind": "crash", "path": IDLE}, {"kind": "stall", "ms": 100}):
            r = await client.post("/actions/fault", json=body, headers=stack.auth())
            assert r.status_code == 403, r.text
            assert "outside paper trading" in r.json()["error"]
        assert node(stack.tree.snapshot(), IDLE).restarts_total == 0


async def test_a_crash_storm_beyond_intensity_makes_the_supervisor_give_up() -> None:
    inbox: Mailbox[int] = Mailbox("w.inbox", 8)
    got: list[object] = []
    spec = SupervisorSpec(
        children=(ChildSpec(id="w", start=lambda: Idle(got), mailboxes=(inbox,)),),
        max_restarts=2,
        max_seconds=60,
    )
    crashes: list[str] = []

    async def storm() -> None:
        async with open_tree(spec, name="t") as tree:
            for _ in range(3):
                await settle(tree)
                tree.inject_fault("t/w", InjectedFault.CRASH)
                crashes.append("t/w")
            await tree.wait_stopped()

    with pytest.raises(SupervisorGaveUp, match="t/w"):
        await storm()
    assert len(crashes) == 3
