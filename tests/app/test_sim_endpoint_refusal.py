"""A bad ``--sim-endpoint`` file stops ``arbtree run`` with one line and exit 2 before
anything starts (no database, no run directory)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from arbtree import cli


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "no such file"),
        ("{bad", "not a sim endpoint file: JSON is malformed"),
        ('{"host": "127.0.0.1"}', "not a sim endpoint file: Object missing required field"),
    ],
)
def test_a_bad_sim_endpoint_file_is_one_line_and_exit_2_before_anything_starts(
    content: str | None,
    problem: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    no_run: list[Any],
) -> None:
    endpoint = tmp_path / "sim.json"
    if content is not None:
        endpoint.write_text(content)
    run_dir = tmp_path / "run"
    code = cli.main(
        [
            "run",
            "--sim-endpoint",
            str(endpoint),
            "--run-dir",
            str(run_dir),
            "--duration",
            "1",
            "--no-panel",
        ]
    )
    _, err = capfd.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"arbtree run: configuration error: {endpoint}: "), err
    assert problem in lines[0], err
    assert no_run == []
    assert not run_dir.exists()
