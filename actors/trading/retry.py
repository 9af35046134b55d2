"""Retry policy for transport errors only: fast exponential backoff with jitter
(~50 / 100 / 200 ms by default). Venue rejections and 429s are never retried here; an
ambiguous send is resolved by lookup before any resend (see ``two_leg``/``executor``)."""

from __future__ import annotations

import random

import attrs

from protocols.config.trading import RelookupConfig, RetryConfig


def backoff_delay(base_s: float, max_s: float, jitter: float, n: int, uniform: float) -> float:
    """min(max_s, base_s * 2**n) * (1 + uniform * jitter)."""
    return min(max_s, base_s * 2.0 ** min(n, 32)) * (1.0 + uniform * jitter)


@attrs.frozen
class RetryPolicy:
    attempts: int = 3
    base_s: float = 0.05
    max_s: float = 0.2
    jitter: float = 0.2

    @classmethod
    def from_config(cls, cfg: RetryConfig) -> RetryPolicy:
        return cls(cfg.attempts, cfg.base_s, cfg.max_s, cfg.jitter)

    def delay(self, retry_index: int, uniform: float | None = None) -> float:
        """Delay before retry number ``retry_index`` (0 = the first retry)."""
        u = random.random() if uniform is None else uniform
        return backoff_delay(self.base_s, self.max_s, self.jitter, retry_index, u)

    def delays(self) -> list[float]:
        """The nominal (jitter-free) schedule, for docs and tests."""
        return [self.delay(i, 0.0) for i in range(max(0, self.attempts - 1))]


@attrs.frozen
class RelookupPolicy:
    """When to look an unresolved AMBIGUOUS order up again: slower than transport retries
    (the venue or the path to it is having trouble), backing off to ``max_s``."""

    interval_s: float = 1.0
    max_s: float = 30.0
    jitter: float = 0.2
    rng: random.Random = attrs.field(factory=random.Random, eq=False)

    @classmethod
    def from_config(cls, cfg: RelookupConfig) -> RelookupPolicy:
        return cls(cfg.interval_s, cfg.max_s, cfg.jitter)

    def delay(self, attempts: int) -> float:
        """Delay before the next re-lookup after ``attempts`` of them (0 = the first)."""
        return backoff_delay(self.interval_s, self.max_s, self.jitter, attempts, self.rng.random())
