"""The report: a table per scenario, the failures with their evidence and replay command,
and the JSON form of everything (``--json``)."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

import attrs

from arbtree.chaos.harness import RunResult


def replay_command(result: RunResult) -> str:
    parts = ["arbtree", "chaos", "--scenario", result.scenario, "--seed", str(result.seed)]
    if result.schedule.faults or result.scenario != "config":
        parts += ["--duration", f"{result.duration_s:g}", "--schedule", result.schedule.to_json()]
    return " ".join(shlex.quote(p) for p in parts)


def table(results: Sequence[RunResult]) -> str:
    """One row per scenario: seeds, faults injected, recoveries, invariants, pass/fail."""
    rows = [
        (
            "scenario",
            "seeds",
            "faults",
            "injected",
            "recovery s (max)",
            "checks",
            "result",
            "wall s",
        )
    ]
    by: dict[str, list[RunResult]] = {}
    for r in results:
        by.setdefault(r.scenario, []).append(r)
    for name, runs in by.items():
        faults = sum(len(r.faults) for r in runs)
        injected = sum(1 for r in runs for f in r.faults if f.injected)
        recoveries = [f.recovered_s for r in runs for f in r.faults if f.recovered_s is not None]
        failed = sorted({v.invariant for r in runs for v in r.violations})
        rows.append(
            (
                name,
                str(len(runs)),
                str(faults),
                str(injected),
                f"{max(recoveries):.1f}" if recoveries else "-",
                str(len(runs[0].checked)),
                "pass" if not failed else "FAIL: " + ", ".join(failed),
                f"{sum(r.wall_s for r in runs):.0f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows
    )


def failure_text(result: RunResult) -> str:
    lines = [
        f"FAILED {result.scenario} seed {result.seed}",
        f"  schedule: {result.schedule.describe()}",
    ]
    for v in result.violations:
        lines.append(f"  invariant {v.invariant}: {v.message}")
        if v.evidence:
            lines.append(f"    evidence: {v.evidence}")
    lines.append(f"  run directory: {result.run_dir}")
    lines.append(f"  replay: {replay_command(result)}")
    return "\n".join(lines)


def to_json(results: Sequence[RunResult], shrunk: dict[int, RunResult]) -> dict[str, Any]:
    def one(r: RunResult) -> dict[str, Any]:
        return {
            "scenario": r.scenario,
            "seed": r.seed,
            "duration_s": r.duration_s,
            "passed": r.passed,
            "wall_s": round(r.wall_s, 2),
            "schedule": [_fault(f) for f in r.schedule.faults],
            "faults": [attrs.asdict(f) for f in r.faults],
            "checked": list(r.checked),
            "violations": [attrs.asdict(v) for v in r.violations],
            "run_dir": r.run_dir,
            "replay": replay_command(r),
        }

    return {
        "runs": [one(r) for r in results],
        "shrunk": {str(i): one(r) for i, r in shrunk.items()},
        "passed": all(r.passed for r in results),
    }


def _fault(f: Any) -> dict[str, Any]:
    return {"at_s": f.at_s, "nemesis": f.nemesis, "duration_s": f.duration_s, "params": f.params}
