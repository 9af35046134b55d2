"""``arbtree sim`` options map onto ``SimConfig`` (no server is started here)."""

from __future__ import annotations

import argparse

import pytest
import trio

from arbtree.cli import build_parser
from arbtree.commands import sim as sim_command
from arbtree.commands.sim import _config


def _parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["sim", *argv])


def test_binance_off_unless_port_given() -> None:
    assert _config(_parse()).binance_port is None


def test_binance_port_and_symbols() -> None:
    cfg = _config(_parse("--binance-port", "0", "--binance-symbols", "btcusdt, ethusdt"))
    assert cfg.binance_port == 0
    assert cfg.binance_symbols == ("BTCUSDT", "ETHUSDT")


@pytest.mark.parametrize(
    ("argv", "option", "shown"),
    [
        (("--duration", "-1"), "--duration", "got -1.0"),
        (("--duration", "nan"), "--duration", "got nan"),
        (("--control-port", "70000"), "--control-port", "got 70000"),  # not port 4464
        (("--polymarket-port", "-1"), "--polymarket-port", "got -1"),
        (("--rate", "nan"), "--rate", "got nan"),
        (("--rate", "0"), "--rate", "got 0.0"),
        (("--first-window", "inf"), "--first-window", "got inf"),
        (("--window-duration", "0"), "--window-duration", "got 0.0"),
        (("--window-rate", "-0.5"), "--window-rate", "got -0.5"),
        (("--markets", "0"), "--markets", "got 0"),
        (("--window-size", "0"), "--window-size", "got 0"),
        (("--seed", "-3"), "--seed", "got -3"),
    ],
)
def test_a_bad_option_is_one_line_and_exit_2_before_anything_starts(
    argv: tuple[str, ...],
    option: str,
    shown: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[object] = []
    monkeypatch.setattr(trio, "run", lambda *a: started.append(a))
    code = sim_command.run(_parse(*argv))
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"arbtree sim: {option}: "), err
    assert shown in lines[0], err
    assert "accepted: " in lines[0], err
    assert started == []
    assert out == ""
