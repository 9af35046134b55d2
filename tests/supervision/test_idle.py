"""The busy-poll idle strategy keeps the loop from sleeping in I/O wait; wait_until_idle
lets the work a task handed on run before it resumes, within a bound; every_when_idle runs
optional work on a timer, only when the loop is idle."""

from __future__ import annotations

import itertools

import trio
import trio.lowlevel
import trio.testing

from supervision import Mailbox
from supervision.idle import busy_poll, every_when_idle, wait_until_idle


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


async def _relay(src: Mailbox[int], dst: Mailbox[int]) -> None:
    while True:
        await dst.send(await src.receive())


async def test_wait_until_idle_lets_the_work_it_handed_on_run_first() -> None:
    """A producer that hands a message to a chain of three actors and yields until idle
    resumes only after the last of them has handled it (a plain checkpoint would resume
    it in the same scheduler round as the first hop half of the time)."""
    boxes: list[Mailbox[int]] = [Mailbox(f"h{i}", 8) for i in range(3)]
    log: list[str] = []

    async def sink() -> None:
        while True:
            log.append(f"handled {await boxes[-1].receive()}")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(_relay, boxes[0], boxes[1])
        nursery.start_soon(_relay, boxes[1], boxes[2])
        nursery.start_soon(sink)
        await trio.testing.wait_all_tasks_blocked()
        for i in range(20):
            boxes[0].send_nowait(i)
            await wait_until_idle()
            log.append(f"resumed {i}")
        nursery.cancel_scope.cancel()
    assert log == [x for i in range(20) for x in (f"handled {i}", f"resumed {i}")]


async def test_wait_until_idle_does_not_return_while_a_task_stays_runnable(
    mock_clock: trio.testing.MockClock,
) -> None:
    """A task that is always runnable keeps the loop from ever going idle: the caller
    waits until something else (here a cancel scope's deadline, reached as the spinner
    advances the mock clock 0.1 ms a round) ends the wait."""
    rounds = 0

    async def spinner() -> None:
        nonlocal rounds
        while True:
            rounds += 1
            mock_clock.jump(0.0001)
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(spinner)
        await trio.lowlevel.checkpoint()
        before = rounds
        with trio.move_on_after(0.01) as scope:
            await wait_until_idle()
        assert scope.cancelled_caught
        assert 90 <= rounds - before <= 110
        nursery.cancel_scope.cancel()


async def test_busy_poll_lets_wait_until_idle_return() -> None:
    """The busy poller waits for idle itself, so it never holds back a task waiting for
    the loop to go idle (a poller that just checkpointed would, forever)."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(busy_poll)
        await trio.lowlevel.checkpoint()
        with trio.move_on_after(5.0) as scope:
            for _ in range(10):
                await wait_until_idle()
        assert not scope.cancelled_caught
        nursery.cancel_scope.cancel()


async def test_every_when_idle_runs_once_per_interval_when_idle(
    autojump_clock: trio.testing.MockClock,
) -> None:
    runs: list[float] = []
    with trio.move_on_after(1.0):
        await every_when_idle(0.01, lambda: runs.append(trio.current_time()))
    assert len(runs) == 99  # at 0.01, 0.02, ... 0.99
    assert all(0.0099 < b - a < 0.0101 for a, b in itertools.pairwise(runs))


async def test_every_when_idle_waits_out_a_busy_loop_and_works_beside_busy_poll(
    mock_clock: trio.testing.MockClock,
) -> None:
    """Due while a task stays runnable: it runs once that task parks, once (not once per
    interval missed). The busy poller (spin idle) does not hold it back."""
    runs = 0

    def work() -> None:
        nonlocal runs
        runs += 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(busy_poll)
        nursery.start_soon(every_when_idle, 0.01, work)
        await trio.lowlevel.checkpoint()
        for _ in range(30):  # this task runnable in every round, 10 ms apart
            mock_clock.jump(0.01)
            await trio.lowlevel.checkpoint()
        assert runs == 0
        await wait_until_idle()  # the work wakes in this round too, in either order...
        await wait_until_idle()  # ...and has run by the next idle point
        assert runs == 1
        for _ in range(3):
            mock_clock.jump(0.01)
            await wait_until_idle()
            await wait_until_idle()
        assert runs == 4
        nursery.cancel_scope.cancel()
