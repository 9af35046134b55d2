"""Record sinks: how trading actors hand records to storage without ever blocking."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import trio

from supervision import Mailbox, MailboxFull

RecordSink = Callable[[Any], None]


@attrs.define(eq=False)
class MailboxSink:
    """``send_nowait`` into a storage mailbox; a full mailbox counts a drop (storage's own
    journal spill is behind its mailbox, so a full one means storage is far behind)."""

    mailbox: Mailbox[Any]
    sent: int = 0
    dropped: int = 0

    def __call__(self, record: Any) -> None:
        try:
            self.mailbox.send_nowait(record)
            self.sent += 1
        except (trio.WouldBlock, MailboxFull):
            self.dropped += 1


def as_sink(storage: Mailbox[Any] | RecordSink | None) -> RecordSink | None:
    if storage is None:
        return None
    if isinstance(storage, Mailbox):
        return MailboxSink(storage)
    return storage
