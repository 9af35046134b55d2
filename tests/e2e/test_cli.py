"""End-to-end: the ``arbtree run`` command — refusals before anything starts, and a real
six-second run in a subprocess whose summary JSON is checked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

from actors.shutdown_phases import PHASES
from arbtree import cli
from arbtree.summary import RunSummary

# The phases arbtree declares, in order (their names: tests/app/test_shutdown_phases.py).
SHUTDOWN_PHASES = [p.name for p in PHASES]

BAD_CONFIGS = {
    "unknown-key": ("[run]\nsede = 3\n", "run.sede", "unknown key"),
    "wrong-type": ('[sim]\nmarkets = "four"\n', "sim.markets", "Expected `int`, got `str`"),
    "missing-value": (
        '[[market.feeds]]\nname = "polymarket"\nurl = "ws://127.0.0.1:1/ws"\n',
        "market.feeds[0].venue",
        'required key is missing (accepted: "polymarket" | "kalshi" | "binance")',
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_config_errors_exit_2_naming_the_key(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_run: list[Any]
) -> None:
    text, key, expected = BAD_CONFIGS[case]
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    run_dir = tmp_path / "run"
    code = cli.main(["run", "--config", str(bad), "--run-dir", str(run_dir), "--duration", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{bad}: {key}: {expected}" in err, err
    assert not run_dir.exists(), "the run directory was created"
    assert no_run == []


def test_live_flag_without_environment_is_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    no_run: list[Any],
) -> None:
    monkeypatch.delenv("ARBTREE_LIVE", raising=False)
    run_dir = tmp_path / "run"
    code = cli.main(["run", "--live", "--run-dir", str(run_dir), "--duration", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "ARBTREE_LIVE=yes is not set" in err, err
    assert "refusing to start" in err, err
    assert not run_dir.exists()
    assert no_run == []


def test_live_environment_without_flag_is_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    no_run: list[Any],
) -> None:
    monkeypatch.setenv("ARBTREE_LIVE", "yes")
    run_dir = tmp_path / "run"
    code = cli.main(["run", "--run-dir", str(run_dir), "--duration", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--live was not given" in err, err
    assert "refusing to start" in err, err
    assert not run_dir.exists()
    assert no_run == []


def test_live_without_a_venues_keys_is_refused_naming_them(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    no_run: list[Any],
) -> None:
    monkeypatch.setenv("ARBTREE_LIVE", "yes")
    for name in list(os.environ):
        if name.startswith(("POLYMARKET_", "KALSHI_")):
            monkeypatch.delenv(name)
    real = tmp_path / "real.toml"
    real.write_text(
        '[run]\nvenue = "real"\n[trading.executor.kalshi]\nenabled = false\n'
        '[trading.executor.polymarket]\nrest_url = "http://127.0.0.1:9"\n'
    )
    run_dir = tmp_path / "run"
    code = cli.main(["run", "--live", "--config", str(real), "--run-dir", str(run_dir)])
    err = capsys.readouterr().err
    assert code == 2
    assert "live Polymarket needs POLYMARKET_PRIVATE_KEY" in err, err
    assert "POLYMARKET_API_SECRET" in err, err
    assert "Traceback" not in err
    assert not run_dir.exists()
    assert no_run == []


@pytest.mark.slow
def test_run_command_writes_a_summary(db_dsn: str, tmp_path: Path) -> None:
    summary_path = tmp_path / "out" / "summary.json"
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k not in ("ARBTREE_LIVE", "ARBTREE_DB_DSN")}

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "arbtree",
            "run",
            "--duration",
            "6",
            "--seed",
            "5",
            "--summary",
            str(summary_path),
            "--db",
            db_dsn,
            "--run-dir",
            str(run_dir),
            "--no-panel",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )

    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = msgspec.json.decode(summary_path.read_bytes(), type=RunSummary)
    assert summary.seed == 5
    assert summary.mode == "paper"
    assert set(summary.messages_per_feed) == {"polymarket", "kalshi"}
    assert all(n > 0 for n in summary.messages_per_feed.values()), summary.messages_per_feed
    assert summary.shutdown is not None
    assert [p.phase for p in summary.shutdown.phases] == SHUTDOWN_PHASES
    assert not summary.shutdown.forced
    assert summary.windows is not None
    assert summary.windows.injected == summary.windows.captured + summary.windows.missed
    assert (run_dir / "ground_truth.jsonl").exists() or summary.windows.injected == 0
    # The summary printed on stdout is the same document.
    assert msgspec.json.decode(proc.stdout[proc.stdout.index("{") :], type=RunSummary) == summary
