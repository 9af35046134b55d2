"""A fault schedule: a pure function of (scenario, seed, duration), replayable from JSON,
and the smaller schedules a failing one shrinks to.

Faults start Jepsen-style at a seeded interval within the run's fault window (after a
warm-up, before the drain), one at a time: each is healed before the next starts.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any

import msgspec

from arbtree.chaos.nemeses import NEMESES

WARMUP_S = 3.0  # the bot trades a little before the first fault
MIN_GAP_S = 1.0


class Fault(msgspec.Struct, frozen=True, kw_only=True):
    at_s: float  # after the bot is ready
    nemesis: str
    duration_s: float
    params: dict[str, Any]


class Schedule(msgspec.Struct, frozen=True, kw_only=True):
    faults: tuple[Fault, ...]

    def to_json(self) -> str:
        return msgspec.json.encode(self).decode()

    @classmethod
    def from_json(cls, text: str) -> Schedule:
        try:
            schedule = msgspec.json.decode(text, type=cls)
        except msgspec.DecodeError as exc:  # ValidationError included
            raise ValueError(f"not the JSON of a fault schedule: {exc}") from None
        for fault in schedule.faults:
            if fault.nemesis not in NEMESES:
                raise ValueError(f"unknown nemesis {fault.nemesis!r} in the schedule")
        return schedule

    def describe(self) -> str:
        if not self.faults:
            return "(no faults)"
        return ", ".join(f"{f.nemesis}@{f.at_s:.1f}s/{f.duration_s:.1f}s" for f in self.faults)


def draw_schedule(nemeses: Sequence[str], seed: int, fault_window_s: float) -> Schedule:
    """Faults from ``nemeses`` at seeded times in ``[WARMUP_S, fault_window_s)``."""
    rng = random.Random(seed)
    faults = []
    t = WARMUP_S + rng.uniform(0, 2)
    order = list(nemeses)
    rng.shuffle(order)
    i = 0
    while nemeses and t < fault_window_s:
        name = order[i % len(order)]
        i += 1
        params, duration = NEMESES[name].draw(rng)
        duration = min(duration, max(0.5, fault_window_s - t))
        faults.append(
            Fault(at_s=round(t, 3), nemesis=name, duration_s=round(duration, 3), params=params)
        )
        t += duration + MIN_GAP_S + rng.uniform(0, 3)
    return Schedule(faults=tuple(faults))


def shrink_candidates(schedule: Schedule) -> Iterator[Schedule]:
    """Smaller schedules, most aggressive first: each fault dropped, then each halved."""
    faults = list(schedule.faults)
    for i in range(len(faults)):
        yield Schedule(faults=tuple(faults[:i] + faults[i + 1 :]))
    for i, fault in enumerate(faults):
        if fault.duration_s > 1.0:
            shorter = msgspec.structs.replace(fault, duration_s=round(fault.duration_s / 2, 3))
            yield Schedule(faults=(*faults[:i], shorter, *faults[i + 1 :]))
