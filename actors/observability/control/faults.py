"""``POST /actions/fault``: actor faults for the chaos harness, through the control endpoint.

Body ``{"kind": "crash" | "hang", "path": "<worker path>"}`` crashes or hangs one running
worker (``supervision.injected``); ``{"kind": "stall", "ms": N}`` blocks the whole event
loop for N ms with a synchronous sleep, as a blocking call in any actor would. Like every
action it needs the bearer token; it is how a harness in another process reaches them.
"""

from __future__ import annotations

import time
from typing import Any

from supervision.injected import InjectedFault

MAX_STALL_MS = 60_000


class FaultRefused(ValueError):
    """The request cannot be carried out: ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def stall_loop(ms: int) -> float:
    """Block the calling thread (the event loop) for ``ms``; returns the seconds blocked."""
    start = time.perf_counter()
    time.sleep(ms / 1000)  # blocking the loop is the point
    return time.perf_counter() - start


def parse_fault_action(body: dict[str, Any]) -> tuple[InjectedFault | None, str, int]:
    """(fault or None for a stall, path, ms) from a request body; ``FaultRefused`` if bad."""
    kind = body.get("kind")
    if kind == "stall":
        ms = body.get("ms")
        if not isinstance(ms, int) or isinstance(ms, bool) or not 0 < ms <= MAX_STALL_MS:
            raise FaultRefused(400, f"stall needs an integer ms in 1..{MAX_STALL_MS}")
        return None, "", ms
    try:
        fault = InjectedFault(str(kind))
    except ValueError:
        raise FaultRefused(400, 'kind must be "crash", "hang" or "stall"') from None
    path = body.get("path")
    if not isinstance(path, str) or not path:
        raise FaultRefused(400, f'{fault.value} needs {{"path": "<worker path>"}}')
    return fault, path, 0
