"""Running one scenario with one seed: start the system, play the schedule, heal, drain,
stop, record the history and check it; and shrinking a schedule that fails.
"""

from __future__ import annotations

import itertools
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import attrs
import httpx
import trio

from arbtree.chaos.checkers import CHECKERS, Violation, check_all
from arbtree.chaos.config_faults import draw_cases, run_case
from arbtree.chaos.database import Postgres
from arbtree.chaos.nemeses import NEMESES, NemesisFailed
from arbtree.chaos.record import record_history, save_history
from arbtree.chaos.scenarios import Scenario
from arbtree.chaos.schedule import Fault, Schedule, draw_schedule, shrink_candidates
from arbtree.chaos.system import DEFAULT_CONFIG, RunSystem, open_system

log = logging.getLogger("arbtree.chaos")

DRAIN_S = 6.0  # after the last heal: executions finish or unwind, fills arrive
SIM_ARGS = ["--markets", "3", "--window-rate", "0.5", "--window-duration", "3"]
MAX_SHRINK_RUNS = 6
_runs = itertools.count(1)


@attrs.frozen
class FaultOutcome:
    nemesis: str
    at_s: float
    duration_s: float
    injected: bool
    note: str
    recovered_s: float | None  # from heal to the bot ready again; None: not measured


@attrs.frozen
class RunResult:
    scenario: str
    seed: int
    duration_s: float
    schedule: Schedule
    faults: tuple[FaultOutcome, ...]
    violations: tuple[Violation, ...]
    checked: tuple[str, ...]
    wall_s: float
    run_dir: str

    @property
    def passed(self) -> bool:
        return not self.violations


Progress = Callable[[str], None]


async def _ready_after(system: RunSystem, timeout_s: float = 15.0) -> float | None:
    """Seconds until the bot answers ready again (None: not within ``timeout_s``)."""
    start = trio.current_time()
    with trio.move_on_after(timeout_s):
        while True:
            url = system.control_url()
            if url and system.bot is not None and system.bot.returncode is None:
                try:
                    r = await system.http.get(f"{url}/health/ready")
                    if r.status_code == 200:
                        return trio.current_time() - start
                except httpx.HTTPError:
                    pass
            await trio.sleep(0.2)
    return None


async def _play(system: RunSystem, fault: Fault) -> FaultOutcome:
    nemesis = NEMESES[fault.nemesis]
    injected = True
    try:
        note = await nemesis.start(system, fault.params)
    except (NemesisFailed, httpx.HTTPError, OSError) as exc:
        injected, note = False, f"not injected: {exc}"
    await trio.sleep(fault.duration_s)
    try:
        await nemesis.stop(system, fault.params)
    except (httpx.HTTPError, OSError) as exc:
        note += f"; heal failed: {exc}"
    # A process fault already waited for the new bot to be ready (and says so in its note).
    measure = injected and nemesis.category != "process"
    recovered = await _ready_after(system) if measure else None
    return FaultOutcome(fault.nemesis, fault.at_s, fault.duration_s, injected, note, recovered)


async def _heal_everything(system: RunSystem) -> None:
    system.heal_network()
    system.postgres.signal_all(signal.SIGCONT)
    if system.postgres.server is not None:
        await trio.to_thread.run_sync(system.postgres.start_server)  # no-op when running
    try:
        await system.sim_action("/faults/clear", {})
    except httpx.HTTPError as exc:
        log.warning("could not clear the sim's faults: %s", exc)


async def run_system_scenario(
    scenario: Scenario,
    seed: int,
    duration_s: float,
    postgres: Postgres,
    workdir: Path,
    schedule: Schedule | None = None,
    progress: Progress = lambda line: None,
) -> RunResult:
    started = time.monotonic()
    if schedule is None:
        schedule = draw_schedule(scenario.nemeses, seed, max(duration_s - 2.0, 0.0))
    run_dir = workdir / f"{scenario.name}-s{seed}-{next(_runs)}"
    outcomes: list[FaultOutcome] = []
    violations: list[Violation] = []
    async with (
        open_system(run_dir, postgres, seed=seed, sim_args=SIM_ARGS, bot_extra=[]) as system,
        trio.open_nursery() as nursery,
    ):
        await system.start_bot()
        if not await system.wait_bot_ready():
            violations.append(
                Violation("bot_ready", "the bot never became ready", {"log": str(system.bot_log())})
            )
        sampler = trio.CancelScope()

        async def sample() -> None:
            with sampler:
                await system.sample_forever()

        nursery.start_soon(sample)
        t0 = trio.current_time()
        for fault in schedule.faults:
            await trio.sleep_until(t0 + fault.at_s)
            progress(f"{scenario.name} seed {seed}: {fault.nemesis} at {fault.at_s:.1f}s")
            outcomes.append(await _play(system, fault))
        await trio.sleep_until(t0 + duration_s)
        await _heal_everything(system)
        progress(f"{scenario.name} seed {seed}: healed, draining {DRAIN_S:g}s")
        await _ready_after(system)
        await trio.sleep(DRAIN_S)
        if system.bot is not None and system.bot.returncode is None:
            await system.stop_bot()
        elif system.bot is not None and system.bot.returncode is not None:
            system.exit_codes.append(system.bot.returncode)
        sampler.cancel()
        storm = any(f.nemesis == "restart_storm" for f in schedule.faults)
        history = await record_history(system, escalation_expected=storm)
        save_history(run_dir / "history.json", history)
        violations.extend(check_all(history))
    return RunResult(
        scenario=scenario.name,
        seed=seed,
        duration_s=duration_s,
        schedule=schedule,
        faults=tuple(outcomes),
        violations=tuple(violations),
        checked=tuple(CHECKERS),
        wall_s=time.monotonic() - started,
        run_dir=str(run_dir),
    )


async def run_config_scenario(
    scenario: Scenario, seed: int, workdir: Path, progress: Progress = lambda line: None
) -> RunResult:
    started = time.monotonic()
    run_dir = workdir / f"{scenario.name}-s{seed}-{next(_runs)}"
    cases = draw_cases(seed, DEFAULT_CONFIG.read_text())
    violations: list[Violation] = []
    for case in cases:
        progress(f"config seed {seed}: {case.label}")
        violations.extend(await trio.to_thread.run_sync(run_case, case, run_dir))
    return RunResult(
        scenario=scenario.name,
        seed=seed,
        duration_s=0.0,
        schedule=Schedule(faults=()),
        faults=tuple(FaultOutcome("config_invalid", 0.0, 0.0, True, c.label, None) for c in cases),
        violations=tuple(violations),
        checked=("config_refused",),
        wall_s=time.monotonic() - started,
        run_dir=str(run_dir),
    )


async def run_scenario(
    scenario: Scenario,
    seed: int,
    duration_s: float,
    postgres: Postgres,
    workdir: Path,
    schedule: Schedule | None = None,
    progress: Progress = lambda line: None,
) -> RunResult:
    if scenario.kind == "config":
        return await run_config_scenario(scenario, seed, workdir, progress)
    started = time.monotonic()
    try:
        return await run_system_scenario(
            scenario, seed, duration_s, postgres, workdir, schedule, progress
        )
    except Exception as exc:  # one run blowing up must not end the suite
        # The run could not be carried out (a process did not start, the database or the
        # sim stopped answering the recorder): a failure of the run, reported like one.
        log.exception("%s seed %d could not complete", scenario.name, seed)
        return RunResult(
            scenario=scenario.name,
            seed=seed,
            duration_s=duration_s,
            schedule=schedule or Schedule(faults=()),
            faults=(),
            violations=(Violation("system_ran", f"the run could not complete: {exc!r}"),),
            checked=(),
            wall_s=time.monotonic() - started,
            run_dir=str(workdir),
        )


Rerun = Callable[[Schedule], Awaitable[RunResult]]


async def shrink(
    first: RunResult,
    rerun: Rerun,
    progress: Progress = lambda line: None,
    max_runs: int = MAX_SHRINK_RUNS,
) -> RunResult:
    """The smallest schedule found (within ``max_runs`` reruns) that still violates one of
    the invariants the first run violated: greedy, each fault dropped, then each halved."""
    wanted = {v.invariant for v in first.violations}
    best = first
    runs = 0
    improved = True
    while improved and runs < max_runs:
        improved = False
        for candidate in shrink_candidates(best.schedule):
            if runs >= max_runs:
                break
            runs += 1
            progress(f"shrinking {first.scenario} seed {first.seed}: {candidate.describe()}")
            result = await rerun(candidate)
            if wanted & {v.invariant for v in result.violations}:
                best = result
                improved = True
                break
    return best
