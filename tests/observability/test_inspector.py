"""``arbtree inspect``: rendering, key handling, and the command against a live instance."""

from __future__ import annotations

import io
from pathlib import Path

import msgspec
import pytest
import trio
from rich.console import Console

from arbtree.cli import main
from arbtree.inspector.app import Action, InspectorState, parse_keys
from arbtree.inspector.render import (
    compute_rates,
    format_duration,
    render_details,
    render_screen,
    render_text,
)
from protocols.tree import LifecycleState, TreeSnapshot
from tests.observability.helpers import node, open_stack, sample_snapshot


def console_text(renderable: object, width: int = 160) -> str:
    console = Console(record=True, width=width, file=io.StringIO(), color_system="truecolor")
    console.print(renderable)
    return console.export_text()


def test_tree_with_failed_restarting_and_backoff_children_renders() -> None:
    prev = sample_snapshot(taken_at=1_000.0, received=500)
    cur = sample_snapshot(taken_at=1_002.0, received=700)
    text = console_text(render_screen(cur, prev, selected="arbtree/feeds/kalshi", now=1_003.0))
    lines = text.splitlines()
    assert "trading: REDUCING" in lines[0]
    assert "snapshot 1.0s old" in lines[0]

    def row(name: str) -> str:
        return next(line for line in lines if f" {name} " in line)

    kalshi = row("kalshi")
    assert kalshi.startswith(">")  # the selection marker
    assert "failed" in kalshi
    assert "3 (3)" in kalshi
    assert "ConnectionResetError: peer reset the websocket" in kalshi
    poly = row("polymarket")
    assert "starting" in poly
    assert "1 (1)" in poly
    assert "[          ] 0/16 pk 16 drop 7" in poly.replace("|", " ")
    binance = row("binance")
    assert "backoff" in binance
    assert "5 (2)" in binance
    assert "backing off 8.0s" in binance
    qc = row("quote_cache")
    assert "[####" in qc
    assert "40/100 pk 75" in qc
    assert "100/s" in qc  # 200 received over 2 s
    assert "1h02m" in lines[3]  # the root row, after the header and the column names


def test_states_are_coloured() -> None:
    snap = sample_snapshot()
    console = Console(record=True, width=160, file=io.StringIO(), color_system="truecolor")
    console.print(render_screen(snap, now=snap.taken_at))
    styled = console.export_text(styles=True)
    assert "\x1b[1;31mfailed" in styled  # bold red
    assert "\x1b[1;33mbackoff" in styled  # bold yellow
    assert "\x1b[32mrunning" in styled  # green


def test_details_show_traceback_and_mailbox_statistics() -> None:
    snap = sample_snapshot()
    text = console_text(render_details(node(snap, "arbtree/feeds/kalshi")))
    assert "last failure at" in text
    assert 'File "feed.py", line 42, in run' in text
    assert "3 total, 3 in window" in text
    text = console_text(render_details(node(snap, "arbtree/feeds/polymarket")))
    for column in (
        "mailbox",
        "policy",
        "depth",
        "capacity",
        "peak",
        "dropped",
        "coalesced",
        "direct",
        "queued",
    ):
        assert column in text
    assert "commands" in text


def test_rates_need_two_snapshots_and_monotonic_counters() -> None:
    prev = sample_snapshot(taken_at=10.0, received=100)
    assert compute_rates(None, prev) == {}
    assert compute_rates(prev, prev) == {}
    cur = sample_snapshot(taken_at=12.0, received=300)
    assert compute_rates(prev, cur)["arbtree/market/quote_cache"] == 100.0
    reset = sample_snapshot(taken_at=14.0, received=5)
    assert "arbtree/market/quote_cache" not in compute_rates(cur, reset)


def test_format_duration() -> None:
    assert format_duration(None) == "-"
    assert format_duration(2.345) == "2.3s"
    assert format_duration(75) == "1m15s"
    assert format_duration(3 * 86400 + 7200) == "3d02h"


def test_shutdown_phase_is_shown() -> None:
    snap = msgspec.structs.replace(sample_snapshot(), shutdown_phase="drain-executor")
    assert "SHUTDOWN: drain-executor" in render_text(snap, now=snap.taken_at)


def test_locked_in_edge_has_its_own_header_line() -> None:
    edge = "locked $12.5 on 441 pairs; unhedged 6.03 (cost $3.3); unwinds 1 ($-6.5)"
    snap = msgspec.structs.replace(
        sample_snapshot(), extra={"trading_state": "active", "edge": edge}
    )
    lines = render_text(snap, now=snap.taken_at).splitlines()
    assert "ACTIVE" in lines[0]
    assert "locked" not in lines[0]
    assert lines[1] == "edge " + edge
    assert "edge " not in render_text(sample_snapshot(), now=snap.taken_at)


def test_keys_move_open_details_and_confirm_actions() -> None:
    state = InspectorState()
    state.push(sample_snapshot())
    assert state.selected == "arbtree"
    assert parse_keys(b"\x1b[B\x1b[Bj\r") == ["down", "down", "j", "enter"]
    for key in parse_keys(b"\x1b[B\x1b[Bj"):
        assert state.handle_key(key) is None
    assert state.selected == "arbtree/feeds"
    state.handle_key("up")
    assert state.selected == "arbtree/market/quote_cache"
    state.handle_key("enter")
    assert state.details
    # restart asks first; anything but y cancels
    assert state.handle_key("r") is None
    assert "restart arbtree/market/quote_cache? [y/N]" in state.footer().plain
    assert state.handle_key("n") is None
    assert state.message == "cancelled"
    state.handle_key("r")
    assert state.handle_key("y") == Action("restart", "arbtree/market/quote_cache")
    state.handle_key("h")
    assert "HALT trading" in state.footer().plain
    assert state.handle_key("y") == Action("halt")
    state.handle_key("u")
    assert state.handle_key("Y") == Action("resume")
    state.handle_key("f")
    assert "FLATTEN every unhedged position" in state.footer().plain
    assert state.handle_key("y") == Action("flatten")
    assert state.handle_key("q") == Action("quit")
    # the selection survives a new snapshot; a vanished node falls back to the root
    state.push(sample_snapshot())
    assert state.selected == "arbtree/market/quote_cache"
    gone = msgspec.structs.replace(sample_snapshot(), nodes=sample_snapshot().nodes[:2])
    state.push(gone)
    assert state.selected == "arbtree"


def run_cli(argv: list[str]) -> int:
    return main(argv)


async def test_once_and_json_against_a_live_instance(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with open_stack(tmp_path, crasher=True) as stack:
        stack.tree.extra["trading_state"] = "halted"
        run_dir = str(stack.run_dir)
        code = await trio.to_thread.run_sync(run_cli, ["inspect", "--run-dir", run_dir, "--once"])
        out = capsys.readouterr().out
        assert code == 0
        assert "trading: HALTED" in out
        assert "\x1b[" not in out  # plain text
        crasher = next(line for line in out.splitlines() if " crasher " in line)
        assert "backoff" in crasher
        assert "RuntimeError: simulated crash" in crasher
        idle = next(line for line in out.splitlines() if " idle " in line)
        assert "running" in idle
        assert "0/8 pk 0" in idle
        assert "last failures:" in out

        code = await trio.to_thread.run_sync(run_cli, ["inspect", "--run-dir", run_dir, "--json"])
        out = capsys.readouterr().out
        assert code == 0
        snap = msgspec.json.decode(out.encode(), type=TreeSnapshot)
        assert snap.extra == {"trading_state": "halted"}
        assert node(snap, "arbtree/workers/crasher").state is LifecycleState.BACKOFF

        # --url + --token-file finds the same instance
        argv = ["inspect", "--url", stack.url, "--token-file", stack.info.token_file]
        code = await trio.to_thread.run_sync(run_cli, [*argv, "--restart", "arbtree/workers/idle"])
        assert code == 0
        assert capsys.readouterr().out.strip() == "restart: ok"


async def test_wrong_token_is_reported_and_nothing_happens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.token"
    bad.write_text("not-the-token\n")
    async with open_stack(tmp_path) as stack:
        argv = ["inspect", "--url", stack.url, "--token-file", str(bad)]
        code = await trio.to_thread.run_sync(run_cli, [*argv, "--restart", "arbtree/workers/idle"])
        err = capsys.readouterr().err
        assert code == 3
        assert "401" in err
        assert "refused the token" in err
        assert node(stack.tree.snapshot(), "arbtree/workers/idle").restarts_total == 0
        code = await trio.to_thread.run_sync(run_cli, ["inspect", "--url", stack.url, "--halt"])
        assert code == 3
        assert "--token-file" in capsys.readouterr().err


def test_no_instance_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["inspect", "--run-dir", str(tmp_path / "nothing"), "--once"])
    err = capsys.readouterr().err
    assert code == 2
    assert "no running arbtree found" in err
    assert "control.json does not exist" in err

    # a control.json left behind by a dead process: connection refused
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run_dir = tmp_path / "stale"
    run_dir.mkdir()
    (run_dir / "control.json").write_text(
        f'{{"url": "http://127.0.0.1:{port}", "token_file": "{run_dir}/control.token",'
        ' "pid": 1, "run_id": "x", "started_at": 0}'
    )
    code = main(["inspect", "--run-dir", str(run_dir), "--json"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"no arbtree answering at http://127.0.0.1:{port}" in err


def test_live_view_needs_a_terminal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "control.json").write_text(
        '{"url": "http://127.0.0.1:9", "token_file": "t", "pid": 1, "run_id": "x", "started_at": 0}'
    )
    code = main(["inspect", "--run-dir", str(tmp_path)])
    assert code == 1
    assert "needs a terminal" in capsys.readouterr().err
