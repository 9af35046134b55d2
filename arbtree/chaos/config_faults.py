"""The ``config`` scenario: numeric keys set to values no run can use must stop
``arbtree run`` before anything starts, with exit code 2 and one line naming the key.

Cases come from the numeric keys of ``config/default.toml`` (a seed picks which keys get
which bad value); each runs ``arbtree run --config <file>`` as a user would, against an
unreachable database so that a configuration wrongly accepted fails fast instead of
trading.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import attrs

from arbtree.chaos.checkers import Violation
from arbtree.chaos.system import DEFAULT_CONFIG, child_env

BAD_VALUES = ("-1", "nan", "inf", "1e300")
SKIP_KEYS = frozenset({"seed"})  # any integer is a seed
CASES_PER_SEED = 6
CASE_TIMEOUT_S = 30.0
_NUMERIC = re.compile(r'^(\s*)(\w+)(\s*=\s*)("?)(-?\d[\d.]*)("?)(.*)$')


@attrs.frozen
class ConfigCase:
    section: str
    key: str
    value: str
    line: int  # 0-based line in default.toml

    @property
    def label(self) -> str:
        return f"{self.section}.{self.key} = {self.value}"


def numeric_keys(text: str) -> list[tuple[str, str, int]]:
    """(section, key, line) of every numeric key in a TOML text."""
    section = ""
    out = []
    for i, line in enumerate(text.splitlines()):
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped.strip("[]")
            continue
        m = _NUMERIC.match(line)
        if m and m.group(2) not in SKIP_KEYS:
            out.append((section, m.group(2), i))
    return out


def draw_cases(seed: int, text: str) -> list[ConfigCase]:
    rng = random.Random(seed)
    keys = numeric_keys(text)
    picked = rng.sample(keys, min(CASES_PER_SEED, len(keys)))
    return [ConfigCase(s, k, rng.choice(BAD_VALUES), line) for s, k, line in picked]


def with_value(text: str, case: ConfigCase) -> str:
    lines = text.splitlines()
    m = _NUMERIC.match(lines[case.line])
    assert m is not None
    quote = m.group(4)
    lines[case.line] = f"{m.group(1)}{m.group(2)}{m.group(3)}{quote}{case.value}{quote}"
    return "\n".join(lines) + "\n"


def run_case(case: ConfigCase, workdir: Path) -> list[Violation]:
    """Run ``arbtree run`` with the bad value; the violations of the config invariant."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / f"{case.section}.{case.key}.toml"
    config.write_text(with_value(DEFAULT_CONFIG.read_text(), case))
    run_dir = workdir / f"run-{case.section}.{case.key}"
    args = [sys.executable, "-m", "arbtree", "run", "--config", str(config), "--no-panel"]
    args += ["--run-dir", str(run_dir), "--duration", "1", "--db", "postgresql://127.0.0.1:9/x"]
    try:
        done = subprocess.run(
            args, capture_output=True, text=True, timeout=CASE_TIMEOUT_S, env=child_env()
        )
    except subprocess.TimeoutExpired:
        return [
            Violation(
                "config_refused",
                f"{case.label}: still running after {CASE_TIMEOUT_S:g} s",
                {"case": case.label},
            )
        ]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    started = (run_dir / "journal").exists() or (run_dir / "control.json").exists()
    problems = []
    if done.returncode != 2:
        problems.append(f"exit {done.returncode}, expected 2")
    if len(lines) != 1:
        problems.append(f"{len(lines)} lines on stderr, expected 1")
    elif case.key not in lines[0]:
        problems.append("the line does not name the key")
    if started:
        problems.append("the run started (journal or control endpoint created)")
    if not problems:
        return []
    return [
        Violation(
            "config_refused",
            f"{case.label}: {'; '.join(problems)}",
            {"case": case.label, "exit": done.returncode, "stderr": lines[-3:]},
        )
    ]
