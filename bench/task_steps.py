"""A Trio instrument timing every task step: which tasks hold the trading thread, and
for how long, while ``arbtree bench e2e`` runs (one ``perf_counter_ns`` pair a step);
as a context manager it also times the garbage collector's collections."""

from __future__ import annotations

import gc
import time
from typing import Any

import trio
from hdrh.histogram import HdrHistogram

from bench.percentiles import histogram


class TaskSteps(trio.abc.Instrument):
    """Per task name, a histogram of its step lengths (µs), from ``arm()`` on (start-up's
    steps, connects and reconciliation, are not trading)."""

    def __init__(self) -> None:
        self.by_task: dict[str, HdrHistogram] = {}
        self._started = 0
        self.armed = False
        self.gc_by_generation: dict[int, HdrHistogram] = {}
        self._gc_started = 0

    def arm(self) -> None:
        self.armed = True

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self._started = time.perf_counter_ns()

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if not self.armed:
            return
        us = (time.perf_counter_ns() - self._started) // 1000
        hist = self.by_task.get(task.name)
        if hist is None:
            hist = self.by_task[task.name] = histogram()
        hist.record_value(max(1, us))

    def gc_callback(self, phase: str, info: dict[str, Any]) -> None:
        """For ``gc.callbacks``: each collection's length (µs) by generation, once armed."""
        if phase == "start":
            self._gc_started = time.perf_counter_ns()
            return
        if not self.armed or not self._gc_started:
            return
        us = (time.perf_counter_ns() - self._gc_started) // 1000
        hist = self.gc_by_generation.get(info["generation"])
        if hist is None:
            hist = self.gc_by_generation[info["generation"]] = histogram()
        hist.record_value(max(1, us))

    def __enter__(self) -> TaskSteps:
        gc.callbacks.append(self.gc_callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self.gc_callback)

    def longest(self, n: int = 8) -> list[tuple[str, int, int, int, int]]:
        """The ``n`` tasks with the longest p99.9 step: (name, steps, p99, p99.9, max)."""
        rows = [
            (
                name,
                h.get_total_count(),
                h.get_value_at_percentile(99),
                h.get_value_at_percentile(99.9),
                h.get_max_value(),
            )
            for name, h in self.by_task.items()
        ]
        rows.sort(key=lambda r: (r[3], r[4]), reverse=True)
        return rows[:n]
