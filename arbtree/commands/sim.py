"""``arbtree sim``: run the simulated venue standalone on loopback."""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys
from pathlib import Path
from typing import Annotated, Any

import msgspec
import trio

from actors.sim import SimConfig, open_sim_venue
from actors.sim.control import serve_sim_control
from actors.sim.units import ONE
from actors.sim.venue import check_loopback
from arbtree.config import SimSection
from arbtree.sim_endpoint import SimEndpointFile, write_endpoint_file, write_private
from arbtree.sim_process import MarketListing
from protocols.config.limits import DAY_S, Port
from protocols.config.load import ConfigError, convert_config

# The options that are [sim] keys of `arbtree run`'s configuration: checked by its schema.
_SECTION_OPTIONS = {
    "markets": "markets",
    "rate": "rate",
    "window_rate": "window-rate",
    "window_duration_s": "window-duration",
    "first_window_s": "first-window",
}


class _Options(msgspec.Struct, frozen=True, kw_only=True, rename="kebab"):
    """The accepted range of the options that are not [sim] keys."""

    seed: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
    window_size: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]  # shares
    duration: Annotated[float, msgspec.Meta(gt=0, le=366 * DAY_S)] | None
    polymarket_port: Port
    kalshi_port: Port
    rest_port: Port
    binance_port: Port | None
    control_port: Port | None


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "sim", help="run the simulated Polymarket/Kalshi venue on loopback"
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--markets", type=int, default=4)
    p.add_argument("--rate", type=float, default=200.0, help="book updates per second")
    p.add_argument("--window-rate", type=float, default=0.05, help="windows per second")
    p.add_argument("--window-duration", type=float, default=5.0, help="mean seconds")
    p.add_argument("--window-size", type=int, default=100, help="shares at the best level")
    p.add_argument(
        "--first-window",
        type=float,
        default=3.0,
        help="seconds until the first window if none came earlier (0: the rate alone)",
    )
    p.add_argument("--host", default="127.0.0.1", help="loopback address only")
    p.add_argument("--polymarket-port", type=int, default=0, help="0 = any free port")
    p.add_argument("--kalshi-port", type=int, default=0)
    p.add_argument("--rest-port", type=int, default=0)
    p.add_argument(
        "--binance-port",
        type=int,
        default=None,
        help="serve the Binance reference stream on this port (0 = any free port); off if absent",
    )
    p.add_argument(
        "--binance-symbols",
        default="BTCUSDT",
        help="comma-separated Binance symbols (with --binance-port)",
    )
    p.add_argument("--ground-truth", metavar="PATH", default=None)
    p.add_argument("--duration", type=float, default=None, help="seconds, default forever")
    p.add_argument("--kalshi-legacy-cents", action="store_true")
    p.add_argument(
        "--control-port",
        type=int,
        default=None,
        help="serve the sim's control API (faults, state) on this loopback port (0 = any "
        "free port) and write --endpoint-file; off if absent",
    )
    p.add_argument(
        "--endpoint-file",
        type=Path,
        default=Path("sim.json"),
        help="with --control-port: where to write the URLs, listing and token path (0600); "
        "the token goes to the same name with .token",
    )
    p.add_argument(
        "--tls",
        action="store_true",
        help="serve wss:// and https:// with a CA made for this run (its PEM: --ca-file)",
    )
    p.add_argument(
        "--ca-file",
        type=Path,
        default=Path("sim-ca.pem"),
        metavar="PATH",
        help="with --tls: where to write the CA certificate clients must trust",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        check_options(args)
        check_loopback(args.host)
        config = _config(args)
    except ConfigError as exc:
        print(f"arbtree sim: --{exc.key}: {exc.problem}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"arbtree sim: {exc}", file=sys.stderr)
        return 2
    endpoint = args.endpoint_file.absolute() if args.control_port is not None else None
    try:
        with contextlib.suppress(KeyboardInterrupt):
            trio.run(_serve, config, args.duration, args.control_port, endpoint, args.ca_file)
    finally:
        if endpoint is not None:
            for path in (endpoint, endpoint.with_suffix(".token")):
                path.unlink(missing_ok=True)
    return 0


def check_options(args: argparse.Namespace) -> None:
    """Every number option within its range (``ConfigError`` whose key is the option's
    name): the [sim] ones as `arbtree run` checks its configuration, the others here."""
    section = {key: getattr(args, key.removesuffix("_s")) for key in _SECTION_OPTIONS}
    try:
        convert_config(section, SimSection)
    except ConfigError as exc:
        key = _SECTION_OPTIONS.get(exc.key or "", exc.key)
        raise ConfigError("arbtree sim", key, exc.problem) from None
    names = [f.name for f in msgspec.structs.fields(_Options)]
    convert_config(
        {name.replace("_", "-"): getattr(args, name) for name in names},
        _Options,
        source="arbtree sim",
    )


def _config(args: argparse.Namespace) -> SimConfig:
    symbols = tuple(s.strip().upper() for s in args.binance_symbols.split(",") if s.strip())
    return SimConfig(
        seed=args.seed,
        markets=args.markets,
        rate=args.rate,
        window_rate=args.window_rate,
        window_duration=args.window_duration,
        first_window=args.first_window,
        window_size=args.window_size * ONE,
        host=args.host,
        polymarket_port=args.polymarket_port,
        kalshi_port=args.kalshi_port,
        rest_port=args.rest_port,
        ground_truth_path=args.ground_truth,
        kalshi_legacy_cents=args.kalshi_legacy_cents,
        binance_port=args.binance_port,
        binance_symbols=symbols,
        tls=args.tls,
    )


async def _serve(
    config: SimConfig,
    duration: float | None,
    control_port: int | None,
    endpoint: Path | None,
    ca_file: Path,
) -> None:
    async with open_sim_venue(config) as sim, trio.open_nursery() as nursery:
        if sim.ca_pem is not None:
            await trio.Path(ca_file).write_bytes(sim.ca_pem)
            print(f"CA certificate        {ca_file} (trust it: SSL_CERT_FILE, curl --cacert)")
        if control_port is not None and endpoint is not None:
            token = secrets.token_urlsafe(32)
            port = await nursery.start(serve_sim_control, sim, token, control_port)
            token_file = endpoint.with_suffix(".token")
            write_private(token_file, token.encode() + b"\n")
            info = SimEndpointFile(
                host=sim.host,
                polymarket_port=sim.polymarket_port,
                kalshi_port=sim.kalshi_port,
                rest_port=sim.rest_port,
                control_url=f"http://{sim.host}:{port}",
                token_file=str(token_file),
                pid=os.getpid(),
                seed=config.seed,
                markets=tuple(MarketListing.of(m) for m in sim.markets),
            )
            write_endpoint_file(endpoint, info)
            print(f"control api           {info.control_url} (token in {token_file})")
            print(f"endpoint file         {endpoint}")
        print(f"polymarket market ws  {sim.polymarket_ws_url}")
        print(f"polymarket user ws    {sim.polymarket_user_ws_url}")
        print(f"kalshi ws             {sim.kalshi_ws_url}")
        print(f"polymarket rest       {sim.polymarket_rest_url}")
        print(f"kalshi rest           {sim.kalshi_rest_url}")
        if sim.binance is not None:
            print(f"binance ws            {sim.binance_ws_url}")
            print(f"binance streams       {sim.binance_stream_url()}")
        for m in sim.markets:
            print(f"market {m.index}: yes={m.yes_token} no={m.no_token} kalshi={m.ticker}")
        sys.stdout.flush()
        if duration is None:
            await trio.sleep_forever()
        await trio.sleep(duration)
        print(f"{len(sim.windows)} windows injected")
        nursery.cancel_scope.cancel()
