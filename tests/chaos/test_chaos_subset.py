"""A fixed-seed subset of ``arbtree chaos``: the whole system (sim and bot in their own
processes, real PostgreSQL, every connection through the fault proxy), faults injected on
the seed's schedule, invariants checked over what it recorded.

Only scenarios that hold on this code run here; docs/chaos.md lists the others and what
they find. Each run also has to show it was not vacuous: the bot traded, and every
scheduled fault was really injected.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from arbtree.chaos.database import Postgres, start_embedded
from arbtree.chaos.harness import RunResult, run_scenario
from arbtree.chaos.report import failure_text
from arbtree.chaos.scenarios import SCENARIOS

pytestmark = pytest.mark.slow

DURATION_S = 12.0
SUBSET = [("steady", 1), ("venue", 1), ("network", 1), ("storage", 1)]


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    # Not pytest's tmp_path: as root, the embedded PostgreSQL runs as its own user and
    # needs every parent directory traversable (pytest's temp root is 0700).
    path = Path(tempfile.mkdtemp(prefix="arbtree-chaos-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres(workdir: Path) -> Iterator[Postgres]:
    """The harness's own embedded server, as `arbtree chaos` uses by default (db_pause
    sends SIGSTOP only to a server the harness owns); stopped after the module."""
    server = start_embedded(workdir)
    yield server
    server.server.cleanup()


@pytest.mark.parametrize(("scenario", "seed"), SUBSET)
async def test_scenario_holds_its_invariants(
    scenario: str, seed: int, postgres: Postgres, workdir: Path
) -> None:
    result: RunResult = await run_scenario(SCENARIOS[scenario], seed, DURATION_S, postgres, workdir)
    assert result.passed, failure_text(result)
    assert all(f.injected for f in result.faults), [f.note for f in result.faults]
    assert len(result.faults) == len(result.schedule.faults)
    history = _history(Path(result.run_dir))
    assert history["db_orders"], "the bot never traded: the invariants checked nothing"
    assert history["venue_orders"]
    assert all(o["sent_at"] for o in history["db_orders"])  # the HALTED check had times
    assert history["rss_kb"]
    assert history["mailbox_peaks"]
    assert history["exit_codes"][-1] == 0


@pytest.mark.parametrize("seed", [1, 2])
async def test_bad_configuration_is_refused_before_anything_starts(
    seed: int, postgres: Postgres, workdir: Path
) -> None:
    """The config scenario: numeric keys at negative, huge, nan, inf (drawn by the seed)
    each make `arbtree run` exit 2 with one line, nothing started."""
    result: RunResult = await run_scenario(SCENARIOS["config"], seed, DURATION_S, postgres, workdir)
    assert result.passed, failure_text(result)
    assert result.faults, "no configuration case was drawn"
    assert all(f.injected for f in result.faults)


def _history(run_dir: Path) -> dict[str, Any]:
    history: dict[str, Any] = msgspec.json.decode((run_dir / "history.json").read_bytes())
    return history
