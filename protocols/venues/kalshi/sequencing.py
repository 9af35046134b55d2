"""Kalshi per-subscription sequence checking (:class:`SeqChecker`): what decides that a
sid's books went stale and need a ``get_snapshot`` resync.
"""

from __future__ import annotations


class SeqChecker:
    """Per-``sid`` sequence check: a snapshot (re)anchors, every other sequenced frame
    must be exactly ``last + 1``. A gap invalidates every book on that sid."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: dict[int, int] = {}

    def check(self, sid: int, seq: int, snapshot: bool = False) -> str:
        """Return "" if in order, else the reason (the caller marks books stale)."""
        if not seq:
            return ""  # unsequenced frame (ticker, fill, bare legacy payload)
        last = self._last.get(sid)
        self._last[sid] = seq
        if snapshot:
            return ""
        if last is None:
            return f"sid {sid}: seq {seq} before any snapshot"
        if seq != last + 1:
            return f"sid {sid}: seq gap {last} -> {seq}"
        return ""

    def forget(self, sid: int) -> None:
        self._last.pop(sid, None)
