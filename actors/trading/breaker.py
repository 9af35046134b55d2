"""Circuit breaker: one state machine CLOSED -> OPEN -> HALF_OPEN -> CLOSED | OPEN.

* CLOSED: requests flow; ``failure_threshold`` consecutive failures open it.
* OPEN: requests are refused locally (no venue traffic) until ``open_until``.
* HALF_OPEN: up to ``half_open_probes`` trial requests; a success closes it, a failure
  re-opens it.

``trip(for_s)`` opens it at once for a given time (a 429 with Retry-After).
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import attrs
import trio


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@attrs.define
class CircuitBreaker:
    failure_threshold: int = 5
    open_s: float = 5.0
    half_open_probes: int = 1
    clock: Callable[[], float] = trio.current_time
    _state: BreakerState = attrs.field(init=False, default=BreakerState.CLOSED)
    _failures: int = attrs.field(init=False, default=0)
    _open_until: float = attrs.field(init=False, default=0.0)
    _probes_in_flight: int = attrs.field(init=False, default=0)
    opened_total: int = attrs.field(init=False, default=0)
    refused_total: int = attrs.field(init=False, default=0)
    last_reason: str = attrs.field(init=False, default="")

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self.clock() >= self._open_until:
            self._state = BreakerState.HALF_OPEN
            self._probes_in_flight = 0
        return self._state

    def retry_in(self) -> float:
        """Seconds until the breaker lets a probe through (0 if it would now)."""
        if self.state is BreakerState.OPEN:
            return max(0.0, self._open_until - self.clock())
        return 0.0

    def allow(self) -> bool:
        """Ask before each request; a True in HALF_OPEN consumes a probe slot."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and self._probes_in_flight < self.half_open_probes:
            self._probes_in_flight += 1
            return True
        self.refused_total += 1
        return False

    def record_success(self) -> None:
        self._failures = 0
        if self._state is not BreakerState.CLOSED:
            self._state = BreakerState.CLOSED
            self._probes_in_flight = 0

    def record_failure(self, reason: str = "failure") -> None:
        self.last_reason = reason
        state = self.state
        if state is BreakerState.HALF_OPEN:
            self._open(self.open_s, reason)
            return
        self._failures += 1
        if state is BreakerState.CLOSED and self._failures >= self.failure_threshold:
            self._open(self.open_s, reason)

    def trip(self, for_s: float, reason: str) -> None:
        """Open now for ``for_s`` seconds (never shortens an existing open period)."""
        self.last_reason = reason
        until = self.clock() + max(0.0, for_s)
        if self._state is BreakerState.OPEN and self._open_until >= until:
            return
        self._open(for_s, reason)

    def _open(self, for_s: float, reason: str) -> None:
        self._state = BreakerState.OPEN
        self._open_until = self.clock() + max(0.0, for_s)
        self._failures = 0
        self._probes_in_flight = 0
        self.opened_total += 1
        self.last_reason = reason
