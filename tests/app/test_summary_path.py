"""A ``--summary`` path that cannot be written is refused before the run starts (one
line, exit 2), not after the whole run has gone by."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from arbtree import cli


def _run(summary: Path, run_dir: Path) -> int:
    argv = ["run", "--summary", str(summary), "--run-dir", str(run_dir), "--no-panel"]
    return cli.main([*argv, "--duration", "1"])


@pytest.mark.parametrize(
    "where",
    ["under a file", "a directory", "under /proc"],
)
def test_an_unwritable_summary_path_is_refused_before_the_run(
    where: str, tmp_path: Path, capfd: pytest.CaptureFixture[str], no_run: list[Any]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    summary = {
        "under a file": blocker / "summary.json",
        "a directory": tmp_path,
        "under /proc": Path("/proc/arbtree-nope/summary.json"),
    }[where]
    code = _run(summary, tmp_path / "run")
    _, err = capfd.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("arbtree run: --summary: "), err
    assert no_run == []
    assert not (tmp_path / "run").exists()


def test_a_summary_in_a_folder_yet_to_be_made_is_accepted(
    tmp_path: Path, no_run: list[Any]
) -> None:
    with pytest.raises(AssertionError, match="the run started"):
        _run(tmp_path / "new" / "deeper" / "summary.json", tmp_path / "run")
    assert len(no_run) == 1
