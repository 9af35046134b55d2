"""The soak's verdict over its samples: RSS growth from the end of the warm-up, a mailbox
whose depth keeps rising is named (and one that only wanders is not), p99 by halves."""

from __future__ import annotations

from bench.percentiles import Percentiles
from bench.soak import MailboxSample, SoakSample, verdict


def _sample(
    t: float, rss: float, creeping: int, wandering: int, p99: float, orders: int = 10
) -> SoakSample:
    return SoakSample(
        t_s=t,
        rss_mb=rss,
        cpu=0.5,
        updates_per_s=5000.0,
        tick_to_order=Percentiles(p99 / 2, p99 / 2, p99, p99, orders),
        gc_collections=1,
        gc_pause_total_ms=0.5,
        gc_pause_max_ms=t / 100,
        mailboxes={
            "a:rising": MailboxSample(creeping, creeping),
            "a:wandering": MailboxSample(wandering, 40),
        },
    )


def test_verdict_measures_from_the_warmup_and_names_a_creeping_mailbox() -> None:
    samples = [
        _sample(10.0 * i, rss=100.0 + i, creeping=5 * i, wandering=(0, 30)[i % 2], p99=1000.0)
        for i in range(1, 13)
    ]
    v = verdict(samples, warmup_s=60.0)

    assert v is not None
    assert v.rss_start_mb == 106.0  # the first sample at or after the warm-up
    assert v.rss_end_mb == 112.0
    assert v.rss_growth == round(112 / 106 - 1, 4)
    assert v.creeping_mailboxes == ("a:rising",)
    assert v.p99_first_half_us == v.p99_second_half_us == 1000.0
    assert v.gc_pause_max_ms == 1.2  # after the warm-up only


def test_verdict_is_none_without_a_sample_after_the_warmup() -> None:
    samples = [_sample(10.0, 100.0, 0, 0, 1.0)]
    assert verdict(samples, warmup_s=60.0) is None


def test_verdict_says_when_a_half_had_no_orders() -> None:
    samples = [
        _sample(10.0 * i, 100.0, 0, 0, p99=1000.0 if i < 9 else 0.0, orders=10 if i < 9 else 0)
        for i in range(6, 13)
    ]
    v = verdict(samples, warmup_s=60.0)

    assert v is not None
    assert v.p99_first_half_us == 1000.0
    assert v.p99_second_half_us is None  # no orders: nothing to call flat
