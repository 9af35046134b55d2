"""Counting scheduler steps: how tests show that a hand-off took no extra schedule point."""

from __future__ import annotations

from collections.abc import Callable

import trio
import trio.lowlevel


class StepCounter(trio.abc.Instrument):
    """Counts the steps of the tasks ``matches`` accepts (add it with
    ``trio.lowlevel.add_instrument``)."""

    def __init__(self, matches: Callable[[trio.lowlevel.Task], bool]) -> None:
        self.matches = matches
        self.steps = 0

    @classmethod
    def of(cls, task: trio.lowlevel.Task) -> StepCounter:
        return cls(lambda t: t is task)

    @classmethod
    def named(cls, suffix: str) -> StepCounter:
        """The tasks whose name ends with ``suffix``."""
        return cls(lambda t: t.name.endswith(suffix))

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if self.matches(task):
            self.steps += 1
