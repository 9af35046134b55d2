"""``arbtree bench`` is a plugin of the ``arbtree`` command: the application finds it
through its entry point and never imports a benchmark on its own."""

from __future__ import annotations

import subprocess
import sys

from arbtree.cli import PLUGIN_GROUP, build_parser


def test_bench_is_found_through_the_entry_point() -> None:
    args = build_parser().parse_args(["bench", "runtime", "--quick"])
    assert (args.command, args.area, args.rest) == ("bench", "runtime", ["--quick"])
    assert args.func.__module__ == "bench.cli"
    assert PLUGIN_GROUP == "arbtree.commands"


def test_the_application_imports_no_benchmark() -> None:
    """Importing the runner and building the command line loads the plugin's small
    command module only, never a benchmark (which would import the runner back)."""
    code = (
        "import sys, arbtree.runner, arbtree.cli\n"
        "before = sorted(m for m in sys.modules if m.split('.')[0] == 'bench')\n"
        "arbtree.cli.build_parser()\n"
        "after = sorted(m for m in sys.modules if m.split('.')[0] == 'bench')\n"
        "print(before, after)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == "[] ['bench', 'bench.cli']"
