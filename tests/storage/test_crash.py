"""SIGKILL a writing process; the next start replays its journal. Nothing acknowledged is
lost and nothing is stored twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from actors.storage.database import open_database
from tests.storage.helpers import fast_config, running_writer, wait_until

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
async def test_sigkill_mid_run_then_restart(db_dsn: str, tmp_path: Path) -> None:
    proc = await trio.lowlevel.open_process(
        [sys.executable, "-m", "tests.storage.crash_writer", db_dsn, str(tmp_path)],
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    acked = -1
    buf = b""
    try:
        with trio.fail_after(60):
            assert proc.stdout is not None
            while acked < 20_000:
                chunk = await proc.stdout.receive_some(65536)
                assert chunk, "writer subprocess exited early"
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    if line.startswith(b"durable "):
                        acked = max(acked, int(line.split()[1]))
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    journal = tmp_path / "journal"
    cfg = fast_config()
    with trio.fail_after(60):
        async with open_database(db_dsn, tmp_path, cfg) as db:
            async with running_writer(db, journal, cfg) as (sink, _):
                await wait_until(lambda: sink.statistics().mode == "direct", limit_s=50)
            total, distinct, below = await db.run(
                lambda c: c.fetchrow(
                    "SELECT count(*), count(DISTINCT recv_ns), "
                    "count(*) FILTER (WHERE recv_ns <= $1) FROM ticks",
                    acked,
                )
            )
    assert total == distinct  # nothing twice
    assert below == acked + 1  # everything acknowledged (0..acked) is there
    assert list(journal.glob("*.seg")) == []
