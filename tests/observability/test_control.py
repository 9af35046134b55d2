"""The control endpoint over real loopback HTTP, against the real supervision runtime."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import msgspec
import pytest
import trio

from actors.observability.control import CONTROL_FILE, TOKEN_FILE, ControlPlane
from actors.observability.control import open_control_server as open_server
from actors.observability.metrics import Metrics
from actors.shutdown_phases import new_shutdown
from protocols.config.observability import ControlConfig
from protocols.tree import LifecycleState, TreeSnapshot
from supervision import Mailbox
from supervision.tree import open_tree
from tests.observability.helpers import build_spec, node, open_stack, settle


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _exists(path: Path) -> bool:
    return path.exists()


async def test_control_file_and_token_file_mode(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack:
        control = stack.run_dir / CONTROL_FILE
        token_file = Path(stack.info.token_file)
        assert token_file == (stack.run_dir / TOKEN_FILE).resolve()
        assert _mode(token_file) == 0o600
        assert _mode(control) == 0o600
        assert stack.url.startswith("http://127.0.0.1:")
        assert int(stack.url.rsplit(":", 1)[1]) > 0
        assert stack.token == stack.plane.token
        assert len(stack.token) >= 32
    # both files are removed when the control actor stops
    assert not _exists(control)
    assert not _exists(token_file)


async def test_live_tree_and_metrics_routes(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack, stack.client() as client:
        live = await client.get("/health/live")
        assert live.status_code == 200
        assert live.json() == {"live": True, "run_id": "test-run", "shutdown_phase": None}

        r = await client.get("/tree")
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/json"
        snap = msgspec.json.decode(r.content, type=TreeSnapshot)
        assert snap.root == "arbtree"
        paths = [n.path for n in snap.nodes]
        assert paths[:3] == ["arbtree", "arbtree/control", "arbtree/workers"]
        assert node(snap, "arbtree/workers/idle").state is LifecycleState.RUNNING

        m = await client.get("/metrics")
        assert m.status_code == 200
        assert m.headers["content-type"].startswith("text/plain; version=")
        assert b'arbtree_actor_state{path="arbtree/workers/idle",state="running"} 1.0' in m.content

        assert (await client.get("/nope")).status_code == 404
        assert (await client.post("/tree")).status_code == 405
        assert (await client.get("/actions/halt")).status_code == 405


async def test_tree_stream_sends_one_snapshot_per_interval(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack, stack.client() as client:
        stack.tree.extra["trading_state"] = "active"
        lines: list[TreeSnapshot] = []
        params = {"interval": "0.1", "count": "3"}
        async with client.stream("GET", "/tree/stream", params=params) as r:
            assert r.status_code == 200
            assert r.headers["content-type"] == "application/x-ndjson"
            lines.extend(
                [msgspec.json.decode(line, type=TreeSnapshot) async for line in r.aiter_lines()]
            )
        assert len(lines) == 3
        assert all(s.extra == {"trading_state": "active"} for s in lines)
        assert lines[0].taken_at <= lines[1].taken_at <= lines[2].taken_at


async def test_tree_stream_ends_when_the_client_goes_away(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack, stack.client() as client:
        async with client.stream("GET", "/tree/stream", params={"interval": "0.1"}) as r:
            async for line in r.aiter_lines():
                assert msgspec.json.decode(line, type=TreeSnapshot).root == "arbtree"
                break
        # the server notices the disconnect and the handler task ends
        await settle(stack.tree)


async def test_actions_without_a_valid_token_get_401_and_do_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    halts: list[str] = []
    async with open_stack(tmp_path, crasher=True) as stack, stack.client() as client:
        stack.plane.set_trading_control(halt=halts.append, resume=halts.append)
        before = node(stack.tree.snapshot(), "arbtree/workers/idle").restarts_total
        bad_headers: list[dict[str, str]] = [
            {},
            {"Authorization": "Bearer not-the-token"},
            {"Authorization": f"Basic {stack.token}"},
            {"Authorization": "Bearer"},
        ]
        caplog.set_level(logging.WARNING, logger="arbtree.control")
        for headers in bad_headers:
            for path, body in (
                ("/actions/restart", {"path": "arbtree/workers/idle"}),
                ("/actions/halt", {}),
                ("/actions/resume", {}),
                ("/actions/shutdown", {"force": True}),
            ):
                r = await client.post(path, json=body, headers=headers)
                assert r.status_code == 401, (path, headers)
                assert r.headers["www-authenticate"] == "Bearer"
                assert r.json()["ok"] is False
        await settle(stack.tree)
        snap = stack.tree.snapshot()
        assert node(snap, "arbtree/workers/idle").restarts_total == before
        assert halts == []
        assert not stack.tree.shutdown.requested
        reg = stack.plane.metrics.registry
        assert reg.get_sample_value("arbtree_control_auth_failures_total") == 16
        refused = [r for r in caplog.records if "refused" in r.getMessage()]
        assert len(refused) == 16
        assert all(stack.token not in r.getMessage() for r in caplog.records)
        assert "missing bearer token" in refused[0].getMessage()
        assert "wrong bearer token" in refused[4].getMessage()


async def test_restart_action_restarts_the_node(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack, stack.client() as client:
        stack.inbox.send_nowait(1)
        await settle(stack.tree)
        r = await client.post(
            "/actions/restart", json={"path": "arbtree/workers/idle"}, headers=stack.auth()
        )
        assert r.status_code == 200, r.text
        assert r.json() == {"ok": True, "action": "restart", "path": "arbtree/workers/idle"}
        await settle(stack.tree)
        idle = node(stack.tree.snapshot(), "arbtree/workers/idle")
        assert idle.restarts_total == 1
        assert idle.state is LifecycleState.RUNNING
        # the mailbox outlived the restart and the new incarnation reads it
        stack.inbox.send_nowait(2)
        await settle(stack.tree)
        assert stack.got == [1, 2]

        missing = await client.post(
            "/actions/restart", json={"path": "arbtree/nope"}, headers=stack.auth()
        )
        assert missing.status_code == 404
        bad = await client.post("/actions/restart", json={}, headers=stack.auth())
        assert bad.status_code == 400
        junk = await client.post("/actions/restart", content=b"{not json", headers=stack.auth())
        assert junk.status_code == 400


async def test_halt_and_resume_go_through_the_trading_hook(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack, stack.client() as client:
        r = await client.post("/actions/halt", json={}, headers=stack.auth())
        assert r.status_code == 503
        assert "no trading control" in r.json()["error"]

        calls: list[tuple[str, str]] = []

        async def halt(reason: str) -> str:
            calls.append(("halt", reason))
            stack.tree.extra["trading_state"] = "halted"
            return "halted"

        def resume(reason: str) -> str:
            calls.append(("resume", reason))
            stack.tree.extra["trading_state"] = "active"
            return "active"

        unregister = stack.plane.set_trading_control(halt=halt, resume=resume)
        r = await client.post("/actions/halt", json={"reason": "test"}, headers=stack.auth())
        assert r.json() == {"ok": True, "action": "halt", "result": "halted"}
        assert stack.tree.snapshot().extra["trading_state"] == "halted"
        r = await client.post("/actions/resume", headers=stack.auth())
        assert r.json() == {"ok": True, "action": "resume", "result": "active"}
        assert calls == [("halt", "test"), ("resume", "resume requested through the control API")]
        unregister()
        assert (await client.post("/actions/halt", headers=stack.auth())).status_code == 503

        # a hook answering (accepted, why): a refusal is a 409 with the reason
        stack.plane.set_trading_control(
            halt=lambda reason: None, resume=lambda reason: (False, "halt is latched")
        )
        r = await client.post("/actions/resume", headers=stack.auth())
        assert r.status_code == 409
        assert r.json()["error"] == "resume refused: halt is latched"


async def test_oversized_body_is_refused(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack, stack.client() as client:
        r = await client.post("/actions/restart", content=b"x" * 70_000, headers=stack.auth())
        assert r.status_code == 413


async def test_shutdown_action_stops_the_tree(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    plane = ControlPlane(Metrics())
    inbox: Mailbox[int] = Mailbox("inbox", 8)
    spec = build_spec(plane, run_dir, inbox, [], crasher=False)
    status: list[int] = []
    async with open_tree(spec, name="arbtree", shutdown=new_shutdown()) as tree:
        plane.attach_tree(tree)
        url = msgspec.json.decode((run_dir / CONTROL_FILE).read_bytes())["url"]
        import httpx

        async with httpx.AsyncClient(base_url=url, trust_env=False) as client:
            r = await client.post(
                "/actions/shutdown",
                json={"reason": "test over"},
                headers={"Authorization": f"Bearer {plane.token}"},
            )
            status.append(r.status_code)
        await trio.sleep_forever()  # ended by the tree stopping
    assert status == [202]
    assert tree.report is not None
    assert tree.report.reason == "test over"
    assert not _exists(run_dir / CONTROL_FILE)


async def test_non_loopback_host_is_refused_unless_allowed(tmp_path: Path) -> None:
    plane = ControlPlane(Metrics())
    with pytest.raises(ValueError, match="not a loopback"):
        async with open_server(plane, ControlConfig(host="0.0.0.0"), tmp_path):
            pass


async def test_tree_routes_answer_503_before_a_tree_is_attached(tmp_path: Path) -> None:
    import httpx

    plane = ControlPlane(Metrics())
    async with (
        open_server(plane, ControlConfig(), tmp_path) as server,
        httpx.AsyncClient(base_url=server.url, trust_env=False) as client,
    ):
        assert (await client.get("/tree")).status_code == 503
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["failed"] == ["tree"]
        assert (await client.get("/health/live")).status_code == 200
        assert (await client.get("/metrics")).status_code == 200


async def test_flatten_and_adopt_venue_are_token_guarded_trading_actions(tmp_path: Path) -> None:
    async with open_stack(tmp_path) as stack, stack.client() as client:
        assert (await client.post("/actions/flatten", json={})).status_code == 401
        r = await client.post("/actions/flatten", json={}, headers=stack.auth())
        assert r.status_code == 503
        calls: list[str] = []

        async def flatten(reason: str) -> tuple[bool, str]:
            calls.append(reason)
            return True, "2 naked legs, all flat"

        stack.plane.trading_actions["flatten"] = flatten
        stack.plane.trading_actions["adopt-venue"] = lambda reason: (False, "no venue report")
        r = await client.post("/actions/flatten", json={"reason": "x"}, headers=stack.auth())
        assert r.json() == {"ok": True, "action": "flatten", "result": "2 naked legs, all flat"}
        assert calls == ["x"]
        r = await client.post("/actions/adopt-venue", json={}, headers=stack.auth())
        assert r.status_code == 409
        assert r.json()["error"] == "adopt-venue refused: no venue report"
