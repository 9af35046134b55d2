"""``arbtree bench AREA``: run one of the benchmark scripts in ``bench/``.

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


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "bench", help="run a benchmark (figures with their same-run floor)"
    )
    parser.add_argument("area", choices=AREAS, help="which benchmark to run")
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="options for that benchmark")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        module = importlib.import_module(f"bench.{args.area}_bench")
    except ModuleNotFoundError as exc:
        print(f"arbtree bench: no benchmark for {args.area!r} yet ({exc})")
        return 2
    code: int = module.run(list(args.rest))
    return code
