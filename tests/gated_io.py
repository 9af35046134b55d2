"""A text stream whose writes block until released: a full pipe, a terminal paused with
Ctrl-S, a stalled ssh session. Used to show that nothing on the Trio thread waits on one."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# How long a broken implementation may hang before the failsafe opens the gate. Never
# waited for when the code under test works: the tests wait on events that fire at once.
FAILSAFE_S = 30.0


class GatedStream(io.StringIO):
    """Writes block until ``gate`` is set; ``entered`` is set by the first write."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()

    def write(self, s: str) -> int:
        self.entered.set()
        self.gate.wait()
        return super().write(s)


@contextmanager
def gated_stream() -> Iterator[GatedStream]:
    """A :class:`GatedStream` whose gate a failsafe timer opens after :data:`FAILSAFE_S`
    (so a regression fails instead of hanging), and which is opened on exit."""
    stream = GatedStream()
    failsafe = threading.Timer(FAILSAFE_S, stream.gate.set)
    failsafe.start()
    try:
        yield stream
    finally:
        stream.gate.set()
        failsafe.cancel()
