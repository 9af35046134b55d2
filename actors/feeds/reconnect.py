"""Reconnect policy: exponential backoff with jitter, plus a circuit breaker.

Pure state machine (no I/O, no clock of its own): the feed tells it what happened and the
time, it answers how long to wait before the next connection attempt.

* Backoff: ``delay(n) = min(max_s, min_s * 2**n) * (1 + U[0,1) * jitter)``; ``n`` counts
  consecutive reconnects and resets once a connection has delivered data and stayed up
  ``reset_after_s``. The first retry comes after ``min_s`` (0.1 s by default).
* Circuit breaker: a connection attempt that fails, or a connection that drops before
  delivering any data, is a *failure*; ``failure_threshold`` consecutive failures open the
  breaker for ``open_s`` (doubling on each consecutive re-open, capped at ``max_open_s``).
  When the open period ends the next attempt is the half-open trial: data on it closes the
  breaker, another failure re-opens it.
"""

from __future__ import annotations

import enum
import random

import attrs

from protocols.config.market import CircuitBreakerConfig, ReconnectConfig


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@attrs.define(eq=False)
class ReconnectPolicy:
    backoff: ReconnectConfig
    breaker: CircuitBreakerConfig
    rng: random.Random = attrs.field(factory=random.Random)
    attempt: int = 0
    consecutive_failures: int = 0
    opens: int = 0  # consecutive breaker openings (drives the doubling)
    state: BreakerState = BreakerState.CLOSED
    open_until: float = 0.0
    connected_at: float | None = None
    breaker_trips: int = 0

    def on_connected(self, now: float) -> None:
        self.connected_at = now
        if self.state is BreakerState.OPEN:
            self.state = BreakerState.HALF_OPEN

    def on_data(self) -> None:
        """The connection delivered market data: it is healthy."""
        self.consecutive_failures = 0
        if self.state is not BreakerState.CLOSED:
            self.state = BreakerState.CLOSED
            self.opens = 0

    def next_delay(self, now: float, *, had_data: bool) -> float:
        """The connection ended (or the attempt failed) at ``now``: seconds to wait."""
        if had_data:
            up = 0.0 if self.connected_at is None else now - self.connected_at
            if up >= self.backoff.reset_after_s:
                self.attempt = 0
        else:
            self.consecutive_failures += 1
        self.connected_at = None
        trial_failed = self.state is BreakerState.HALF_OPEN and not had_data
        if trial_failed or self.consecutive_failures >= self.breaker.failure_threshold:
            hold = min(self.breaker.max_open_s, self.breaker.open_s * 2.0 ** min(self.opens, 32))
            self.opens += 1
            self.breaker_trips += 1
            self.state = BreakerState.OPEN
            self.open_until = now + hold
            self.consecutive_failures = 0
            return hold
        cfg = self.backoff
        base = min(cfg.max_s, cfg.min_s * 2.0 ** min(self.attempt, 32))
        self.attempt += 1
        return base * (1.0 + self.rng.random() * cfg.jitter)
