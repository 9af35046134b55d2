"""A Trio instrument timing every task step: which tasks hold the trading thread, and
for how long, while ``arbtree bench e2e`` runs (one ``perf_counter_ns`` pair a step)."""

from __future__ import annotations

import time

import trio
from hdrh.histogram import HdrHistogram


class TaskSteps(trio.abc.Instrument):
    """Per task name, a histogram of its step lengths (µs), from ``arm()`` on (start-up's
    steps, connects and reconciliation, are not trading)."""

    def __init__(self) -> None:
        self.by_task: dict[str, HdrHistogram] = {}
        self._started = 0
        self.armed = False

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
            hist = self.by_task[task.name] = HdrHistogram(1, 60_000_000, 3)
        hist.record_value(max(1, us))

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
