"""The commands a supervisor's decision loop reads from its channel: a child went down,
a backoff timer fired, stop, and a call from outside (``start_child`` and friends).
Every decision is one of these, so decisions are serialised as in OTP.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from supervision.incarnation import ChildRecord, Incarnation


@attrs.frozen
class _ChildDown:
    rec: ChildRecord
    inc: Incarnation | None  # None: a failed start
    exc: BaseException | None  # None: normal exit


@attrs.frozen
class _DelayedStart:
    group: tuple[ChildRecord, ...]
    token: object


@attrs.frozen
class _Stop:
    reason: str


@attrs.define(eq=False)
class _Call:
    fn: Callable[[], Awaitable[Any]]
    done: trio.Event = attrs.field(factory=trio.Event)
    result: Any = None
    error: BaseException | None = None


_Command = _ChildDown | _DelayedStart | _Stop | _Call
