"""The benchmarks' raw-hop floor: one message in flight, so a floor sample never includes
queueing behind the floor's own earlier messages (it did before: the sender did not wait,
and four queued messages made the four-hop floor ~2x what one message pays)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import bench.floors
from bench.floors import raw_hops
from supervision import Mailbox


@pytest.mark.parametrize("pace_s", [0.0, 0.001])
async def test_raw_hops_keeps_one_message_in_flight(
    pace_s: float, monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    boxes: list[Mailbox[int]] = []
    deepest = 0

    class Watched(Mailbox[int]):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            boxes.append(self)

        async def send(self, item: int) -> None:
            nonlocal deepest
            deepest = max(deepest, 1 + sum(len(b) for b in boxes))
            await super().send(item)

    monkeypatch.setattr(bench.floors, "Mailbox", Watched)
    start = trio.current_time()
    hist = await raw_hops(4, 25, pace_s=pace_s)
    assert len(boxes) == 4
    assert hist.get_total_count() == 25
    assert deepest == 1  # never a second message anywhere in the pipeline
    assert trio.current_time() - start >= 25 * pace_s
