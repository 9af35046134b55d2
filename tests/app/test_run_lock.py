"""One run per run directory: a second ``arbtree run`` on a locked directory exits 2
naming the holder's pid, before anything starts; the lock dies with its holder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from arbtree import cli, runner
from arbtree.run_lock import RunDirLock

HOLDER = """
import sys, time
from pathlib import Path
from arbtree.run_lock import RunDirLock
lock = RunDirLock(Path(sys.argv[1]))
print("locked", flush=True)
sys.stdin.read()  # held until the test closes our stdin
"""


def test_a_second_run_on_a_locked_directory_exits_2_naming_the_holder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[Any] = []

    async def refuse(*args: Any, **kwargs: Any) -> None:
        started.append(args)
        raise AssertionError("the run started")

    monkeypatch.setattr(runner, "run_app", refuse)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        code = cli.main(["run", "--run-dir", str(run_dir), "--duration", "1"])
        err = capsys.readouterr().err
        assert code == 2
        lines = err.splitlines()
        assert len(lines) == 1, err
        assert (
            f"run directory {run_dir} is in use by another arbtree run (pid {holder.pid})"
            in (lines[0])
        )
        assert started == []
    finally:
        holder.communicate(input="", timeout=30)
    # the holder is gone: its lock went with it, whatever it left in the file
    lock = RunDirLock(run_dir)
    lock.release()
