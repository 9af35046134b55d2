"""The embedded PostgreSQL is owned by the run: stopped however the run ends, an orphan
left by an earlier run stopped (one log line), restarted if it dies mid-run; asyncpg's
pool retries are one log line each."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import trio

from actors.storage.database import open_database
from actors.storage.embedded import EmbeddedKeeper, postmaster_pid, start_embedded
from protocols.config.storage import StorageConfig
from supervision import ChildSpec, SupervisorSpec, open_tree

pytestmark = pytest.mark.slow


def fast_config() -> StorageConfig:
    return StorageConfig(connect_timeout_s=5.0, command_timeout_s=5.0, close_timeout_s=2.0)


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it is not)."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


@pytest.fixture(autouse=True)
def _embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARBTREE_DB_DSN", raising=False)


async def test_a_clean_exit_stops_the_server(pg_run_dir: Path) -> None:
    pgdata = pg_run_dir / "postgres"
    with trio.fail_after(120):
        async with open_database(None, pg_run_dir, fast_config()) as db:
            assert await db.run(lambda c: c.fetchval("SELECT 1")) == 1
            pid = postmaster_pid(pgdata)
            assert pid is not None
    assert postmaster_pid(pgdata) is None
    assert not alive(pid)


async def test_an_exception_stops_the_server(pg_run_dir: Path) -> None:
    pgdata = pg_run_dir / "postgres"
    pids: list[int | None] = []

    async def fail() -> None:
        async with open_database(None, pg_run_dir, fast_config()):
            pids.append(postmaster_pid(pgdata))
            raise RuntimeError("boom")

    with trio.fail_after(120), pytest.raises(RuntimeError, match="boom"):
        await fail()
    (pid,) = pids
    assert pid is not None
    assert not alive(pid)


async def test_an_orphan_is_stopped_with_one_log_line(
    pg_run_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pgdata = pg_run_dir / "postgres"
    await start_embedded(pgdata)  # left running, as by a SIGKILLed run
    orphan = postmaster_pid(pgdata)
    assert orphan is not None
    caplog.set_level(logging.INFO, logger="arbtree.storage.embedded")
    with trio.fail_after(120):
        async with open_database(None, pg_run_dir, fast_config()) as db:
            assert await db.run(lambda c: c.fetchval("SELECT 1")) == 1
            ours = postmaster_pid(pgdata)
    lines = [r.getMessage() for r in caplog.records if "earlier run" in r.getMessage()]
    assert lines == [
        f"stopping the embedded PostgreSQL (pid {orphan}) an earlier run left running in "
        f"{pgdata.resolve()}"
    ]
    assert not alive(orphan)
    assert ours is not None
    assert ours != orphan
    assert postmaster_pid(pgdata) is None


async def test_a_server_that_dies_mid_run_is_restarted(pg_run_dir: Path) -> None:
    pgdata = pg_run_dir / "postgres"
    with trio.fail_after(120):
        async with open_database(None, pg_run_dir, fast_config()) as db:
            server = db.server
            assert server is not None
            spec = SupervisorSpec(
                children=[ChildSpec(id="keeper", start=lambda: EmbeddedKeeper(server, 0.05))]
            )
            async with open_tree(spec, name="t") as tree:
                first = server.pid
                assert first is not None
                os.kill(first, signal.SIGKILL)
                while server.restarts == 0:  # noqa: ASYNC110 - the keeper's own counter
                    await trio.sleep(0.05)
                assert server.pid != first
                assert postmaster_pid(pgdata) == server.pid
                while True:  # the pool reconnects to the restarted server
                    try:
                        assert await db.run(lambda c: c.fetchval("SELECT 2")) == 2
                        break
                    except Exception:
                        await trio.sleep(0.1)
                tree.request_shutdown("test over")
                await tree.wait_stopped()
    assert postmaster_pid(pgdata) is None


def test_a_pool_retry_is_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    import actors.storage.database  # noqa: F401 - installs the filter on asyncpg's logger

    caplog.set_level(logging.WARNING, logger="asyncpg.pool")
    try:
        raise ConnectionRefusedError(111, "Connection refused")
    except ConnectionRefusedError:
        logging.getLogger("asyncpg.pool").warning(
            "Failed to restore the pool connection floor; retrying", exc_info=True
        )
    (record,) = caplog.records
    assert record.exc_info is None
    line = caplog.text.strip()
    assert "\n" not in line
    assert line.endswith(
        "Failed to restore the pool connection floor; retrying "
        "(ConnectionRefusedError: [Errno 111] Connection refused)"
    )


def test_sigterm_during_start_up_stops_the_server(pg_run_dir: Path) -> None:
    pgdata = pg_run_dir / "postgres"
    env = {k: v for k, v in os.environ.items() if k not in ("ARBTREE_LIVE", "ARBTREE_DB_DSN")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "arbtree", "run", "--run-dir", str(pg_run_dir), "--no-panel"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while postmaster_pid(pgdata) is None:  # the server is starting: still start-up
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.01)
        started = postmaster_pid(pgdata)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (0, 128 + signal.SIGTERM), err  # 0: the tree was up already
    assert started is not None
    assert not alive(started), err
    assert postmaster_pid(pgdata) is None


async def test_a_stale_pid_file_naming_another_live_process_is_not_an_orphan(
    pg_run_dir: Path,
) -> None:
    """``postmaster.pid`` left by a server that died with its machine (or container) names
    a pid that may now be any process: it is not stopped or killed as an "orphan", the
    stale file is cleared and a server starts."""
    pgdata = pg_run_dir / "postgres"
    pgdata.mkdir(parents=True)
    bystander = await trio.lowlevel.open_process(
        [sys.executable, "-c", "import time; time.sleep(120)"]
    )
    try:
        (pgdata / "postmaster.pid").write_text(f"{bystander.pid}\n{pgdata}\n0\n5432\n\n")
        assert postmaster_pid(pgdata) is None
        with trio.fail_after(120):
            async with open_database(None, pg_run_dir, fast_config()) as db:
                assert await db.run(lambda c: c.fetchval("SELECT 1")) == 1
        assert bystander.poll() is None, "the bystander was stopped as an orphan"
    finally:
        bystander.kill()
        await bystander.wait()
