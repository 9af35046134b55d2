"""An actor's serving loop with direct dispatch (see ``supervision.mailbox``).

``serve_inbox`` registers the actor's synchronous handler on its inbox, so a message sent
while the actor is parked idle there runs at once in the sender's step, and takes what
queued (the actor was busy, a handler was running, the chain was too deep, or direct
delivery is off for this edge) in batches from the actor's own task. The handler's
exception, direct or queued, fails the actor's task; the registration ends with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn, TypeVar

from supervision.mailbox import DEFAULT_MAX_DEPTH, DirectOwner, Mailbox

T = TypeVar("T")


async def serve_inbox(
    inbox: Mailbox[T],
    handle: Callable[[T], None],
    *,
    handle_batch: Callable[[list[T]], None] | None = None,
    after_batch: Callable[[], None] | None = None,
    direct: bool = True,
    owner: DirectOwner | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_batch: int = 1024,
) -> NoReturn:
    """Serve ``inbox`` forever: ``handle`` one message (directly, when ``direct``), and
    queued messages a batch at a time (``handle_batch``, else ``handle`` per message),
    then ``after_batch`` (e.g. the heartbeat). ``handle`` may raise ``QueueInstead``
    only when run directly and before it changed anything."""
    if direct:
        inbox.set_handler(handle, owner=owner, max_depth=max_depth)
    try:
        while True:
            batch = await inbox.receive_batch(max_batch)
            if handle_batch is not None:
                handle_batch(batch)
            else:
                for msg in batch:
                    handle(msg)
            if after_batch is not None:
                after_batch()
    finally:
        if direct:
            inbox.set_handler(None)
