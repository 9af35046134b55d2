"""Liveness is data, not pings.

A connection can keep answering pings while delivering nothing (Polymarket silent
freeze, single assets that never start): so liveness is tracked per instrument from the
market data itself.

* subscribed, no first book within ``first_book_s``        -> resubscribe that instrument;
* had data, nothing for ``no_data_s``                       -> resubscribe that instrument;
* still nothing after ``resubscribes_before_reconnect`` resubscribes -> reconnect;
* no frame of any kind for ``connection_silence_s``          -> reconnect.

Pure state; :meth:`Liveness.check` runs on a timer, never on the read path. The read path
only stores a timestamp per instrument (:meth:`Liveness.seen`).
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from protocols.config.market import LivenessConfig


@attrs.define(eq=False, slots=True)
class _Inst:
    since: float  # subscribed (or resubscribed) at
    first: bool = False  # got a first book since subscribing
    resubscribes: int = 0


@attrs.frozen
class Verdict:
    resubscribe: tuple[str, ...] = ()
    reconnect: str = ""  # non-empty: reconnect, with this reason


class Liveness:
    __slots__ = ("cfg", "insts", "last_data", "last_frame")

    def __init__(self, cfg: LivenessConfig) -> None:
        self.cfg = cfg
        self.insts: dict[str, _Inst] = {}
        self.last_data: dict[str, float] = {}  # written by the read path
        self.last_frame = 0.0

    def subscribed(self, keys: Iterable[str], now: float) -> None:
        """(Re)subscribed: wait for a first book again. A resubscribe keeps the count of
        resubscribes without data, so a dead subscription escalates to a reconnect."""
        insts = self.insts
        for key in keys:
            inst = insts.get(key)
            if inst is None:
                insts[key] = _Inst(since=now)
            else:
                inst.since = now
                inst.first = False
        self.last_frame = max(self.last_frame, now)

    def seen(self, key: str, now: float) -> None:
        """The read path: data for ``key`` arrived (a first book if the caller says so)."""
        self.last_data[key] = now

    def got_book(self, key: str, now: float) -> None:
        inst = self.insts.get(key)
        if inst is not None:
            inst.first = True
            inst.resubscribes = 0
        self.last_data[key] = now

    def check(self, now: float) -> Verdict:
        cfg = self.cfg
        if now - self.last_frame > cfg.connection_silence_s:
            return Verdict(reconnect=f"no frame for {cfg.connection_silence_s:g}s")
        resub: list[str] = []
        for key, inst in self.insts.items():
            if not inst.first:
                if now - inst.since <= cfg.first_book_s:
                    continue
                why = f"no first book within {cfg.first_book_s:g}s"
            else:
                last = max(self.last_data.get(key, inst.since), inst.since)
                if now - last <= cfg.no_data_s:
                    if inst.resubscribes and now - last < now - inst.since:
                        inst.resubscribes = 0  # data came back after a resubscribe
                    continue
                why = f"no data for {cfg.no_data_s:g}s"
            if inst.resubscribes >= cfg.resubscribes_before_reconnect:
                return Verdict(reconnect=f"{key}: {why} after {inst.resubscribes} resubscribe(s)")
            inst.resubscribes += 1
            inst.since = now
            resub.append(key)
        return Verdict(resubscribe=tuple(resub))
