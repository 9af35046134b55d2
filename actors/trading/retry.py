"""Retry policy for transport errors only: fast exponential backoff with jitter
(~50 / 100 / 200 ms by default). Venue rejections and 429s are never retried here; an
ambiguous send is resolved by lookup before any resend (see ``two_leg``/``executor``)."""

from __future__ import annotations

import random

import attrs

from protocols.config.trading import RetryConfig


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
        base = min(self.max_s, self.base_s * 2.0 ** min(retry_index, 32))
        return base * (1.0 + u * self.jitter)

    def delays(self) -> list[float]:
        """The nominal (jitter-free) schedule, for docs and tests."""
        return [self.delay(i, 0.0) for i in range(max(0, self.attempts - 1))]
