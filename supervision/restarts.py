"""Restart bookkeeping: a supervisor's intensity window and a child's backoff counter."""

from __future__ import annotations

import collections
import random

import attrs

from supervision.spec import Backoff


@attrs.define(eq=False)
class Intensity:
    """OTP restart intensity: at most ``max_restarts`` restart events in ``max_seconds``.

    One ``record`` per restart *event* (a group restart is one event; a failed restart is
    another). The window slides: events older than ``max_seconds`` fall out.
    """

    max_restarts: int
    max_seconds: float
    _times: collections.deque[float] = attrs.field(factory=collections.deque)

    def record(self, now: float) -> bool:
        """Count a restart at ``now``; False when that puts the supervisor over the limit."""
        self._times.append(now)
        self._expire(now)
        return len(self._times) <= self.max_restarts

    def in_window(self, now: float) -> int:
        self._expire(now)
        return len(self._times)

    def _expire(self, now: float) -> None:
        horizon = now - self.max_seconds
        times = self._times
        while times and times[0] <= horizon:
            times.popleft()


@attrs.define(eq=False)
class BackoffState:
    """A child's consecutive-restart counter for ``Backoff`` (Akka's BackoffSupervisor).

    The counter resets when the incarnation that just ended had run ``reset_after`` without
    failing; evaluated lazily at the next failure, which is equivalent to Akka's scheduled
    ``ResetRestartCount`` (it only resets if no restart happened in between).
    """

    count: int = 0

    def next_delay(self, backoff: Backoff, ran_for_s: float, rng: random.Random) -> float:
        if ran_for_s >= backoff.reset_after:
            self.count = 0
        delay = backoff.delay(self.count, rng.random())
        self.count += 1
        return delay
