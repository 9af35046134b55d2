"""End-to-end: the trading state of a real run over the control endpoint — ``/tree``'s
``extra``, the ``arbtree_trading_state`` samples in ``/metrics`` and the inspector's header
— follows the ladder (active, then halted)."""

from __future__ import annotations

from pathlib import Path

import httpx
import msgspec
import pytest
import trio

from actors.observability.control import CONTROL_FILE, ControlInfo
from arbtree.inspector.render import render_header
from arbtree.runner import Assembly, RunOptions, run_app
from protocols.tree import TreeSnapshot
from tests.e2e.harness import e2e_config, trading_ready, wait_until

pytestmark = pytest.mark.slow


async def _state(client: httpx.AsyncClient) -> tuple[TreeSnapshot, str]:
    tree = await client.get("/tree")
    assert tree.status_code == 200
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    lines = [line for line in metrics.text.splitlines() if line.startswith("arbtree_trading")]
    return msgspec.json.decode(tree.content, type=TreeSnapshot), "\n".join(lines)


def test_trading_state_is_in_tree_metrics_and_the_inspector_header(
    db_dsn: str, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    config = e2e_config(dsn=db_dsn, run_dir=run_dir, seed=3, duration_s=60.0)
    seen: dict[str, tuple[TreeSnapshot, str]] = {}

    async def observe(asm: Assembly) -> None:
        await wait_until(lambda: trading_ready(asm), 20.0, "trading ready")
        await wait_until(lambda: (run_dir / CONTROL_FILE).exists(), 5.0, "control.json")
        info = msgspec.json.decode((run_dir / CONTROL_FILE).read_bytes(), type=ControlInfo)
        async with httpx.AsyncClient(base_url=info.url) as client:
            seen["active"] = await _state(client)
            asm.trading.halt("halted by the test")
            seen["halted"] = await _state(client)
        assert asm.tree is not None
        asm.tree.request_shutdown("test over")

    async def main() -> None:
        await run_app(config, RunOptions(), "e2e-state", observe=observe)

    trio.run(main)

    for state in ("active", "halted"):
        snap, metrics = seen[state]
        assert snap.extra.get("trading_state") == state
        assert f'arbtree_trading_state{{state="{state}"}} 1.0' in metrics, metrics
        others = {"active", "reducing", "halted"} - {state}
        for other in others:
            assert f'arbtree_trading_state{{state="{other}"}} 0.0' in metrics, metrics
        header = render_header(snap).plain
        assert f"trading: {state.upper()}" in header, header
        assert "unknown" not in header
