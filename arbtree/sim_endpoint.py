"""``sim.json``: how a run (or the chaos harness) finds a sim running in its own process.

``arbtree sim --control-port N`` writes it (mode 0600) once its ports are bound: the venue's
ports, its market listing, the control API's URL and the path of its token file (also
0600). ``arbtree run --sim-endpoint sim.json`` (``[run] venue = "sim-external"``) trades
against that venue, which therefore outlives the bot: a killed and restarted bot finds the
orders, fills and balances it left, as it would at a real venue.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from actors.sim import WindowRecord
from actors.sim.endpoints import SimEndpoints
from arbtree.sim_process import MarketListing
from protocols.config.load import ConfigError


class SimEndpointFile(msgspec.Struct, frozen=True, kw_only=True):
    """The contents of ``sim.json``."""

    host: str
    polymarket_port: int
    kalshi_port: int
    rest_port: int
    control_url: str  # "" when the control API is off
    token_file: str  # "" when the control API is off
    pid: int
    seed: int
    markets: tuple[MarketListing, ...]


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, mode 0600 from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_endpoint_file(path: Path, info: SimEndpointFile) -> None:
    write_private(path, msgspec.json.format(msgspec.json.encode(info)) + b"\n")


def read_endpoint_file(path: Path) -> SimEndpointFile:
    """Read ``sim.json``; a missing or broken file is a ``ConfigError`` naming it."""
    try:
        return msgspec.json.decode(path.read_bytes(), type=SimEndpointFile)
    except FileNotFoundError:
        raise ConfigError(
            str(path), "sim.endpoint_file", "no such file: start `arbtree sim --control-port 0`"
        ) from None
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ConfigError(
            str(path), "sim.endpoint_file", f"not a sim endpoint file: {exc}"
        ) from None


class ExternalSim(SimEndpoints):
    """A sim in another process, as the runner uses it: URLs and listing, no fault hooks
    (those go through its control API) and no ground truth (it is the sim's own)."""

    faults: None = None

    def __init__(self, info: SimEndpointFile) -> None:
        self.info = info
        self.host = info.host
        self.polymarket_port = info.polymarket_port
        self.kalshi_port = info.kalshi_port
        self.rest_port = info.rest_port

    @property
    def markets(self) -> tuple[MarketListing, ...]:
        return self.info.markets

    @property
    def windows(self) -> list[WindowRecord]:
        return []
