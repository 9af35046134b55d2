"""The ``arbtree`` command: one subcommand per module in ``arbtree.commands``, plus the
commands other installed packages register as plugins.

Each command module exposes ``register(subparsers)``, which adds its parser and sets
``func`` to a callable taking the parsed namespace and returning an exit code.
Modules are imported lazily by name so a broken optional command cannot break the rest.
A plugin is a ``register`` function named in the ``arbtree.commands`` entry-point group
(the benchmarks' ``arbtree bench`` is one: ``bench/cli.py``), so the application does not
depend on the packages that extend it.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import sys
from collections.abc import Sequence

COMMANDS: tuple[str, ...] = ("run", "sim", "decode", "inspect", "chaos")
PLUGIN_GROUP = "arbtree.commands"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arbtree",
        description="Arbitrage trading for binary prediction markets, supervised on Trio.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"arbtree.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"arbtree.commands.{name}":
                raise
            continue
        module.register(subparsers)
    for entry in importlib.metadata.entry_points(group=PLUGIN_GROUP):
        try:
            register = entry.load()
        except ImportError as exc:
            print(f"arbtree: plugin command {entry.name!r} not loaded: {exc}", file=sys.stderr)
            continue
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        # `arbtree` alone runs the main job, like `arbtree run`.
        args = parser.parse_args(["run", *(argv or sys.argv[1:])])
        func = args.func
    code: int = func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
