"""Latency percentiles as one typed value: what every row of ``arbtree bench`` reports."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
from hdrh.histogram import HdrHistogram

QUANTILES = (50.0, 90.0, 99.0, 99.9)


class Percentiles(msgspec.Struct, frozen=True):
    """p50 / p90 / p99 / p99.9 in µs of ``n`` samples (HDR histogram, 3 significant
    digits); all zero when there were none."""

    p50: float
    p90: float
    p99: float
    p99_9: float
    n: int

    def at(self, quantile: float) -> float:
        return {50.0: self.p50, 90.0: self.p90, 99.0: self.p99, 99.9: self.p99_9}[quantile]

    def __add__(self, other: Percentiles) -> Percentiles:
        """Percentile-wise sum: how a floor of independent stages is composed."""
        return Percentiles(
            self.p50 + other.p50,
            self.p90 + other.p90,
            self.p99 + other.p99,
            self.p99_9 + other.p99_9,
            min(self.n, other.n),
        )


def histogram() -> HdrHistogram:
    """An empty histogram of µs, 1 µs to 60 s, 3 significant digits: the one every
    benchmark records latencies in."""
    return HdrHistogram(1, 60_000_000, 3)


def from_histogram(h: HdrHistogram) -> Percentiles:
    """A histogram recorded in µs."""
    p50, p90, p99, p99_9 = (float(h.get_value_at_percentile(q)) for q in QUANTILES)
    return Percentiles(p50, p90, p99, p99_9, h.get_total_count())


def of_ns(samples: Iterable[int]) -> Percentiles:
    """Samples in ns."""
    h = histogram()
    for ns in samples:
        h.record_value(max(1, ns // 1000))
    return from_histogram(h)
