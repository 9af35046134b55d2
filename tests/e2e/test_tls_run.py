"""End-to-end over TLS: the whole tree in paper mode against the sim serving wss:// and
https:// with its own CA (``[sim] tls = true``), which the run trusts and nothing else."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from arbtree.runner import SIM_CA_FILE
from tests.e2e.harness import e2e_config, executor, ledger, run_observed, sim_orders_for

pytestmark = pytest.mark.slow


def test_the_tree_trades_against_the_tls_sim(db_dsn: str, tmp_path: Path) -> None:
    config = e2e_config(dsn=db_dsn, run_dir=tmp_path / "run", seed=7, duration_s=6.0)
    config = msgspec.structs.replace(
        config, sim=msgspec.structs.replace(config.sim, tls=True, window_rate=2.0)
    )
    obs = run_observed(config)
    asm, summary = obs.asm, obs.summary
    assert asm is not None
    assert summary is not None
    assert asm.sim is not None
    assert asm.sim.ca_pem is not None
    assert (tmp_path / "run" / SIM_CA_FILE).read_bytes() == asm.sim.ca_pem
    sim = asm.sim  # the only endpoints the run was given: TLS ones
    assert sim.polymarket_ws_url.startswith("wss://")
    assert sim.kalshi_ws_url.startswith("wss://")
    assert sim.rest_url.startswith("https://")
    assert all(n > 0 for n in summary.messages_per_feed.values()), summary.messages_per_feed
    assert summary.fills > 0, "nothing traded over TLS"
    ex = executor(asm)
    assert ex is not None
    assert ex.runner is not None
    assert ex.runner.counters.get("sent", 0) > 0
    book = ledger(asm)
    filled = [(coid, o) for coid, o in book.orders.items() if o.filled]
    assert filled
    for coid, order in filled:  # every fill we booked is an order the venue executed
        assert sim_orders_for(asm, coid, order.instrument.venue), coid
    assert summary.restarts_per_actor == {}
