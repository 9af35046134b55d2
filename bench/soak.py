"""``arbtree bench soak``: the whole tree against the sim (in its own process) for minutes
at a steady offered rate, sampled every ``--interval`` seconds, to show what a long run
does to memory, mailboxes, latency, the garbage collector and CPU.

Each sample: this process's RSS, every mailbox's depth and peak (the tree's snapshot),
tick -> first leg percentiles of the executions written in that interval (the same
timestamps as ``arbtree bench e2e``, ``bench.tree_stamps``), the GC collections and their
pauses in the interval (``gc.callbacks``), CPU time over wall time, and feed updates per
second. The report compares the end with the end of the warm-up (default 60 s): RSS growth
(goal within +-10 %), each mailbox's depth (creeping: its mean depth over the second half
after the warm-up above the first half's by more than ``CREEP_MARGIN``; one sample is
noise, as a batching writer's depth rises and falls within a batch age), and the p99 of
the second half's intervals against the first half's (flat: within 2x). With matplotlib
(the ``bench`` extra) it writes a PNG of RSS and p99 over time; without it, says so and
skips the plot. Figures are measurements of this machine, never assertions.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import msgspec
import trio

from arbtree.config import AppConfig
from arbtree.runner import Assembly
from bench.e2e_bench import bench_config, split_cpus
from bench.percentiles import Percentiles
from bench.tree_run import TreeRecorder, run_tree, tick_to_order

CREEP_MARGIN = 10  # messages: a mailbox's depth may wander this much without creeping
# The sim's paper accounts ($10 000 a venue) buy positions that settle only at resolution.
# At the detector's default size (150 shares) and 3 windows a second they were spent
# within the first minute, and every later opportunity was rightly rejected: no orders, no
# tick -> order to watch. 10 shares a pair (5 would fall under Polymarket's minimum once
# its fee is taken in shares) and 1.5 windows a second (``bench e2e`` injects 50) last
# about 10 minutes.
SOAK_MAX_SIZE = "10"
SOAK_WINDOW_RATE = 1.5


class MailboxSample(msgspec.Struct, frozen=True):
    depth: int
    peak: int


class SoakSample(msgspec.Struct, frozen=True, kw_only=True):
    """One interval, ending ``t_s`` seconds after the run started."""

    t_s: float
    rss_mb: float
    cpu: float  # CPU seconds per wall second of this process (1.0 = one core busy)
    updates_per_s: float
    tick_to_order: Percentiles  # µs to the first leg, executions in this interval
    gc_collections: int
    gc_pause_total_ms: float
    gc_pause_max_ms: float
    mailboxes: dict[str, MailboxSample]


class SoakVerdict(msgspec.Struct, frozen=True, kw_only=True):
    warmup_s: float
    rss_start_mb: float  # at the end of the warm-up
    rss_end_mb: float
    rss_growth: float  # fraction, end / start - 1
    creeping_mailboxes: tuple[str, ...]
    p99_first_half_us: float | None  # median of the p99 of the intervals with orders
    p99_second_half_us: float | None  # None: no order in that half
    gc_pause_max_ms: float


class SoakReport(msgspec.Struct, frozen=True, kw_only=True):
    rate: float
    duration_s: float
    interval_s: float
    load_average: tuple[float, float, float]
    samples: tuple[SoakSample, ...]
    verdict: SoakVerdict | None  # None when no sample came after the warm-up


def rss_mb() -> float:
    """Resident set size now (Linux ``/proc``); elsewhere the peak from ``getrusage``."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@attrs.define
class GcPauses:
    """Collections and their pauses since the last ``take()`` (``gc.callbacks``)."""

    started: float = 0.0
    pauses: list[float] = attrs.field(factory=list)

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self.started)

    def take(self) -> list[float]:
        out, self.pauses = self.pauses, []
        return out


@contextmanager
def gc_pauses() -> Iterator[GcPauses]:
    pauses = GcPauses()
    gc.callbacks.append(pauses)
    try:
        yield pauses
    finally:
        gc.callbacks.remove(pauses)


def mailboxes(asm: Assembly) -> dict[str, MailboxSample]:
    if asm.tree is None:
        return {}
    return {
        f"{node.path}:{mb.name}": MailboxSample(mb.depth, mb.peak)
        for node in asm.tree.snapshot().nodes
        for mb in node.mailboxes
    }


async def sample_every(
    interval_s: float, pauses: GcPauses, out: list[SoakSample], asm: Assembly, rec: TreeRecorder
) -> None:
    """The observer of the run: one ``SoakSample`` per interval into ``out``."""
    t0 = last_t = time.monotonic()
    last_cpu = time.process_time()
    last_updates = 0
    sent = 0
    pauses.take()
    while True:
        await trio.sleep(interval_s)
        now, cpu = time.monotonic(), time.process_time()
        updates = sum(s.updates for s in asm.market.feed_stats.values())
        # run_tree clears ``legs`` once, at the end of its warm-up.
        sent = min(sent, len(rec.legs))
        interval_legs, sent = rec.legs[sent:], len(rec.legs)
        gcs = pauses.take()
        out.append(
            SoakSample(
                t_s=round(now - t0, 2),
                rss_mb=round(rss_mb(), 2),
                cpu=round((cpu - last_cpu) / (now - last_t), 3),
                updates_per_s=round((updates - last_updates) / (now - last_t), 1),
                tick_to_order=tick_to_order(interval_legs),
                gc_collections=len(gcs),
                gc_pause_total_ms=round(sum(gcs) * 1e3, 3),
                gc_pause_max_ms=round(max(gcs, default=0.0) * 1e3, 3),
                mailboxes=mailboxes(asm),
            )
        )
        last_t, last_cpu, last_updates = now, cpu, updates


def _median(values: list[float]) -> float | None:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else None


def verdict(samples: list[SoakSample], warmup_s: float) -> SoakVerdict | None:
    after = [s for s in samples if s.t_s >= warmup_s]
    if not after:
        return None
    first, last = after[0], after[-1]
    mid = max(1, len(after) // 2)

    def depth(name: str, part: list[SoakSample]) -> float:
        depths = [s.mailboxes[name].depth for s in part if name in s.mailboxes]
        return statistics.fmean(depths or [0])

    creeping = tuple(
        name
        for name in last.mailboxes
        if depth(name, after[mid:]) > depth(name, after[:mid]) + CREEP_MARGIN
    )
    p99s = [s.tick_to_order.p99 if s.tick_to_order.n else None for s in after]
    return SoakVerdict(
        warmup_s=warmup_s,
        rss_start_mb=first.rss_mb,
        rss_end_mb=last.rss_mb,
        rss_growth=round(last.rss_mb / first.rss_mb - 1, 4),
        creeping_mailboxes=creeping,
        p99_first_half_us=_median([p for p in p99s[:mid] if p is not None]),
        p99_second_half_us=_median([p for p in p99s[mid:] if p is not None]),
        gc_pause_max_ms=max(s.gc_pause_max_ms for s in after),
    )


def render(report: SoakReport) -> str:
    out = [
        f"soak: {report.rate:g} updates/s offered for {report.duration_s:g} s, sampled every"
        f" {report.interval_s:g} s; load average at start {report.load_average[0]:.2f}",
        "",
        "| t (s) | RSS (MB) | CPU | updates/s | orders | p50 µs | p99 µs | GC n | GC max ms"
        " | deepest mailbox |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for s in report.samples:
        deepest = max(s.mailboxes.items(), key=lambda kv: kv[1].depth, default=None)
        where = f"{deepest[0]} {deepest[1].depth}" if deepest else "-"
        t = s.tick_to_order
        out.append(
            f"| {s.t_s:g} | {s.rss_mb:.1f} | {s.cpu:.2f} | {s.updates_per_s:,.0f} | {t.n} |"
            f" {t.p50:,.0f} | {t.p99:,.0f} | {s.gc_collections} | {s.gc_pause_max_ms:.2f}"
            f" | {where} |"
        )
    v = report.verdict
    if v is None:
        out.append("\nno sample after the warm-up: run longer than --warmup")
        return "\n".join(out)
    first, second = v.p99_first_half_us, v.p99_second_half_us
    if first is None or second is None:
        p99_line = (
            f"tick->order p99: no order in the {'first' if first is None else 'second'} half"
            " after the warm-up (see the orders column)"
        )
    else:
        flat = "flat" if second <= 2 * max(1.0, first) else "NOT flat"
        p99_line = (
            f"tick->order p99, median of intervals: first half {first:,.0f} µs,"
            f" second half {second:,.0f} µs ({flat})"
        )
    out += [
        "",
        f"after the {v.warmup_s:g} s warm-up: RSS {v.rss_start_mb:.1f} -> {v.rss_end_mb:.1f} MB"
        f" ({v.rss_growth:+.1%}; goal within +-10 %:"
        f" {'met' if abs(v.rss_growth) <= 0.10 else 'NOT met'})",
        "creeping mailboxes: " + (", ".join(v.creeping_mailboxes) or "none"),
        p99_line,
        f"longest GC pause after the warm-up: {v.gc_pause_max_ms:.2f} ms",
    ]
    if report.samples:
        boxes = report.samples[-1].mailboxes
        top = sorted(boxes.items(), key=lambda kv: -kv[1].peak)[:5]
        out.append(
            "highest mailbox peaks (depth now / peak since start): "
            + ", ".join(f"{name} {mb.depth}/{mb.peak}" for name, mb in top)
        )
    return "\n".join(out)


def plot(report: SoakReport, path: Path) -> str:
    """Write the PNG; the message to print."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "plot skipped: matplotlib is not installed (pip install 'arbtree[bench]')"
    t = [s.t_s for s in report.samples]
    fig, (ax_rss, ax_p99) = plt.subplots(2, 1, sharex=True, figsize=(8, 5))
    ax_rss.plot(t, [s.rss_mb for s in report.samples], color="tab:blue")
    ax_rss.set_ylabel("RSS (MB)")
    p99 = [s.tick_to_order.p99 / 1000 if s.tick_to_order.n else math.nan for s in report.samples]
    ax_p99.plot(t, p99, color="tab:red", marker=".")  # a gap: no order in that interval
    ax_p99.set_ylabel("tick->order p99 (ms)")
    ax_p99.set_xlabel("seconds since start")
    if report.verdict is not None:
        for ax in (ax_rss, ax_p99):
            ax.axvline(report.verdict.warmup_s, color="grey", linestyle=":", linewidth=1)
    fig.suptitle(
        f"arbtree soak: {report.rate:g} updates/s, {report.interval_s:g} s intervals", fontsize=10
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return f"plot written to {path}"


def soak_config(config: AppConfig) -> AppConfig:
    """``bench e2e``'s configuration with smaller trades and fewer windows, so the paper
    accounts last the run."""
    replace = msgspec.structs.replace
    detector = replace(config.market.detector, max_size=SOAK_MAX_SIZE)
    return replace(
        config,
        market=replace(config.market, detector=detector),
        sim=replace(config.sim, window_rate=SOAK_WINDOW_RATE),
    )


def soak(
    rate: float, duration_s: float, interval_s: float, warmup_s: float, dsn: str | None
) -> SoakReport:
    sim_cpus, ours = split_cpus("auto")
    if ours:
        os.sched_setaffinity(0, ours)
    load = os.getloadavg()
    samples: list[SoakSample] = []
    with tempfile.TemporaryDirectory(prefix="arbtree-soak-") as tmp, gc_pauses() as pauses:
        config = soak_config(bench_config(rate, duration_s, dsn, Path(tmp), sim_cpus))
        observe = partial(sample_every, interval_s, pauses, samples)
        trio.run(partial(run_tree, config, warmup_s=0.0, observe=observe))
    return SoakReport(
        rate=rate,
        duration_s=duration_s,
        interval_s=interval_s,
        load_average=load,
        samples=tuple(samples),
        verdict=verdict(samples, warmup_s),
    )


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="arbtree bench soak", description=__doc__)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds (default 600)")
    parser.add_argument("--rate", type=float, default=5000.0, help="offered updates/s")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds per sample")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before the baseline")
    parser.add_argument("--db", metavar="DSN", help="PostgreSQL DSN (default: env or embedded)")
    parser.add_argument("--plot", type=Path, default=Path("soak.png"), help="PNG to write")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the samples")
    args = parser.parse_args(argv)
    dsn = args.db or os.environ.get("ARBTREE_TEST_DSN") or os.environ.get("ARBTREE_DB_DSN")
    report = soak(args.rate, args.duration, args.interval, args.warmup, dsn)
    print(render(report))
    print(plot(report, args.plot))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(msgspec.json.format(msgspec.json.encode(report), indent=2) + b"\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(run(sys.argv[1:]))
