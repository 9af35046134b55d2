"""Direct dispatch: a parked receiver's handler runs in the sender's step; everything else
queues, per-mailbox order holds, a handler's failure is the receiver's."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from supervision import (
    Actor,
    ActorContext,
    Backoff,
    ChildSpec,
    DirectOwner,
    Mailbox,
    OverflowPolicy,
    QueueInstead,
    SupervisorSpec,
    open_tree,
    serve_inbox,
)

from .helpers import settle


def _invariant(mb: Mailbox[Any]) -> None:
    s = mb.statistics()
    assert s.sent == s.received + s.depth + s.dropped + s.coalesced
    assert 0 <= s.direct <= s.received


class Recorder:
    """A receiver's task and handler: logs (how, message). ``"q"`` asks to be queued
    (``QueueInstead`` when direct); after a queued batch holding ``"q"`` the task waits
    for ``release`` (busy: not parked on its inbox)."""

    def __init__(self, inbox: Mailbox[Any]) -> None:
        self.inbox = inbox
        self.log: list[tuple[str, Any]] = []
        self.release = trio.Event()
        self.direct_now = False

    def handle(self, msg: Any) -> None:
        if self.direct_now and msg == "q":
            raise QueueInstead
        self.log.append(("direct" if self.direct_now else "queued", msg))

    def direct(self, msg: Any) -> None:
        self.direct_now = True
        try:
            self.handle(msg)
        finally:
            self.direct_now = False

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.inbox.set_handler(self.direct)
        task_status.started()
        try:
            while True:
                batch = await self.inbox.receive_batch()
                for msg in batch:
                    self.handle(msg)
                if "q" in batch:
                    await self.release.wait()
        finally:
            self.inbox.set_handler(None)


@pytest.mark.parametrize("policy", [OverflowPolicy.BLOCK, OverflowPolicy.DROP_OLDEST])
async def test_order_holds_across_direct_and_queued_deliveries(policy: OverflowPolicy) -> None:
    inbox: Mailbox[Any] = Mailbox("r", 8, policy)
    r = Recorder(inbox)
    async with trio.open_nursery() as nursery:
        await nursery.start(r.run)
        inbox.send_nowait(1)  # parked, empty: runs now, in this step
        assert r.log == [("direct", 1)]
        inbox.send_nowait("q")  # the handler declines: queued, the task woken
        inbox.send_nowait(2)  # something pending: queued behind it
        assert r.log == [("direct", 1)]
        await settle()  # the task took "q" and 2, and now waits for release (busy)
        inbox.send_nowait(3)  # busy receiver: queued
        await inbox.send(4)
        assert r.log == [("direct", 1), ("queued", "q"), ("queued", 2)]
        r.release.set()
        await settle()
        inbox.send_nowait(5)  # parked again: direct
        nursery.cancel_scope.cancel()
    assert [m for _, m in r.log] == [1, "q", 2, 3, 4, 5]
    assert [how for how, _ in r.log] == ["direct", "queued", "queued", "queued", "queued", "direct"]
    s = inbox.statistics()
    assert (s.sent, s.received, s.direct, s.depth) == (6, 6, 2, 0)
    _invariant(inbox)


async def test_a_receiver_not_parked_on_its_inbox_gets_the_message_queued() -> None:
    inbox: Mailbox[int] = Mailbox("r", 4)
    seen: list[int] = []
    inbox.set_handler(seen.append)  # registered, but no task waits on the inbox
    inbox.send_nowait(1)
    assert seen == []
    assert (len(inbox), inbox.statistics().direct) == (1, 0)
    assert inbox.receive_nowait() == 1


async def test_a_message_back_to_an_actor_mid_handler_queues() -> None:
    own: Mailbox[str] = Mailbox("own", 4)
    other: Mailbox[str] = Mailbox("other", 4)
    owner = DirectOwner()
    log: list[tuple[str, str]] = []

    def on_own(msg: str) -> None:
        log.append(("own", msg))
        if msg == "echo":
            own.send_nowait("again")  # to itself, mid-handler: queued
            other.send_nowait("sibling")  # the same actor's other mailbox: queued

    def on_other(msg: str) -> None:
        log.append(("other", msg))

    async def serve(mb: Mailbox[str], handle: Any, *, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        await serve_inbox(mb, handle, owner=owner)

    async with trio.open_nursery() as nursery:
        await nursery.start(serve, own, on_own)
        await nursery.start(serve, other, on_other)
        own.send_nowait("echo")
        assert log == [("own", "echo")]  # both handed to their (woken) tasks instead
        await settle()
        nursery.cancel_scope.cancel()
    assert sorted(log[1:]) == [("other", "sibling"), ("own", "again")]
    assert (own.statistics().direct, other.statistics().direct) == (1, 0)


async def test_chains_dispatch_depth_first_up_to_the_depth_limit() -> None:
    boxes: list[Mailbox[int]] = [Mailbox(f"m{i}", 4, OverflowPolicy.DROP_OLDEST) for i in range(4)]
    order: list[str] = []

    def forward(i: int) -> Any:
        def handle(msg: int) -> None:
            order.append(f"m{i}")
            if i + 1 < len(boxes):
                boxes[i + 1].send_nowait(msg)

        return handle

    async def serve(i: int, *, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        await serve_inbox(boxes[i], forward(i), max_depth=2)

    async with trio.open_nursery() as nursery:
        for i in range(len(boxes)):
            await nursery.start(serve, i)
        boxes[0].send_nowait(7)
        assert order == ["m0", "m1"]  # m2 would be the third nested delivery: queued
        assert len(boxes[2]) == 1
        await settle()  # m2's task takes it; its forward to m3 is direct again
        nursery.cancel_scope.cancel()
    assert order == ["m0", "m1", "m2", "m3"]
    assert [b.statistics().direct for b in boxes] == [1, 1, 0, 1]
    for b in boxes:
        _invariant(b)


async def test_a_full_block_mailbox_still_makes_the_sender_wait() -> None:
    inbox: Mailbox[Any] = Mailbox("r", 1)
    r = Recorder(inbox)
    sent: list[int] = []

    async def sender() -> None:
        for i in (1, 2):
            await inbox.send(i)
            sent.append(i)

    async with trio.open_nursery() as nursery:
        await nursery.start(r.run)
        inbox.send_nowait("q")  # queued; the task takes it and then stays busy
        await settle()
        nursery.start_soon(sender)
        await settle()
        assert sent == [1]  # 1 filled the buffer (receiver busy); 2 waits for room
        r.release.set()
        await settle()
        assert sent == [1, 2]
        nursery.cancel_scope.cancel()
    assert [m for _, m in r.log] == ["q", 1, 2]


async def test_a_handler_exception_fails_the_receiver_not_the_sender(
    autojump_clock: trio.testing.MockClock,
) -> None:
    inbox: Mailbox[Any] = Mailbox("receiver", 8)
    starts: list[float] = []
    handled: list[tuple[float, Any]] = []
    sender_done = trio.Event()
    sender_starts: list[float] = []

    class Receiver(Actor):
        async def run(
            self,
            ctx: ActorContext,
            *,
            task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
        ) -> None:
            starts.append(trio.current_time())

            def handle(msg: Any) -> None:
                if msg == "boom":
                    raise RuntimeError("bad message")
                handled.append((trio.current_time(), msg))

            task_status.started()
            await serve_inbox(ctx.inbox, handle)

    class Sender(Actor):
        async def run(
            self,
            ctx: ActorContext,
            *,
            task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
        ) -> None:
            sender_starts.append(trio.current_time())
            task_status.started()
            await trio.sleep(1)
            for msg in (1, "boom", 2):
                await inbox.hand_off(msg)  # never raises here: the failure is the receiver's
            sender_done.set()
            await trio.sleep_forever()

    spec = SupervisorSpec(
        children=[
            ChildSpec(
                id="receiver",
                start=Receiver,
                mailboxes=(inbox,),
                backoff=Backoff(min_s=2.0, max_s=2.0, random_factor=0.0),
            ),
            ChildSpec(id="sender", start=Sender),
        ],
        max_restarts=3,
        max_seconds=10,
    )
    async with open_tree(spec, name="t") as tree:
        await sender_done.wait()
        assert handled == [(1.0, 1)]  # 1 direct; "boom" failed; 2 queued for the restart
        await trio.sleep(5)
        restarts = {n.path: n.restarts_total for n in tree.snapshot().nodes}
        assert (restarts["t/receiver"], restarts["t/sender"]) == (1, 0)
    assert starts == [0.0, 3.0]  # restarted after its backoff
    assert sender_starts == [0.0]  # the sender never failed
    assert handled == [(1.0, 1), (3.0, 2)]
    s = inbox.statistics()
    assert (s.direct, s.received, s.depth) == (2, 3, 0)  # 1 and "boom" direct, 2 queued
