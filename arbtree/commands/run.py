"""``arbtree run``: the whole tree — feeds, market path, trading, storage, control.

With no arguments it trades on paper against the embedded simulated venue and an
embedded PostgreSQL, so a newcomer with only Python sees the real system work.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from actors.storage.errors import StorageError
from actors.trading.http_clients import LIVE_ENV, LiveModeRefused
from arbtree.run_lock import RunDirLocked
from protocols.config.load import ConfigError


class LiveRefused(RuntimeError):
    """Live trading was asked for without both independent switches."""


def check_live_switches(live_flag: bool, environ: dict[str, str] | None = None) -> bool:
    """Return True for live trading; refuse unless both ``--live`` and ARBTREE_LIVE=yes."""
    env = os.environ if environ is None else environ
    env_yes = env.get(LIVE_ENV, "").strip().lower() == "yes"
    if live_flag and env_yes:
        return True
    if live_flag:
        raise LiveRefused(
            f"live trading needs two switches: --live was given but {LIVE_ENV}=yes is not set "
            "in the environment; refusing to start"
        )
    if env_yes:
        raise LiveRefused(
            f"{LIVE_ENV}=yes is set but --live was not given; refusing to start "
            "(unset it for paper trading, or pass --live to trade for real)"
        )
    return False


def check_summary_path(path: Path) -> None:
    """Refuse a ``--summary`` path that cannot be written before the run starts, not
    after it has run: its folder is made now (as it would be at the end) and must be a
    writable directory."""
    if path.is_dir():
        raise ValueError(f"--summary: {path} is a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--summary: cannot write {path} ({exc.strerror})") from None
    writable = path if path.exists() else path.parent
    if not os.access(writable, os.W_OK):
        raise ValueError(f"--summary: cannot write {path} (permission denied)")


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "run",
        help="run the trading system (paper, against the embedded simulated venue, by default)",
        description=__doc__,
    )
    parser.add_argument(
        "--config", type=Path, help="TOML configuration (default: built-in paper setup)"
    )
    parser.add_argument(
        "--duration", type=float, help="stop after this many seconds (default: run until Ctrl-C)"
    )
    parser.add_argument("--seed", type=int, help="seed for the simulated venue and all jitter")
    parser.add_argument(
        "--live", action="store_true", help=f"trade for real (also needs {LIVE_ENV}=yes)"
    )
    parser.add_argument(
        "--db", metavar="DSN", help="PostgreSQL DSN (default: $ARBTREE_DB_DSN, else embedded)"
    )
    parser.add_argument(
        "--run-dir",
        type=Path,
        help="where journal, embedded DB, control.json live (default: ./run)",
    )
    parser.add_argument(
        "--control-port", type=int, help="control endpoint port on 127.0.0.1 (0 = pick a free one)"
    )
    parser.add_argument(
        "--summary", type=Path, metavar="PATH", help="also write the run summary as JSON here"
    )
    parser.add_argument(
        "--no-panel", action="store_true", help="log status lines even on a terminal"
    )
    parser.add_argument(
        "--sim-process",
        action="store_true",
        help="run the simulated venue in a child process, not in the trading system's loop "
        "(like [sim] process = true; for latency measurements, no fault injection)",
    )
    parser.add_argument(
        "--sim-endpoint",
        type=Path,
        metavar="SIM_JSON",
        help="trade against a running `arbtree sim --control-port` that wrote this file "
        '(like [run] venue = "sim-external"); the venue then outlives this process',
    )
    parser.add_argument(
        "--sim-tls",
        action="store_true",
        help="the simulated venue serves wss:// and https:// with a CA made for the run, "
        "which the run trusts (like [sim] tls = true)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from arbtree.runner import RunOptions, StartupInterrupted, run_blocking

    try:
        live = check_live_switches(args.live)
        if args.summary is not None:
            check_summary_path(args.summary)
    except (LiveRefused, ValueError) as exc:
        print(f"arbtree run: {exc}", file=sys.stderr)
        return 2
    options = RunOptions(
        config_path=args.config,
        duration_s=args.duration,
        seed=args.seed,
        live=live,
        db_dsn=args.db or os.environ.get("ARBTREE_DB_DSN") or None,
        run_dir=args.run_dir,
        control_port=args.control_port,
        summary_path=args.summary,
        panel=not args.no_panel and sys.stdout.isatty(),
        sim_process=args.sim_process,
        sim_endpoint=args.sim_endpoint,
        sim_tls=args.sim_tls,
    )
    try:
        return run_blocking(options)
    except ConfigError as exc:
        print(f"arbtree run: configuration error: {exc}", file=sys.stderr)
        return 2
    except LiveModeRefused as exc:  # a live venue's keys are missing or unusable
        print(f"arbtree run: {exc}", file=sys.stderr)
        return 2
    except StartupInterrupted as exc:
        print(f"arbtree run: {exc}", file=sys.stderr)
        return 128 + exc.signum
    except RunDirLocked as exc:
        print(f"arbtree run: {exc}", file=sys.stderr)
        return 2
    except StorageError as exc:  # unreachable --db, embedded server not starting
        print(f"arbtree run: database: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
