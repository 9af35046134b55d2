"""Run the asyncio peer (:mod:`bench.peer_bot`) against the sim in its own process, on the
same workload as the tree's run (the same ``SimConfig``, over TLS when it serves TLS),
and score it the same way.

The peer runs in a child process of its own (``python -m bench.peer_bot``), so its
``asyncio.run`` gets the stdlib event loop: in this process ``trio_asyncio`` (which the
tree's storage imports) replaces asyncio's event loop policy, and an ``asyncio.run`` here
would run on trio-asyncio's emulation instead. Its CPU time over the measured span is the
child's own. The database is real Postgres: the given DSN, else an embedded pgserver.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import msgspec
import trio

from actors.sim import SimConfig
from actors.storage.database import open_database
from arbtree.detection import Detection
from arbtree.sim_process import open_sim_process
from bench.peer_bot import PeerMarket, PeerPlan, PeerResult
from bench.percentiles import of_ns
from bench.tree_run import RunFigures, capture
from protocols.config.storage import StorageConfig


@asynccontextmanager
async def database_dsn(dsn: str | None) -> AsyncIterator[str]:
    """``dsn``, else the DSN of an embedded pgserver kept up for the block."""
    if dsn:
        yield dsn
        return
    with tempfile.TemporaryDirectory(prefix="arbtree-peer-") as tmp:
        async with open_database(None, Path(tmp), StorageConfig(), migrate=False) as db:
            yield str(db.dsn)


async def _in_child(plan: PeerPlan) -> PeerResult:
    """``run_peer(plan)`` in a fresh interpreter (inheriting this process's CPU affinity):
    the plan in on stdin, the result out on stdout, as JSON."""
    done = await trio.run_process(
        [sys.executable, "-m", "bench.peer_bot"],
        stdin=msgspec.json.encode(plan),
        capture_stdout=True,
    )
    return msgspec.json.decode(done.stdout, type=PeerResult)


async def run_peer_on_sim(
    sim_config: SimConfig,
    duration_s: float,
    warmup_s: float,
    dsn: str | None,
    sim_cpus: tuple[int, ...] = (),
) -> RunFigures:
    async with database_dsn(dsn) as db_dsn, open_sim_process(sim_config, cpus=sim_cpus) as sim:
        plan = PeerPlan(
            polymarket_ws=sim.polymarket_ws_url,
            kalshi_ws=sim.kalshi_ws_url,
            rest_url=sim.rest_url,
            dsn=db_dsn,
            markets=tuple(
                PeerMarket(m.index, m.yes_token, m.no_token, m.ticker, m.fee_rate_ppm / 1e6)
                for m in sim.markets
            ),
            duration_s=duration_s,
            warmup_s=warmup_s,
            ca_pem=sim.ca_pem,
        )
        result = await _in_child(plan)
        await sim.stop()
        windows = list(sim.windows)
    detections = [Detection(instruments, ts) for instruments, ts in result.detections]
    score = capture(windows, detections, result.measured_from_ms, result.measured_to_ms)
    updates = max(1, result.updates)
    return RunFigures(
        tick_to_opportunity=of_ns(result.tick_to_opportunity_ns),
        tick_to_order=of_ns(result.tick_to_order_ns),
        orders=result.legs_written,
        capture_ratio=score.capture_ratio,
        windows=score.injected,
        cpu_per_1k_updates_ms=result.cpu_s / updates * 1e6,
        updates_per_s=updates / max(1e-9, result.seconds),
    )
