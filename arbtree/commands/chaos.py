"""``arbtree chaos``: seeded fault schedules against the whole system, invariants checked
over what it recorded (docs/chaos.md)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import trio


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "chaos",
        help="run fault scenarios against the whole system and check its invariants",
        description=__doc__,
    )
    p.add_argument("--list", action="store_true", help="list scenarios and nemeses, then exit")
    p.add_argument("--scenario", default="all", help="a scenario name, or all (default)")
    p.add_argument("--seed", type=int, default=1, help="first seed (default 1)")
    p.add_argument("--seeds", type=int, default=1, help="run this many seeds from --seed")
    p.add_argument("--duration", type=float, default=30.0, help="seconds of faults per run")
    p.add_argument("--json", type=Path, metavar="PATH", help="write the JSON report here")
    p.add_argument("--db", metavar="DSN", help="a PostgreSQL server (default: embedded)")
    p.add_argument("--workdir", type=Path, help="run directories (default: a new temp dir)")
    p.add_argument(
        "--schedule", metavar="JSON", help="replay exactly this schedule (from a failure report)"
    )
    p.add_argument("--no-shrink", action="store_true", help="report failures unshrunk")
    p.set_defaults(func=run)


def _list() -> int:
    from arbtree.chaos.nemeses import NEMESES
    from arbtree.chaos.scenarios import ALL, SCENARIOS

    print("scenarios (all = " + ", ".join(ALL) + "):")
    for s in SCENARIOS.values():
        if not s.name.startswith("only-"):
            print(f"  {s.name:<10} {s.description}")
    print("  only-NAME  one nemesis alone")
    print(f"nemeses ({len(NEMESES)}):")
    for n in NEMESES.values():
        print(f"  {n.name:<22} {n.category:<8} {n.description}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.list:
        return _list()
    from arbtree.chaos.scenarios import resolve
    from arbtree.chaos.schedule import Schedule

    try:
        scenarios = resolve(args.scenario)
        schedule = Schedule.from_json(args.schedule) if args.schedule else None
        if args.seeds < 1 or not 0 < args.duration <= 3600:
            raise ValueError("--seeds must be >= 1 and --duration in (0, 3600]")
    except (KeyError, ValueError) as exc:
        print(f"arbtree chaos: {exc}", file=sys.stderr)
        return 2
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="arbtree-chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    return trio.run(_main, args, scenarios, schedule, workdir.absolute())


async def _main(
    args: argparse.Namespace, scenarios: list[Any], schedule: Any, workdir: Path
) -> int:
    from arbtree.chaos.database import Postgres, start_embedded
    from arbtree.chaos.harness import RunResult, run_scenario, run_system_scenario, shrink
    from arbtree.chaos.report import failure_text, replay_command, table, to_json

    if args.db:
        postgres = Postgres(uri=args.db)
    else:
        postgres = await trio.to_thread.run_sync(start_embedded, workdir)
    started = time.monotonic()
    total = len(scenarios) * args.seeds
    results: list[RunResult] = []
    shrunk: dict[int, Any] = {}
    current = [0]  # the run in progress, 1-based

    def progress(line: str) -> None:
        elapsed = time.monotonic() - started
        print(f"[{current[0]}/{total} {elapsed:5.0f}s] {line}", file=sys.stderr, flush=True)

    for scenario in scenarios:
        for seed in range(args.seed, args.seed + args.seeds):
            current[0] += 1
            progress(f"{scenario.name} seed {seed}: starting")
            result = await run_scenario(
                scenario, seed, args.duration, postgres, workdir, schedule, progress
            )
            results.append(result)
            verdict = "pass" if result.passed else "FAIL"
            progress(f"{scenario.name} seed {seed}: {verdict} ({result.wall_s:.0f}s)")
            if not result.passed and scenario.kind == "system" and not args.no_shrink:
                rerun = partial(
                    run_system_scenario,
                    scenario,
                    seed,
                    args.duration,
                    postgres,
                    workdir,
                    progress=progress,
                )
                shrunk[len(results) - 1] = await shrink(result, rerun, progress)
    print(table(results))
    for i, result in enumerate(results):
        if not result.passed:
            print()
            print(failure_text(shrunk.get(i, result)))
    failed = [r for r in results if not r.passed]
    print(
        f"\n{len(results) - len(failed)}/{len(results)} runs passed in "
        f"{time.monotonic() - started:.0f}s; work directory {workdir}"
    )
    if failed:
        print(
            "replay the first failure: "
            + replay_command(shrunk.get(results.index(failed[0]), failed[0]))
        )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(to_json(results, shrunk), indent=2, default=str) + "\n")
    return 1 if failed else 0
