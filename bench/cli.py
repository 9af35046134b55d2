"""``arbtree bench [AREA]``: with no area, the whole suite as one table
(``bench.suite``); with an area, that area's benchmark script in ``bench/``; ``soak``,
the whole tree against the sim for minutes (``bench.soak``).

A plugin of the ``arbtree`` command: ``pyproject.toml`` registers :func:`register` under
the ``arbtree.commands`` entry-point group, and ``arbtree.cli`` adds every command found
there. So the benchmarks depend on the application (``bench.e2e_bench`` runs
``arbtree.runner``) and the application never imports them; this module imports a
benchmark only when one is asked for.

Benchmarks report absolute figures and a ratio against a floor measured in the same run;
they are never assertions in the test suite.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

AREAS = ("runtime", "protocols", "sim", "storage", "market", "trading", "e2e")
SOAK = "soak"


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "bench",
        help="run the benchmark suite, one area, or the soak (figures with their same-run floor)",
        description="With no AREA: every area in one table, each figure beside its same-run"
        " floor, and the asyncio peer beside the tree. AREA: that area's own benchmark;"
        " soak: the whole tree against the sim for minutes (`arbtree bench soak --help`).",
    )
    parser.add_argument(
        "area", nargs="?", choices=(*AREAS, SOAK), help="one benchmark (default: the suite)"
    )
    parser.add_argument("--quick", action="store_true", help="suite: small runs (under a minute)")
    parser.add_argument("--json", metavar="PATH", help="suite: also write the table as JSON")
    parser.add_argument("--db", metavar="DSN", help="suite: Postgres DSN (else env, else embedded)")
    parser.add_argument(
        "--plain", action="store_true", help="suite: ws:// and http:// (default: wss://, https://)"
    )
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="options for that benchmark")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.area is None:
        from bench import suite

        argv = ["--quick"] if args.quick else []
        argv += ["--json", args.json] if args.json else []
        argv += ["--db", args.db] if args.db else []
        argv += ["--plain"] if args.plain else []
        return suite.run(argv + list(args.rest))
    name = "bench.soak" if args.area == SOAK else f"bench.{args.area}_bench"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        print(f"arbtree bench: no benchmark for {args.area!r} yet ({exc})")
        return 2
    code: int = module.run(list(args.rest))
    return code
