"""End-to-end: the embedded PostgreSQL killed in the middle of a real run is restarted by
the storage supervisor's keeper; the DB writer's journal covers the gap (records spilled
meanwhile are replayed: nothing left behind, nothing dead-lettered), and the server is
stopped when the run ends."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import msgspec
import pytest
import trio

from actors.storage.embedded import postmaster_pid
from arbtree.runner import Assembly, RunOptions, run_app
from arbtree.summary import RunSummary
from tests.e2e.harness import e2e_config, trading_ready, wait_until

pytestmark = pytest.mark.slow


def test_a_killed_embedded_server_is_restarted_and_the_journal_covers_the_gap(
    pg_run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ARBTREE_DB_DSN", raising=False)
    config = e2e_config(dsn="", run_dir=pg_run_dir, seed=4, duration_s=60.0)
    config = msgspec.structs.replace(
        config, storage=msgspec.structs.replace(config.storage, dsn=None)
    )
    killed: list[int] = []

    async def observe(asm: Assembly) -> None:
        server = asm.db.server
        assert server is not None
        await wait_until(lambda: trading_ready(asm), 30.0, "trading ready")
        await trio.sleep(0.5)
        assert server.pid is not None
        killed.append(server.pid)
        os.kill(server.pid, signal.SIGKILL)
        await wait_until(lambda: server.restarts == 1, 60.0, "the keeper restarted it")
        await wait_until(lambda: asm.sink.writable, 60.0, "the writer reconnected")
        await trio.sleep(1.0)  # records keep flowing to the restarted server
        assert asm.tree is not None
        asm.tree.request_shutdown("test over")

    summaries: list[RunSummary] = []

    async def main() -> None:
        summaries.append(await run_app(config, RunOptions(), "e2e-restart", observe=observe))

    trio.run(main)
    (summary,) = summaries
    assert killed
    assert summary.storage["spilled_records"] > 0  # the gap went to the journal ...
    assert summary.storage["backlog"] == 0  # ... and was replayed
    assert summary.storage["dead_letters"] == 0
    assert postmaster_pid(pg_run_dir / "postgres") is None  # stopped with the run
