"""The simulated venue in a child process (``arbtree.sim_process``, ``[sim] process = true``).

The child serves the same loopback websockets and REST as the in-process sim, lists the
same markets for the same config, hands its ground truth back when it stops, and never
outlives its ``async with`` block or its parent.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import attrs
import httpx
import msgspec
import pytest
import trio
from trio_websocket import open_websocket_url

from actors.sim import SimConfig, WindowRecord, open_sim_venue
from arbtree.runner import Assembly, RunOptions, run_app
from arbtree.sim_process import MarketListing, SimProcess, SimProcessError, open_sim_process
from arbtree.summary import RunSummary
from tests.e2e.harness import e2e_config

EPOCH_MS = 1_700_000_000_000  # fixed: windows and frame stamps compare across runs
CONFIG = SimConfig(
    seed=11, markets=2, rate=400.0, window_rate=20.0, window_duration=0.5, epoch_ms=EPOCH_MS
)
TIMEOUT_S = 60.0  # generous: an interpreter start on a loaded CI machine


def _gone(pid: int) -> bool:
    """The process has exited (a zombie nobody reaped counts as exited)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    state = next((line for line in status.splitlines() if line.startswith("State:")), "")
    return "Z" in state.split()[1:2]


async def _wait_gone(pid: int, timeout_s: float = 10.0) -> None:
    with trio.fail_after(timeout_s):
        while not _gone(pid):  # noqa: ASYNC110 - another process's state: poll it
            await trio.sleep(0.01)


async def _read_market_until(url: str, tokens: list[str], sim_ms: int) -> int:
    """Subscribe to the Polymarket market channel and read frames until one is stamped at
    least ``sim_ms`` after the epoch; the number of events read."""
    events = 0
    async with open_websocket_url(url) as ws:
        await ws.send_message(json.dumps({"assets_ids": tokens, "type": "market"}))
        while True:
            message = await ws.get_message()
            if message == "PONG":
                continue
            decoded = json.loads(message)
            for event in decoded if isinstance(decoded, list) else [decoded]:
                events += 1
                if int(event["timestamp"]) >= EPOCH_MS + sim_ms:
                    return events


async def test_child_serves_loopback_lists_the_same_markets_and_returns_windows() -> None:
    with trio.fail_after(TIMEOUT_S):
        async with open_sim_venue(CONFIG) as local:
            expected = tuple(MarketListing.of(m) for m in local.markets)
        async with open_sim_process(CONFIG) as proc:
            assert proc.markets == expected
            assert proc.faults is None
            assert proc.windows == []  # reported when the child stops
            assert proc.rest_url.startswith("http://127.0.0.1:")
            market = proc.markets[0]
            async with httpx.AsyncClient(timeout=10.0) as client:
                book = await client.get(
                    f"{proc.polymarket_rest_url}/book", params={"token_id": market.yes_token}
                )
                assert book.status_code == 200
                assert book.json()["asset_id"] == market.yes_token
                kalshi = await client.get(
                    f"{proc.kalshi_rest_url}/markets/{market.ticker}/orderbook"
                )
                assert kalshi.status_code == 200
            events = await _read_market_until(
                proc.polymarket_ws_url, [market.yes_token, market.no_token], sim_ms=1_000
            )
            assert events > 1
            windows = await proc.stop()
            assert proc.stopped
            assert proc.process.returncode == 0
        assert windows, "a second of sim time at 20 windows/s injected none"
        assert proc.windows == windows
        # An in-process sim with the same config injects the same windows, in the same order.
        async with open_sim_venue(CONFIG) as local:
            while len(local.windows) < len(windows):  # noqa: ASYNC110 - the sim's own clock
                await trio.sleep(0.01)

            # What was offered after a window opened depends on how long each ran.
            def at_open(ws: list[WindowRecord]) -> list[WindowRecord]:
                return [attrs.evolve(w, reoffers=()) for w in ws]

            assert at_open(local.windows[: len(windows)]) == at_open(windows)


async def test_child_is_gone_after_the_block_raises() -> None:
    handle: SimProcess | None = None

    async def failing_body() -> None:
        nonlocal handle
        async with open_sim_process(CONFIG) as proc:
            handle = proc
            raise RuntimeError("boom")

    with trio.fail_after(TIMEOUT_S), pytest.raises(RuntimeError, match="boom"):
        await failing_body()
    assert handle is not None
    assert handle.process.returncode is not None
    assert _gone(handle.pid)
    assert handle.stopped  # asked politely first: its windows came back


async def test_child_is_gone_after_a_cancellation() -> None:
    handle: SimProcess | None = None
    with trio.fail_after(TIMEOUT_S):
        with trio.CancelScope() as scope:
            async with open_sim_process(CONFIG) as proc:
                handle = proc
                scope.cancel()
                await trio.sleep_forever()
    assert scope.cancelled_caught
    assert handle is not None
    assert handle.process.returncode is not None
    assert _gone(handle.pid)


async def test_a_child_that_cannot_start_is_a_clear_error() -> None:
    async def start() -> None:
        async with open_sim_process(SimConfig(host="0.0.0.0")):
            pytest.fail("started on a non-loopback host")

    with trio.fail_after(TIMEOUT_S):
        with pytest.raises(SimProcessError, match=r"failed to start(?s:.*)loopback only"):
            await start()


PARENT = """
import sys, trio
from actors.sim import SimConfig
from arbtree.sim_process import open_sim_process

async def main():
    async with open_sim_process(SimConfig(seed=1, markets=1)) as proc:
        print(proc.pid, flush=True)
        await trio.sleep_forever()

trio.run(main)
"""


async def test_child_exits_when_its_parent_dies() -> None:
    with trio.fail_after(TIMEOUT_S):
        parent = await trio.lowlevel.open_process(
            [sys.executable, "-c", PARENT], stdout=-1, cwd=str(Path(__file__).parents[2])
        )
        try:
            assert parent.stdout is not None
            line = b""
            while not line.endswith(b"\n"):
                chunk = await parent.stdout.receive_some()
                assert chunk, "the parent exited before its sim was ready"
                line += chunk
            child_pid = int(line)
            assert not _gone(child_pid)
            parent.kill()  # no cleanup at all: the child must notice on its own
            await parent.wait()
        finally:
            if parent.returncode is None:
                parent.kill()
                await parent.wait()
        await _wait_gone(child_pid)


@pytest.mark.slow
def test_run_app_with_the_sim_in_a_child_process(db_dsn: str, tmp_path: Path) -> None:
    base = e2e_config(dsn=db_dsn, run_dir=tmp_path / "run", seed=5, duration_s=3.0)
    replace = msgspec.structs.replace
    config = replace(
        base, sim=replace(base.sim, process=True, window_rate=5.0, window_duration_s=0.5)
    )
    seen: list[Assembly] = []

    async def observe(asm: Assembly) -> None:
        seen.append(asm)

    async def main() -> RunSummary:
        with trio.fail_after(TIMEOUT_S):
            return await run_app(config, RunOptions(), "sim-process", observe=observe)

    summary = trio.run(main)
    asm = seen[0]
    assert asm.sim is None, "no in-process sim (and so no fault hooks) in process mode"
    assert asm.sim_process is not None
    assert asm.sim_process.stopped
    assert asm.sim_process.process.returncode is not None
    assert summary.messages_per_feed.get("polymarket", 0) > 0
    assert summary.messages_per_feed.get("kalshi", 0) > 0
    assert summary.windows is not None
    assert summary.windows.injected > 0
    assert summary.windows.injected == len(asm.sim_process.windows)
    ground_truth = (tmp_path / "run" / config.sim.ground_truth).read_text().splitlines()
    assert len(ground_truth) == summary.windows.injected  # the child wrote the same log


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="Linux CPU affinity")
async def test_the_child_can_be_pinned_to_cpus() -> None:
    cpu = max(os.sched_getaffinity(0))
    with trio.fail_after(TIMEOUT_S):
        async with open_sim_process(CONFIG, cpus=(cpu,)) as proc:
            assert os.sched_getaffinity(proc.pid) == {cpu}
