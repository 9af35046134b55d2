"""How the supervisor classifies a child's exit: exception groups collapsed to their one
member, and which exceptions are not the child's to report (cancellation from outside its
scope, interpreter exits) and must propagate.
"""

from __future__ import annotations

import trio


def unwrap(exc: BaseException) -> BaseException:
    """Collapse single-member exception groups (strict exception groups are on)."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _is_cancel(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return all(_is_cancel(e) for e in exc.exceptions)
    return isinstance(exc, trio.Cancelled)


def _must_propagate(exc: BaseException) -> bool:
    """Cancellation from outside the child's own scope, and interpreter exits, are not ours."""
    return _is_cancel(exc) or isinstance(unwrap(exc), KeyboardInterrupt | SystemExit)
