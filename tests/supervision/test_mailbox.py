"""Mailbox overflow policies, counters, checkpoints and cancellation safety."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from supervision.mailbox import Mailbox, MailboxFull, OverflowPolicy
from tests.step_counter import StepCounter


def _invariant(mb: Mailbox[Any]) -> None:
    s = mb.statistics()
    assert s.sent == s.received + s.depth + s.dropped + s.coalesced


def _drain(mb: Mailbox[Any]) -> list[Any]:
    out: list[Any] = []
    while True:
        try:
            out.append(mb.receive_nowait())
        except trio.WouldBlock:
            return out


def test_key_required_iff_coalesce() -> None:
    with pytest.raises(ValueError, match="key"):
        Mailbox("m", 4, OverflowPolicy.COALESCE)
    with pytest.raises(ValueError, match="key"):
        Mailbox("m", 4, OverflowPolicy.BLOCK, key=lambda m: m)
    with pytest.raises(ValueError, match="capacity"):
        Mailbox("m", 0)


async def test_block_waits_for_room_and_keeps_order() -> None:
    mb: Mailbox[int] = Mailbox("inbox", 2)
    mb.send_nowait(1)
    mb.send_nowait(2)
    with pytest.raises(trio.WouldBlock):
        mb.send_nowait(3)
    done = []

    async def producer() -> None:
        await mb.send(3)
        done.append(True)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(producer)
        await trio.testing.wait_all_tasks_blocked()
        assert done == []  # blocked: mailbox full
        assert await mb.receive() == 1
    assert done == [True]
    assert _drain(mb) == [2, 3]
    s = mb.statistics()
    assert (s.sent, s.received, s.depth, s.peak, s.dropped) == (3, 3, 0, 2, 0)
    assert s.policy == "block"


async def test_drop_oldest_evicts_and_counts() -> None:
    mb: Mailbox[int] = Mailbox("q", 3, OverflowPolicy.DROP_OLDEST)
    for i in range(5):
        await mb.send(i)
    assert _drain(mb) == [2, 3, 4]
    s = mb.statistics()
    assert (s.sent, s.dropped, s.peak, s.depth) == (5, 2, 3, 0)
    _invariant(mb)


async def test_drop_newest_discards_incoming() -> None:
    mb: Mailbox[int] = Mailbox("q", 3, OverflowPolicy.DROP_NEWEST)
    for i in range(5):
        mb.send_nowait(i)
    assert _drain(mb) == [0, 1, 2]
    assert mb.statistics().dropped == 2
    _invariant(mb)


async def test_fail_raises_with_name() -> None:
    mb: Mailbox[int] = Mailbox("orders", 1, OverflowPolicy.FAIL)
    await mb.send(1)
    with pytest.raises(MailboxFull) as info:
        await mb.send(2)
    assert info.value.mailbox == "orders"
    assert "orders" in str(info.value)
    assert _drain(mb) == [1]


async def test_coalesce_replaces_in_place_and_waits_only_on_distinct_keys() -> None:
    mb: Mailbox[tuple[str, int]] = Mailbox("q", 2, OverflowPolicy.COALESCE, key=lambda m: m[0])
    mb.send_nowait(("a", 1))
    mb.send_nowait(("b", 1))
    mb.send_nowait(("a", 2))  # replaces a1, a stays first
    with pytest.raises(trio.WouldBlock):
        mb.send_nowait(("c", 1))
    got = []

    async def producer() -> None:
        await mb.send(("c", 1))
        got.append("sent")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(producer)
        await trio.testing.wait_all_tasks_blocked()
        assert got == []
        assert await mb.receive() == ("a", 2)
    assert got == ["sent"]
    assert _drain(mb) == [("b", 1), ("c", 1)]
    s = mb.statistics()
    assert (s.sent, s.coalesced, s.received, s.peak) == (4, 1, 3, 2)


@pytest.mark.parametrize("policy", list(OverflowPolicy))
async def test_receive_is_a_checkpoint_nowait_is_not(policy: OverflowPolicy) -> None:
    key = (lambda m: m) if policy is OverflowPolicy.COALESCE else None
    mb: Mailbox[int] = Mailbox("q", 4, policy, key=key)
    with trio.testing.assert_checkpoints():
        await mb.send(1)
    with trio.testing.assert_no_checkpoints():
        mb.send_nowait(2)
    with trio.testing.assert_checkpoints():
        assert await mb.receive() == 1
    with trio.testing.assert_no_checkpoints():
        assert mb.receive_nowait() == 2
        with pytest.raises(trio.WouldBlock):
            mb.receive_nowait()


@pytest.mark.parametrize("policy", list(OverflowPolicy))
async def test_parked_receiver_wakes_in_one_scheduler_step(policy: OverflowPolicy) -> None:
    """A wake-up costs one scheduler round, like a memory channel hand-off: a second
    yield after the park would add a whole round to every hop on the hot path."""
    key = (lambda m: m) if policy is OverflowPolicy.COALESCE else None
    mb: Mailbox[int] = Mailbox("q", 4, policy, key=key)
    got: list[int] = []
    counter: StepCounter | None = None

    async def consumer(task_status: trio.TaskStatus[trio.lowlevel.Task]) -> None:
        task_status.started(trio.lowlevel.current_task())
        got.append(await mb.receive())

    async with trio.open_nursery() as nursery:
        task = await nursery.start(consumer)
        await trio.testing.wait_all_tasks_blocked()  # parked in receive()
        counter = StepCounter.of(task)
        trio.lowlevel.add_instrument(counter)
        mb.send_nowait(5)
    trio.lowlevel.remove_instrument(counter)
    assert got == [5]
    assert counter.steps == 1


@pytest.mark.parametrize("policy", list(OverflowPolicy))
async def test_receivers_waiting_counts_parked_receivers_until_a_message_reaches_them(
    policy: OverflowPolicy,
) -> None:
    """How a sender tells that a message is not yet taken up: a BLOCK mailbox hands it to
    a parked receiver directly (depth stays 0), and that receiver no longer counts as
    waiting from then until it is back in ``receive``."""
    key = (lambda m: m) if policy is OverflowPolicy.COALESCE else None
    mb: Mailbox[int] = Mailbox("q", 4, policy, key=key)
    got: list[int] = []

    async def consumer() -> None:
        while True:
            got.append(await mb.receive())

    async with trio.open_nursery() as nursery:
        assert mb.receivers_waiting == 0
        nursery.start_soon(consumer)
        await trio.testing.wait_all_tasks_blocked()
        assert mb.receivers_waiting == 1
        mb.send_nowait(7)
        assert mb.receivers_waiting == 0  # handed over (or queued), the consumer not run yet
        assert len(mb) == (0 if policy is OverflowPolicy.BLOCK else 1)
        await trio.testing.wait_all_tasks_blocked()
        assert got == [7]
        assert mb.receivers_waiting == 1  # back in receive
        nursery.cancel_scope.cancel()


async def test_parked_coalesce_sender_wakes_in_one_scheduler_step() -> None:
    """COALESCE full of distinct keys is the one non-BLOCK mailbox that parks a sender."""
    mb: Mailbox[int] = Mailbox("q", 1, OverflowPolicy.COALESCE, key=lambda m: m)
    mb.send_nowait(1)

    async def producer(task_status: trio.TaskStatus[trio.lowlevel.Task]) -> None:
        task_status.started(trio.lowlevel.current_task())
        await mb.send(2)

    async with trio.open_nursery() as nursery:
        task = await nursery.start(producer)
        await trio.testing.wait_all_tasks_blocked()  # parked in send()
        counter = StepCounter.of(task)
        trio.lowlevel.add_instrument(counter)
        assert mb.receive_nowait() == 1
    trio.lowlevel.remove_instrument(counter)
    assert _drain(mb) == [2]
    assert counter.steps == 1


@pytest.mark.parametrize("policy", list(OverflowPolicy))
async def test_cancelled_receiver_loses_nothing(
    policy: OverflowPolicy, autojump_clock: trio.testing.MockClock
) -> None:
    key = (lambda m: m) if policy is OverflowPolicy.COALESCE else None
    mb: Mailbox[int] = Mailbox("q", 8, policy, key=key)
    with trio.move_on_after(1) as scope:
        await mb.receive()
    assert scope.cancelled_caught
    await mb.send(7)
    with trio.CancelScope() as cs:
        cs.cancel()
        with pytest.raises(trio.Cancelled):
            await mb.receive()  # cancelled before taking anything
    assert await mb.receive() == 7
    _invariant(mb)


async def test_receive_batch_drains_up_to_max() -> None:
    for policy in (OverflowPolicy.BLOCK, OverflowPolicy.DROP_OLDEST):
        mb: Mailbox[int] = Mailbox("q", 100, policy)
        for i in range(10):
            mb.send_nowait(i)
        assert await mb.receive_batch(4) == [0, 1, 2, 3]
        assert await mb.receive_batch() == list(range(4, 10))
        s = mb.statistics()
        assert (s.received, s.depth) == (10, 0)


def test_receive_batch_nowait_takes_what_is_pending_without_waiting() -> None:
    for policy in (OverflowPolicy.BLOCK, OverflowPolicy.DROP_OLDEST):
        mb: Mailbox[int] = Mailbox("q", 100, policy)
        assert mb.receive_batch_nowait() == []  # empty: no wait, no error
        for i in range(10):
            mb.send_nowait(i)
        assert mb.receive_batch_nowait(4) == [0, 1, 2, 3]
        assert mb.receive_batch_nowait(0) == []
        assert mb.receive_batch_nowait() == list(range(4, 10))
        assert (mb.statistics().received, len(mb)) == (10, 0)
        _invariant(mb)
    coalescing: Mailbox[int] = Mailbox("c", 4, OverflowPolicy.COALESCE, key=lambda m: m % 2)
    for i in (1, 3, 4):
        coalescing.send_nowait(i)
    assert coalescing.receive_batch_nowait() == [3, 4]
    _invariant(coalescing)


async def test_receive_batch_nowait_frees_a_blocked_sender() -> None:
    # BLOCK (a memory channel) hands the waiting sender's message over in the same take;
    # COALESCE full of distinct keys wakes its parked sender, which then puts it.
    for mb, first_take in (
        (Mailbox[int]("b", 2, OverflowPolicy.BLOCK), [0, 1, 2]),
        (Mailbox[int]("c", 2, OverflowPolicy.COALESCE, key=lambda m: m), [0, 1]),
    ):
        mb.send_nowait(0)
        mb.send_nowait(1)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(mb.send, 2)
            await trio.testing.wait_all_tasks_blocked()
            assert len(mb) == 2  # the sender waits for room
            assert mb.receive_batch_nowait() == first_take
        assert first_take + mb.receive_batch_nowait() == [0, 1, 2]
        _invariant(mb)


async def test_receive_batch_waits_for_first() -> None:
    mb: Mailbox[int] = Mailbox("q", 4, OverflowPolicy.COALESCE, key=lambda m: m % 2)
    result: list[list[int]] = []

    async def consumer() -> None:
        result.append(await mb.receive_batch())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consumer)
        await trio.testing.wait_all_tasks_blocked()
        assert result == []
        mb.send_nowait(1)
        mb.send_nowait(3)
        mb.send_nowait(4)
    assert result == [[3, 4]]


@settings(max_examples=150, deadline=None)
@given(
    ops=st.lists(st.one_of(st.integers(0, 10_000), st.just(-1)), max_size=120),
    capacity=st.integers(1, 8),
)
def test_block_never_loses_or_reorders(ops: list[int], capacity: int) -> None:
    """Producer sends in order (waiting when full); -1 means the consumer drains a batch."""
    sent = [x for x in ops if x >= 0]

    async def main() -> list[int]:
        mb: Mailbox[int] = Mailbox("q", capacity)
        got: list[int] = []

        async def producer() -> None:
            for x in sent:
                await mb.send(x)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(producer)
            for op in ops:
                if op < 0 and len(got) < len(sent):
                    got.extend(await mb.receive_batch(3))
            while len(got) < len(sent):
                got.append(await mb.receive())
        _invariant(mb)
        return got

    assert trio.run(main) == sent


@settings(max_examples=150, deadline=None)
@given(msgs=st.lists(st.tuples(st.integers(0, 5), st.integers()), max_size=60))
def test_coalesce_latest_per_key_in_first_arrival_order(msgs: list[tuple[int, int]]) -> None:
    mb: Mailbox[tuple[int, int]] = Mailbox("q", 6, OverflowPolicy.COALESCE, key=lambda m: m[0])
    for m in msgs:
        mb.send_nowait(m)  # 6 distinct keys max, so never full
    expected = dict(msgs)  # dict keeps first-insertion order, with the latest value
    assert _drain(mb) == list(expected.items())
    _invariant(mb)


async def test_hand_off_takes_no_step_with_room_and_waits_when_full() -> None:
    mb: Mailbox[int] = Mailbox("q", 1, OverflowPolicy.BLOCK)
    counter = StepCounter.of(trio.lowlevel.current_task())
    trio.lowlevel.add_instrument(counter)
    try:
        await mb.hand_off(1)  # room: put, no schedule point
        assert counter.steps == 0
    finally:
        trio.lowlevel.remove_instrument(counter)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(mb.hand_off, 2)  # full: waits, as send does
        await trio.testing.wait_all_tasks_blocked()
        assert mb.receive_nowait() == 1
    assert mb.receive_nowait() == 2
    _invariant(mb)
