"""The busy-poll idle strategy keeps the loop from sleeping in I/O wait."""

from __future__ import annotations

import trio
import trio.lowlevel

from supervision.idle import busy_poll


class IoWaits(trio.abc.Instrument):
    """Records the timeout of every I/O wait the run loop makes."""

    def __init__(self) -> None:
        self.timeouts: list[float] = []

    def before_io_wait(self, timeout: float) -> None:
        self.timeouts.append(timeout)


async def _idle_for_a_while() -> None:
    """A task that is mostly idle: it sleeps between short bursts of work."""
    for _ in range(5):
        await trio.sleep(0.002)


async def test_without_busy_poll_the_loop_sleeps_in_io_wait() -> None:
    waits = IoWaits()
    trio.lowlevel.add_instrument(waits)
    try:
        await _idle_for_a_while()
    finally:
        trio.lowlevel.remove_instrument(waits)
    assert any(t > 0 for t in waits.timeouts)


async def test_busy_poll_makes_every_io_wait_a_zero_timeout_poll() -> None:
    waits = IoWaits()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(busy_poll)
        await trio.lowlevel.checkpoint()  # the poller is running from here on
        trio.lowlevel.add_instrument(waits)
        try:
            await _idle_for_a_while()
        finally:
            trio.lowlevel.remove_instrument(waits)
        nursery.cancel_scope.cancel()  # and it stops when cancelled
    assert waits.timeouts
    assert all(t == 0 for t in waits.timeouts)
