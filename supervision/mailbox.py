"""Bounded mailboxes with an explicit overflow policy.

A mailbox is owned by the supervisor side (``ChildSpec.mailboxes``), not by the actor task
that reads it: the actor can crash and restart while messages stay queued. It is never
closed by the runtime.

Policies (Akka Streams names in brackets):

* ``BLOCK`` (backpressure): ``send`` waits for room. Built on a trio memory channel, so it
  costs about what a raw channel costs; only ``received`` is counted, the rest is derived.
* ``DROP_OLDEST`` (dropHead): a full mailbox evicts its oldest message to take the new one.
* ``DROP_NEWEST`` (dropNew): a full mailbox discards the message being sent.
* ``FAIL`` (fail): a full mailbox raises ``MailboxFull``.
* ``COALESCE``: at most one pending message per ``key(msg)``; a newer message for a key
  already queued replaces the pending one in place (the key keeps its arrival position).
  Only a mailbox full of *distinct* keys makes ``send`` wait.

Counters satisfy ``sent == received + depth + dropped + coalesced`` at every moment.

Direct dispatch (run to completion, as a single-threaded message bus): the receiving actor
may register a synchronous handler (:meth:`Mailbox.set_handler`). A message sent while the
mailbox is empty and the receiver's task is parked idle on it is handed to that handler at
once, in the sender's step, instead of waking the task a scheduler round later. Otherwise
(messages pending, the receiver busy or mid-handler, the dispatch chain ``max_depth`` deep)
it queues and the task takes it as usual, so per-mailbox order always holds. Direct
deliveries count as received (and in ``direct``). A handler that raises
:class:`QueueInstead` before touching anything has the message queued; any other exception
is the receiver's failure: its parked task raises it (its supervisor applies its
strategy), and the sender carries on.

Trio conventions: ``send``/``receive``/``receive_batch`` are checkpoints (even when they
need not wait); the ``*_nowait`` variants never checkpoint and raise ``trio.WouldBlock``.
A receiver cancelled while waiting loses nothing. One consumer per mailbox; any number of
producers.
"""

from __future__ import annotations

import collections
import enum
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

import trio

from protocols.tree import MailboxStats

T = TypeVar("T")


class OverflowPolicy(enum.StrEnum):
    BLOCK = "block"
    DROP_OLDEST = "drop_oldest"
    DROP_NEWEST = "drop_newest"
    FAIL = "fail"
    COALESCE = "coalesce"


class QueueInstead(Exception):
    """Raised by a direct handler, before it changed anything, when it cannot finish the
    message without waiting (a full output): the message is queued for the actor's task."""


class DirectOwner:
    """Who runs a set of handlers: while one of them runs, a message to any mailbox of the
    same owner queues (no re-entry into an actor mid-handler)."""

    __slots__ = ("busy",)

    def __init__(self) -> None:
        self.busy = False


DEFAULT_MAX_DEPTH = 4  # direct deliveries nested in one sender's step before queueing


class _Dispatch:
    """How deep the current step's chain of direct deliveries is (Trio runs one task at a
    time on its thread; the runtime is single-threaded)."""

    depth = 0


_WAKE: Any = object()  # handed to a parked BLOCK receiver: a handler failed


class MailboxFull(Exception):
    """A ``FAIL`` mailbox was full; ``mailbox`` names it."""

    def __init__(self, mailbox: str, capacity: int) -> None:
        super().__init__(f"mailbox {mailbox!r} is full ({capacity} messages)")
        self.mailbox = mailbox
        self.capacity = capacity


class Mailbox(Generic[T]):
    """A bounded, policy-driven queue that outlives the actors reading it."""

    __slots__ = (
        "_capacity",
        "_coalesced",
        "_direct",
        "_dropped",
        "_failure",
        "_handler",
        "_key",
        "_max_depth",
        "_not_empty",
        "_not_full",
        "_owner",
        "_peak",
        "_pending",
        "_queue",
        "_received",
        "_rx",
        "_sent",
        "_tx",
        "name",
        "policy",
    )

    def __init__(
        self,
        name: str,
        capacity: int,
        policy: OverflowPolicy = OverflowPolicy.BLOCK,
        *,
        key: Callable[[T], Hashable] | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"mailbox {name!r}: capacity must be >= 1, got {capacity}")
        policy = OverflowPolicy(policy)
        if (policy is OverflowPolicy.COALESCE) != (key is not None):
            raise ValueError(f"mailbox {name!r}: a key function is required iff policy is COALESCE")
        self.name = name
        self.policy = policy
        self._capacity = capacity
        self._key = key
        self._received = 0
        self._sent = 0
        self._dropped = 0
        self._coalesced = 0
        self._peak = 0
        self._direct = 0
        self._handler: Callable[[T], None] | None = None
        self._owner = DirectOwner()
        self._max_depth = DEFAULT_MAX_DEPTH
        self._failure: BaseException | None = None
        self._not_empty = trio.lowlevel.ParkingLot()
        self._not_full = trio.lowlevel.ParkingLot()
        # BLOCK rides a memory channel; the others use a deque (or an ordered dict by key).
        self._tx: trio.MemorySendChannel[T] | None = None
        self._rx: trio.MemoryReceiveChannel[T] | None = None
        self._queue: collections.deque[T] = collections.deque()
        self._pending: collections.OrderedDict[Hashable, T] = collections.OrderedDict()
        if policy is OverflowPolicy.BLOCK:
            self._tx, self._rx = trio.open_memory_channel[T](capacity)

    def __repr__(self) -> str:
        return f"<Mailbox {self.name!r} {self.policy.value} {len(self)}/{self._capacity}>"

    def __len__(self) -> int:
        if self._rx is not None:
            return self._rx.statistics().current_buffer_used
        if self._key is not None:
            return len(self._pending)
        return len(self._queue)

    @property
    def receivers_waiting(self) -> int:
        """Tasks parked in ``receive`` now (Trio's ``tasks_waiting_receive``). A message
        sent to a parked receiver of a BLOCK mailbox goes to that task, not into the
        buffer: until it runs, the depth is 0 and this is one less."""
        if self._rx is not None:
            return self._rx.statistics().tasks_waiting_receive
        return len(self._not_empty)

    @property
    def capacity(self) -> int:
        return self._capacity

    # ------------------------------------------------------------ direct dispatch

    def set_handler(
        self,
        handler: Callable[[T], None] | None,
        *,
        owner: DirectOwner | None = None,
        max_depth: int = DEFAULT_MAX_DEPTH,
    ) -> None:
        """Register the receiving actor's synchronous handler (``None`` removes it): see the
        module docstring. Register it from the task that parks on this mailbox, and remove
        it when that task ends (a restart registers the new incarnation's). ``owner``:
        shared by the handlers of one actor's mailboxes."""
        if max_depth < 1:
            raise ValueError(f"mailbox {self.name!r}: max_depth must be >= 1, got {max_depth}")
        self._handler = handler
        self._owner = owner if owner is not None else DirectOwner()
        self._max_depth = max_depth
        self._failure = None

    def _try_direct(self, msg: T) -> bool:
        """Run the handler on ``msg`` now if the receiver is parked idle on an empty
        mailbox; False (nothing done) when the message must queue."""
        handler = self._handler
        owner = self._owner
        if owner.busy or _Dispatch.depth >= self._max_depth or self._failure is not None:
            return False
        rx = self._rx
        if rx is not None:
            stats = rx.statistics()
            if stats.current_buffer_used or not stats.tasks_waiting_receive:
                return False
        elif not self._not_empty or self._queue or self._pending:
            return False
        owner.busy = True
        _Dispatch.depth += 1
        try:
            assert handler is not None
            handler(msg)
        except QueueInstead:
            return False
        except Exception as exc:
            self._fail_receiver(exc)
        finally:
            _Dispatch.depth -= 1
            owner.busy = False
        self._sent += 1
        self._received += 1
        self._direct += 1
        return True

    def _fail_receiver(self, exc: Exception) -> None:
        """The handler's exception is the receiver's: wake its parked task to raise it."""
        self._failure = exc
        if self._tx is not None:
            self._tx.send_nowait(_WAKE)  # a parked receiver takes it (no buffer used)
        else:
            self._not_empty.unpark()

    def _raise_failure(self) -> None:
        exc, self._failure = self._failure, None
        if exc is not None:
            raise exc

    # ------------------------------------------------------------------ sending

    async def send(self, msg: T) -> None:
        """Put ``msg`` in the mailbox; only BLOCK (and COALESCE full of distinct keys) waits."""
        if self._handler is not None and self._try_direct(msg):
            await trio.lowlevel.checkpoint()
            return
        if self._tx is not None:
            await self._tx.send(msg)
            return
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            self.send_nowait(msg)
        except trio.WouldBlock:
            pass
        else:
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        while True:  # parking is the schedule point (see ``receive``)
            await self._not_full.park()
            try:
                self.send_nowait(msg)
            except trio.WouldBlock:
                continue
            return

    async def hand_off(self, msg: T) -> None:
        """Put ``msg`` without a schedule point when there is room; wait as :meth:`send`
        does only when the policy makes a full mailbox wait.

        For a hot-path actor that parks on its own inbox right after: ``send`` yields
        after the hand-off, so the sender's next step would land in the receiver's
        scheduler round (Trio runs a round's tasks in either order) and come first half
        the time. Unlike ``send``, it is not a checkpoint when it does not wait."""
        try:
            self.send_nowait(msg)
        except trio.WouldBlock:
            await self.send(msg)

    def send_nowait(self, msg: T) -> None:
        """Put ``msg`` in the mailbox without waiting; what happens when full is the policy."""
        if self._handler is not None and self._try_direct(msg):
            return
        if self._tx is not None:
            self._tx.send_nowait(msg)
            return
        key = self._key
        if key is not None:
            pending = self._pending
            k = key(msg)
            if k in pending:
                pending[k] = msg  # keeps the key's arrival position
                self._coalesced += 1
                self._sent += 1
                return
            if len(pending) >= self._capacity:
                raise trio.WouldBlock
            pending[k] = msg
            depth = len(pending)
        else:
            queue = self._queue
            if len(queue) >= self._capacity:
                policy = self.policy
                if policy is OverflowPolicy.DROP_OLDEST:
                    queue.popleft()
                    self._dropped += 1
                elif policy is OverflowPolicy.DROP_NEWEST:
                    self._dropped += 1
                    self._sent += 1
                    return
                else:
                    raise MailboxFull(self.name, self._capacity)
            queue.append(msg)
            depth = len(queue)
        self._sent += 1
        if depth > self._peak:
            self._peak = depth
        if self._not_empty:
            self._not_empty.unpark()

    # ---------------------------------------------------------------- receiving

    def receive_nowait(self) -> T:
        """The oldest pending message; ``trio.WouldBlock`` when the mailbox is empty."""
        if self._failure is not None:
            self._raise_failure()
        if self._rx is not None:
            msg = self._rx.receive_nowait()
            while msg is _WAKE:  # a failure's wake-up, already raised
                msg = self._rx.receive_nowait()
            self._received += 1
            return msg
        if self._key is not None:
            if not self._pending:
                raise trio.WouldBlock
            msg = self._pending.popitem(last=False)[1]
        else:
            if not self._queue:
                raise trio.WouldBlock
            msg = self._queue.popleft()
        self._received += 1
        if self._not_full:
            self._not_full.unpark()
        return msg

    async def receive(self) -> T:
        """Wait for the oldest pending message. Cancellation never consumes a message.
        Raises a direct handler's exception (see :meth:`set_handler`)."""
        if self._failure is not None:
            self._raise_failure()
        if self._rx is not None:
            msg = await self._rx.receive()
            while msg is _WAKE:
                self._raise_failure()  # a stale wake-up (raised already) falls through
                msg = await self._rx.receive()
            self._received += 1
            return msg
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            msg = self.receive_nowait()
        except trio.WouldBlock:
            pass
        else:
            # Ready at once: still a full checkpoint (Trio's convention), as a memory
            # channel does.
            await trio.lowlevel.cancel_shielded_checkpoint()
            return msg
        # Parking was the schedule point: once woken, take the message and return without
        # a second yield (one scheduler round per wake-up, as a memory channel hand-off).
        # A cancel while parked raises before anything was taken, so nothing is lost.
        while True:
            await self._not_empty.park()
            try:
                return self.receive_nowait()  # raises a direct handler's failure first
            except trio.WouldBlock:
                continue  # another receiver took it first

    async def receive_batch(self, max_items: int = 1024) -> list[T]:
        """Wait for one message, then take whatever else is pending, up to ``max_items``."""
        batch = [await self.receive()]
        self._take_into(batch, max_items)
        return batch

    def receive_batch_nowait(self, max_items: int = 1024) -> list[T]:
        """Whatever is pending, oldest first, up to ``max_items``; empty when nothing is
        (for a consumer that polls on its own clock and must not be woken per message)."""
        batch: list[T] = []
        self._take_into(batch, max_items)
        return batch

    def _take_into(self, batch: list[T], max_items: int) -> None:
        """Append pending messages to ``batch`` until it holds ``max_items``."""
        taken = len(batch)
        rx = self._rx
        if rx is not None:
            nowait = rx.receive_nowait
            try:
                while len(batch) < max_items:
                    msg = nowait()
                    if msg is not _WAKE:  # a failure's wake-up: raised by the next receive
                        batch.append(msg)
            except trio.WouldBlock:
                pass
        elif self._key is not None:
            popitem = self._pending.popitem
            while self._pending and len(batch) < max_items:
                batch.append(popitem(last=False)[1])
        else:
            popleft = self._queue.popleft
            while self._queue and len(batch) < max_items:
                batch.append(popleft())
        taken = len(batch) - taken
        self._received += taken
        if taken and rx is None and self._not_full:
            self._not_full.unpark_all()

    # ------------------------------------------------------------------- status

    def statistics(self) -> MailboxStats:
        if self._rx is not None:
            stats = self._rx.statistics()
            depth = stats.current_buffer_used
            peak = stats.peak_buffer_used
            sent = self._received + depth
        else:
            depth = len(self._pending) if self._key is not None else len(self._queue)
            peak = self._peak
            sent = self._sent
        return MailboxStats(
            name=self.name,
            policy=self.policy.value,
            depth=depth,
            capacity=self._capacity,
            peak=peak,
            sent=sent,
            received=self._received,
            dropped=self._dropped,
            coalesced=self._coalesced,
            direct=self._direct,
        )
