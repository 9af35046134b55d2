"""``arbtree sim`` options map onto ``SimConfig`` (no server is started here)."""

from __future__ import annotations

import argparse

from arbtree.cli import build_parser
from arbtree.commands.sim import _config


def _parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["sim", *argv])


def test_binance_off_unless_port_given() -> None:
    assert _config(_parse()).binance_port is None


def test_binance_port_and_symbols() -> None:
    cfg = _config(_parse("--binance-port", "0", "--binance-symbols", "btcusdt, ethusdt"))
    assert cfg.binance_port == 0
    assert cfg.binance_symbols == ("BTCUSDT", "ETHUSDT")
