"""The whole tree (``run_app``) against the sim in its own process, observed while it
runs: what the suite's tick-to-order rows, the peer comparison and the soak measure.

Tick-to-order comes from the timestamps the tree carries (``bench.tree_stamps``: the
trigger frame's socket read, detected, decided, each leg handed to the socket), per
execution to its first leg; the configuration is ``arbtree bench e2e``'s
(``bench_config``, over TLS unless asked otherwise), so these rows and that benchmark
measure the same thing. CPU per update is this process's CPU time (the sim's
child process excluded, as a venue is another machine) over the feed updates received,
between a sample after the warm-up and the last sample before the run's end. Window
capture is scored on the windows that opened between those two samples.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable

import attrs
import msgspec
import trio

from actors.sim import WindowRecord
from actors.trading.ladder import Hold
from arbtree.config import AppConfig
from arbtree.detection import Detection
from arbtree.runner import Assembly, RunOptions, run_app
from arbtree.summary import (
    RunSummary,
    WindowScore,
    score_windows,
    windows_from_sim,
)
from bench.percentiles import Percentiles, of_ns
from bench.tree_stamps import LegSent, captured_legs, executions

SAMPLE_S = 0.25  # CPU / updates sampling while the run lasts


class Sample(msgspec.Struct, frozen=True):
    """One look at the running tree: monotonic s, process CPU s, feed updates so far."""

    at: float
    cpu_s: float
    updates: int


@attrs.define
class TreeRecorder:
    """What a run collects while it lasts; an observer may read it (the soak slices
    ``legs`` per interval)."""

    legs: list[LegSent] = attrs.field(factory=list)
    samples: list[Sample] = attrs.field(factory=list)
    assembly: Assembly | None = None
    measured_from_ms: int = 0  # wall ms at the end of the warm-up
    measured_to_ms: int = 0  # wall ms at the last sample

    def sample(self, asm: Assembly) -> Sample:
        updates = sum(s.updates for s in asm.market.feed_stats.values())
        s = Sample(time.monotonic(), time.process_time(), updates)
        self.samples.append(s)
        return s


class RunFigures(msgspec.Struct, frozen=True):
    """The figures of one bot's run against the sim (the tree's, or the peer's)."""

    tick_to_opportunity: Percentiles  # trigger frame read -> opportunity detected
    tick_to_order: Percentiles  # trigger frame read -> an execution's first leg written
    orders: int
    capture_ratio: float | None  # windows detected while open / windows injected
    windows: int
    cpu_per_1k_updates_ms: float  # this process's CPU ms per 1 000 feed updates
    updates_per_s: float  # feed updates received per second (achieved)


Observer = Callable[[Assembly, TreeRecorder], Awaitable[None]]


async def wait_ready(asm: Assembly) -> None:
    """Until every feed is connected and start-up reconciliation has released trading:
    the warm-up counts from here, as the peer's from its connection."""
    while not (  # noqa: ASYNC110 (polled statistics: no event to wait on)
        all(stats.connected for stats in asm.market.feed_stats.values())
        and Hold.RECONCILIATION not in asm.trading.control.ladder.holds
    ):
        await trio.sleep(0.05)


def capture(
    windows: Iterable[WindowRecord], detections: Iterable[Detection], from_ms: int, to_ms: int
) -> WindowScore:
    """The run's scoring (``arbtree.summary``) over the windows that opened within the
    measured span: a bot still connecting has no chance at earlier ones, and one shutting
    down none at later ones."""
    spans = [w for w in windows_from_sim(windows) if from_ms <= w.start_ms <= to_ms]
    return score_windows(spans, detections, realized_pnl=0)


def tick_to_opportunity(legs: list[LegSent]) -> Percentiles:
    """One sample per execution (its two legs share the detection)."""
    return of_ns(e.detect_ns - e.read_ns for e in executions(legs))


def tick_to_order(legs: list[LegSent]) -> Percentiles:
    """One sample per execution: to its first leg written (``bench e2e``'s figure)."""
    return of_ns(e.first_ns - e.read_ns for e in executions(legs))


async def run_tree(
    config: AppConfig, *, warmup_s: float = 1.0, observe: Observer | None = None
) -> tuple[RunFigures, RunSummary]:
    """Run the tree for ``config.run.duration_s``; figures from ``warmup_s`` after it is
    ready (feeds connected, trading reconciled)."""
    rec = TreeRecorder()

    async def watch(asm: Assembly) -> None:
        rec.assembly = asm
        async with trio.open_nursery() as nursery:
            if observe is not None:
                nursery.start_soon(observe, asm, rec)
            await wait_ready(asm)
            await trio.sleep(warmup_s)
            rec.samples.clear()
            rec.legs.clear()
            rec.measured_from_ms = time.time_ns() // 1_000_000
            while True:
                rec.sample(asm)
                rec.measured_to_ms = time.time_ns() // 1_000_000
                await trio.sleep(SAMPLE_S)

    with captured_legs(rec.legs):
        summary = await run_app(config, RunOptions(), "bench", observe=watch)
    first, last = rec.samples[0], rec.samples[-1]
    updates = max(1, last.updates - first.updates)
    asm = rec.assembly
    sim = asm.sim_handle if asm is not None else None
    windows = capture(
        sim.windows if sim is not None else [],
        asm.detections if asm is not None else [],
        rec.measured_from_ms,
        rec.measured_to_ms,
    )
    legs = list(rec.legs)
    run = RunFigures(
        tick_to_opportunity=tick_to_opportunity(legs),
        tick_to_order=tick_to_order(legs),
        orders=len(legs),
        capture_ratio=windows.capture_ratio,
        windows=windows.injected,
        cpu_per_1k_updates_ms=(last.cpu_s - first.cpu_s) / updates * 1e6,
        updates_per_s=updates / max(1e-9, last.at - first.at),
    )
    return run, summary
