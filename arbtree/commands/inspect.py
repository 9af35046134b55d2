"""``arbtree inspect``: show a running arbtree's supervision tree, live or once.

Finds the instance through ``<run-dir>/control.json`` (default ``./run``) or ``--url`` and
``--token-file``. ``--once`` prints one plain-text rendering, ``--json`` the snapshot JSON;
neither needs a terminal. ``--restart PATH``, ``--halt``, ``--resume``, ``--flatten`` and
``--adopt-venue`` perform one action without the interactive view. Exit codes: 0 ok,
1 error, 2 no instance running, 3 token refused or unreadable.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "inspect",
        help="show the live supervision tree of a running arbtree",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = parser.add_argument_group("which instance")
    where.add_argument(
        "--run-dir",
        type=Path,
        default=Path("run"),
        help="run directory holding control.json (default: ./run)",
    )
    where.add_argument("--url", help="control endpoint URL, instead of reading control.json")
    where.add_argument("--token-file", type=Path, help="file holding the control token")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="print one plain-text rendering")
    mode.add_argument("--json", action="store_true", help="print the tree snapshot as JSON")
    mode.add_argument("--restart", metavar="PATH", help="restart the node at PATH and exit")
    mode.add_argument("--halt", action="store_true", help="halt trading and exit")
    mode.add_argument("--resume", action="store_true", help="resume trading and exit")
    mode.add_argument(
        "--flatten", action="store_true", help="unwind every naked leg now, at any price, and exit"
    )
    mode.add_argument(
        "--adopt-venue",
        action="store_true",
        help="take the venues' cash and positions as the books (recorded) and exit",
    )
    parser.add_argument(
        "--interval", type=float, default=1.0, help="refresh period in seconds (default 1)"
    )
    parser.add_argument("--width", type=int, default=160, help="text width for --once")
    parser.add_argument("--reason", default="", help="reason recorded with an action")
    parser.set_defaults(func=run)


# What the control endpoint's /tree/stream can accept at all (its floor is configured,
# and never below this); a value outside is refused here, before the screen opens.
_INTERVAL_RANGE = (0.1, 3600.0)


def run(args: argparse.Namespace) -> int:
    from arbtree.inspector.client import ControlClient, InspectorError, locate
    from arbtree.inspector.render import render_text

    low, high = _INTERVAL_RANGE
    if not (math.isfinite(args.interval) and low <= args.interval <= high):
        print(
            f"arbtree inspect: --interval must be from {low:g} to {high:g} seconds "
            f"(got {args.interval!r})",
            file=sys.stderr,
        )
        return 1
    try:
        endpoint = locate(args.run_dir, args.url, args.token_file)
        action = _action(args)
        if args.once or args.json or action:
            with ControlClient(endpoint) as client:
                if args.json:
                    sys.stdout.write(client.tree_json().decode() + "\n")
                elif args.once:
                    snap = client.tree()
                    sys.stdout.write(render_text(snap, width=args.width, source=endpoint.url))
                else:
                    kind = action
                    body = {"path": args.restart} if args.restart else {}
                    if args.reason:
                        body["reason"] = args.reason
                    result = client.action(kind, body)
                    print(f"{kind}: ok {result.get('result', '')}".rstrip())
            return 0
        if not sys.stdin.isatty() or not sys.stdout.isatty():
            print(
                "arbtree inspect: the live view needs a terminal; use --once or --json",
                file=sys.stderr,
            )
            return 1
        import trio

        from arbtree.inspector.app import run_live

        return trio.run(lambda: run_live(endpoint, interval=args.interval))
    except InspectorError as exc:
        print(f"arbtree inspect: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


def _action(args: argparse.Namespace) -> str:
    """The one-shot action asked for ("" for none)."""
    for name, flag in (
        ("restart", args.restart),
        ("halt", args.halt),
        ("resume", args.resume),
        ("flatten", args.flatten),
        ("adopt-venue", args.adopt_venue),
    ):
        if flag:
            return name
    return ""
