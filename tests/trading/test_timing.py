"""Token bucket, circuit breaker and retry policy on Trio's virtual clock."""

from __future__ import annotations

import trio
import trio.testing

from actors.trading.breaker import BreakerState, CircuitBreaker
from actors.trading.rate_limit import TokenBucket
from actors.trading.retry import RetryPolicy


async def test_token_bucket_limits_rate(autojump_clock: trio.testing.MockClock) -> None:
    bucket = TokenBucket(rate_per_s=10.0, burst=10.0)
    start = trio.current_time()
    for _ in range(30):
        await bucket.acquire()
    # 10 from the burst, then 20 more at 10/s: 2 s of virtual time.
    assert abs((trio.current_time() - start) - 2.0) < 1e-6
    assert bucket.waited == 20


async def test_token_bucket_drain_after_429(autojump_clock: trio.testing.MockClock) -> None:
    bucket = TokenBucket(rate_per_s=10.0, burst=5.0)
    assert bucket.try_acquire()
    bucket.drain()
    assert not bucket.try_acquire()
    await trio.sleep(0.1)
    assert bucket.try_acquire()


async def test_breaker_state_machine(autojump_clock: trio.testing.MockClock) -> None:
    br = CircuitBreaker(failure_threshold=3, open_s=1.0, half_open_probes=1)
    for _ in range(2):
        br.record_failure()
    assert br.state is BreakerState.CLOSED
    br.record_failure()
    assert br.state is BreakerState.OPEN
    assert not br.allow()
    await trio.sleep(1.0)
    assert br.state is BreakerState.HALF_OPEN
    assert br.allow()
    assert not br.allow()  # one probe at a time
    br.record_failure()
    assert br.state is BreakerState.OPEN
    await trio.sleep(1.0)
    assert br.allow()
    br.record_success()
    assert br.state is BreakerState.CLOSED


async def test_breaker_trip_respects_retry_after(autojump_clock: trio.testing.MockClock) -> None:
    br = CircuitBreaker(failure_threshold=5, open_s=1.0)
    br.trip(3.0, "429")
    await trio.sleep(2.0)
    assert br.state is BreakerState.OPEN
    br.trip(0.5, "shorter")  # never shortens
    await trio.sleep(1.0)
    assert br.state is BreakerState.HALF_OPEN


def test_retry_schedule() -> None:
    policy = RetryPolicy(attempts=4, base_s=0.05, max_s=0.2, jitter=0.2)
    assert policy.delays() == [0.05, 0.1, 0.2]
    assert policy.delay(0, 1.0) == 0.05 * 1.2
