"""Token-bucket rate limiter (one per venue for order writes; invariant I9).

Pure arithmetic on an injected clock (Trio's, virtual under MockClock) plus an async
``acquire`` that sleeps exactly until enough tokens exist. Waiters are served in order
because each reserves its tokens before sleeping (tokens may go negative), so a burst of
callers never turns into a thundering herd of retries.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import trio


@attrs.define
class TokenBucket:
    rate_per_s: float
    burst: float
    clock: Callable[[], float] = trio.current_time
    _tokens: float = attrs.field(init=False, default=-1.0)
    _updated: float | None = attrs.field(init=False, default=None)
    waited: int = attrs.field(init=False, default=0)  # acquisitions that had to sleep
    acquired: int = attrs.field(init=False, default=0)

    def __attrs_post_init__(self) -> None:
        if self.rate_per_s <= 0 or self.burst < 1:
            raise ValueError("token bucket needs rate_per_s > 0 and burst >= 1")
        self._tokens = self.burst

    def _refill(self) -> float:
        now = self.clock()
        if self._updated is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate_per_s)
        self._updated = now
        return now

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens

    def try_acquire(self, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens if available now; never waits."""
        self._refill()
        if self._tokens >= cost:
            self._tokens -= cost
            self.acquired += 1
            return True
        return False

    def reserve(self, cost: float = 1.0) -> float:
        """Take ``cost`` tokens now (possibly going into debt); return the seconds to wait
        before the caller may act. Used by :meth:`acquire`."""
        self._refill()
        self._tokens -= cost
        self.acquired += 1
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self.rate_per_s

    async def acquire(self, cost: float = 1.0) -> None:
        delay = self.reserve(cost)
        if delay > 0:
            self.waited += 1
            await trio.sleep(delay)

    def drain(self) -> None:
        """Empty the bucket (a 429 says the venue thinks we are over the limit)."""
        self._refill()
        self._tokens = min(self._tokens, 0.0)
