"""``arbtree bench`` with no area: every area's headline figures in one table, each beside
a floor measured in the same run and the ratio to it, and the asyncio peer beside the
tree on the same simulated workload.

The areas run one after another in this process (the sims in child processes, as in
``arbtree bench e2e``), reusing the area benchmarks' own measuring functions; ``--quick``
shrinks every run (under a minute here), ``--json PATH`` writes the table as JSON. Ratios
are figure / floor: above 1 is slower than the floor for times, below 1 is a fraction of
the floor's rate for throughputs. Figures are measurements of this machine in this run,
never assertions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from functools import partial
from pathlib import Path

import msgspec
import trio

from arbtree.config import AppConfig
from bench import e2e_bench, lifecycle_costs, protocols_bench, runtime_bench, storage_bench
from bench.market_costs import detector_cost
from bench.peer_run import run_peer_on_sim
from bench.percentiles import QUANTILES, Percentiles, of_ns
from bench.suite_floors import complement_floor
from bench.tree_run import RunFigures, run_tree
from supervision import OverflowPolicy

P99_GOAL_US = 1000.0  # the tick -> order p99 the highest-rate row asks for


class Row(msgspec.Struct, frozen=True, kw_only=True):
    """One figure beside its same-run floor. ``ratio`` = figure / floor."""

    area: str
    name: str
    figure: float
    unit: str
    floor_name: str
    floor: float | None
    ratio: float | None
    n: int | None = None


def row(
    area: str,
    name: str,
    figure: float,
    unit: str,
    floor_name: str,
    floor: float | None,
    n: int | None = None,
) -> Row:
    ratio = figure / floor if floor else None
    return Row(
        area=area,
        name=name,
        figure=figure,
        unit=unit,
        floor_name=floor_name,
        floor=floor,
        ratio=ratio,
        n=n,
    )


class PeerRow(msgspec.Struct, frozen=True, kw_only=True):
    """The tree and the asyncio peer on the same workload at one offered rate."""

    rate: float
    tree: RunFigures
    peer: RunFigures


class Machine(msgspec.Struct, frozen=True, kw_only=True):
    cpu: str
    cpus: int
    python: str
    system: str
    load_average: tuple[float, float, float]  # at the start: other work on the machine


class SuiteReport(msgspec.Struct, frozen=True, kw_only=True):
    started: str
    seconds: float
    quick: bool
    machine: Machine
    rows: tuple[Row, ...]
    peer: tuple[PeerRow, ...]


class Scale(msgspec.Struct, frozen=True):
    """Run sizes: the full suite, or ``--quick``."""

    quick: bool
    messages: int
    repeats: int
    restarts: int
    frames: int
    detector_updates: int
    storage_rows: int
    e2e_seconds: float
    warmup_s: float  # of each tree and peer run, from ready
    rates: tuple[float, ...]  # tick -> order rows
    ladder: tuple[float, ...]  # extra rates for the highest rate under the p99 goal
    peer_rates: tuple[float, ...]
    floor_samples: int


FULL = Scale(
    False, 100_000, 3, 300, 20_000, 20_000, 200_000, 10.0, 1.0, (1000, 5000, 10000),
    (250, 500, 2000),
    (1000, 5000), 2000,
)  # fmt: skip
QUICK = Scale(
    True, 20_000, 2, 100, 4_000, 5_000, 20_000, 4.0, 0.5, (1000, 5000, 10000), (), (1000,), 500
)


def machine() -> Machine:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return Machine(
        cpu=cpu,
        cpus=os.cpu_count() or 1,
        python=platform.python_version(),
        system=f"{platform.system()} {platform.release()}",
        load_average=os.getloadavg(),
    )


def _progress(text: str) -> None:
    print(f"arbtree bench: {text}", file=sys.stderr, flush=True)


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Crash storms of the restart rows would log every crash."""
    log = logging.getLogger(name)
    level, propagate = log.level, log.propagate
    handler = logging.NullHandler()
    log.addHandler(handler)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.propagate, log.level = propagate, level


# --------------------------------------------------------------------------- areas


def runtime_rows(s: Scale) -> list[Row]:
    def best(fn: Callable[[], float]) -> float:
        return min(fn() for _ in range(s.repeats))

    n, us = s.messages, 1e6 / s.messages
    raw = best(lambda: trio.run(runtime_bench.raw_hop, n, 64))
    hop = best(lambda: trio.run(runtime_bench.mailbox_hop, n, 64, OverflowPolicy.BLOCK))
    raw_b = best(lambda: trio.run(runtime_bench.raw_batch, n))
    batch = best(lambda: trio.run(runtime_bench.mailbox_batch, n, OverflowPolicy.BLOCK))
    with _quiet("arbtree"):
        restart = trio.run(runtime_bench.restart_latency, s.restarts, None)
    bare = trio.run(lifecycle_costs.bare_restart, s.restarts)
    actors = 50
    down = best(lambda: trio.run(lifecycle_costs.tree_shutdown, actors))
    bare_down = best(lambda: trio.run(lifecycle_costs.bare_shutdown, actors))
    a = "runtime"
    return [
        row(a, "mailbox hop (BLOCK, cap 64)", hop * us, "µs/msg", "trio channel hop", raw * us),
        row(a, "mailbox batch drain", batch * us, "µs/msg", "trio channel drain", raw_b * us),
        row(
            a,
            "restart, crash -> started (p50)",
            _median(restart) * 1e6,
            "µs",
            "bare task restart",
            _median(bare) * 1e6,
            len(restart),
        ),
        row(
            a,
            f"shutdown, {actors} idle actors",
            down * 1e6,
            "µs",
            "cancel a nursery",
            bare_down * 1e6,
        ),
    ]


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def protocol_rows(s: Scale) -> list[Row]:
    results = protocols_bench.measure(s.frames, s.repeats, seed=7)
    rows = []
    for venue, stages in results.items():
        rows.append(
            row(
                "protocols",
                f"{venue} decode + book apply",
                stages["apply"].rate / 1e3,
                "k updates/s",
                "raw msgspec decode",
                stages["raw"].rate / 1e3,
                stages["apply"].count,
            )
        )
    return rows


def market_rows(s: Scale) -> list[Row]:
    rows = []
    for markets in (100, 1_000, 10_000):
        cost = detector_cost(markets, s.detector_updates)
        floor = complement_floor(markets, s.detector_updates)
        rows.append(
            row(
                "market",
                f"detector per update, {markets:,} markets",
                cost,
                "µs",
                "bare complement check",
                floor,
                s.detector_updates,
            )
        )
    return rows


def storage_rows(s: Scale, dsn: str | None) -> list[Row]:
    figures = trio.run(storage_bench.measure, dsn, s.storage_rows, [], 0.0)
    return [
        row(
            "storage",
            "tick rows through the DbWriter",
            figures.actor_rows_per_s / 1e3,
            "k rows/s",
            "raw asyncpg COPY",
            figures.raw_rows_per_s / 1e3,
            s.storage_rows,
        )
    ]


class BotFigures(msgspec.Struct, frozen=True):
    """The single-task bot's (or the bot with empty hops') pass at one rate: its clock
    is the tree's (from the socket read that delivered the trigger frame)."""

    tick_to_decision: Percentiles  # read -> its complement check passed
    tick_to_order: Percentiles  # read -> its first leg written


def _config(rate: float, s: Scale, dsn: str | None, run_dir: Path, tls: bool) -> AppConfig:
    sim_cpus, _ = e2e_bench.split_cpus("auto")
    return e2e_bench.bench_config(rate, s.e2e_seconds, dsn, run_dir, sim_cpus, tls=tls)


def bot_at(rate: float, s: Scale, dsn: str | None, hops: int, tls: bool) -> BotFigures:
    """``bench e2e``'s single-task bot (``hops`` empty channel hops between its reader and
    its worker) on the tree's workload at ``rate``; triggers in its first second are not
    counted (``e2e_bench.WARMUP_NS``)."""
    with tempfile.TemporaryDirectory(prefix="arbtree-bench-bot-") as tmp:
        config = _config(rate, s, dsn, Path(tmp), tls)
        p = trio.run(e2e_bench.bot_pass, config, hops)
    counted = p.counted()
    return BotFigures(
        tick_to_decision=of_ns(t[1] - t[0] for t in counted),
        tick_to_order=of_ns(t[2] - t[0] for t in counted),
    )


def tree_at(rate: float, s: Scale, dsn: str | None, tls: bool) -> RunFigures:
    with tempfile.TemporaryDirectory(prefix="arbtree-bench-") as tmp:
        config = _config(rate, s, dsn, Path(tmp), tls)
        figures, _ = trio.run(partial(run_tree, config, warmup_s=s.warmup_s))
    return figures


def peer_at(rate: float, s: Scale, dsn: str | None, tls: bool) -> RunFigures:
    sim_cpus, _ = e2e_bench.split_cpus("auto")
    with tempfile.TemporaryDirectory(prefix="arbtree-bench-peer-") as tmp:
        config = _config(rate, s, dsn, Path(tmp), tls)
        sim_config = config.sim.to_sim_config(config.run.seed, Path(tmp))
        return trio.run(run_peer_on_sim, sim_config, s.e2e_seconds, s.warmup_s, dsn, sim_cpus)


BOT = "single-task bot"
BOT_HOPS = f"bot + {e2e_bench.HOPS} hops"


def e2e_rows(s: Scale, dsn: str | None, tls: bool, runs: dict[float, RunFigures]) -> list[Row]:
    """At each rate, interleaved as in ``bench e2e``: the single-task bot, the bot with
    the tree's number of empty hops, and the tree; tick -> opportunity and tick -> order
    of the tree (and of the bot + hops) beside the bot's, then the highest rate under the
    goal. Fills ``runs`` with the tree's figures at each rate (the peer rows reuse them)."""
    bots: dict[float, tuple[BotFigures, BotFigures]] = {}
    for rate in sorted({*s.rates, *s.ladder}):
        if rate in s.rates:
            _progress(f"e2e: the single-task bot (and + {e2e_bench.HOPS} hops) at {rate:g}/s")
            bots[rate] = (bot_at(rate, s, dsn, 0, tls), bot_at(rate, s, dsn, e2e_bench.HOPS, tls))
        _progress(f"e2e: the whole tree at {rate:g} updates/s for {s.e2e_seconds:g} s")
        runs[rate] = tree_at(rate, s, dsn, tls)
    rows: list[Row] = []
    for rate in s.rates:
        tree, (bot, hops) = runs[rate], bots[rate]
        at = f"@ {rate / 1000:g}k/s"
        for label, figures, floor, floor_name in (
            (
                "tick->opportunity",
                tree.tick_to_opportunity,
                bot.tick_to_decision,
                f"{BOT}: decided",
            ),
            ("tick->order", tree.tick_to_order, bot.tick_to_order, f"{BOT}: first leg"),
            (
                f"{BOT_HOPS}: tick->order",
                hops.tick_to_order,
                bot.tick_to_order,
                f"{BOT}: first leg",
            ),
        ):
            rows.extend(
                row(
                    "e2e",
                    f"{label} p{q:g} {at}",
                    figures.at(q),
                    "µs",
                    floor_name,
                    floor.at(q),
                    figures.n,
                )
                for q in QUANTILES
            )
    under = [
        rate for rate, r in runs.items() if r.tick_to_order.n and r.tick_to_order.p99 < P99_GOAL_US
    ]
    ladder = ",".join(f"{rate:g}" for rate in sorted(runs))
    rows.append(
        row(
            "e2e",
            f"highest rate, tick->order p99 < 1 ms (of {ladder})",
            max(under, default=0.0),
            "updates/s",
            "",
            None,
        )
    )
    return rows


# --------------------------------------------------------------------------- report


def run_suite(s: Scale, dsn: str | None, tls: bool = True) -> SuiteReport:
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    t0 = time.monotonic()
    info = machine()
    rows: list[Row] = []
    _progress("runtime")
    rows += runtime_rows(s)
    _progress("protocols")
    rows += protocol_rows(s)
    _progress("market")
    rows += market_rows(s)
    _progress("storage")
    with _quiet("arbtree.storage"), redirect_stdout(sys.stderr):  # its own report: progress
        rows += storage_rows(s, dsn)
    runs: dict[float, RunFigures] = {}
    rows += e2e_rows(s, dsn, tls, runs)
    peers = []
    for rate in s.peer_rates:
        _progress(f"peer: the asyncio bot at {rate:g} updates/s for {s.e2e_seconds:g} s")
        peers.append(PeerRow(rate=rate, tree=runs[rate], peer=peer_at(rate, s, dsn, tls)))
    return SuiteReport(
        started=started,
        seconds=round(time.monotonic() - t0, 1),
        quick=s.quick,
        machine=info,
        rows=tuple(rows),
        peer=tuple(peers),
    )


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.2f}" if value >= 1 else f"{value:.3f}"


def render(report: SuiteReport) -> str:
    """The table as GitHub markdown (readable as is on a terminal)."""
    m = report.machine
    out = [
        f"arbtree bench{' --quick' if report.quick else ''}: {report.started}, "
        f"{report.seconds:g} s; {m.cpu}, {m.cpus} CPUs, Python {m.python}, {m.system}; "
        f"load average at start {m.load_average[0]:.2f}",
        "",
        "| area | figure | value | unit | floor (same run) | floor | ratio | n |",
        "|---|---|--:|---|---|--:|--:|--:|",
    ]
    for r in report.rows:
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}x"
        out.append(
            f"| {r.area} | {r.name} | {_num(r.figure)} | {r.unit} | {r.floor_name or '-'} |"
            f" {_num(r.floor)} | {ratio} | {'' if r.n is None else r.n} |"
        )
    for p in report.peer:
        out += [
            "",
            f"tree vs asyncio peer, same sim workload, {p.rate:g} updates/s offered:",
            "",
            "| | tree | peer | tree / peer |",
            "|---|--:|--:|--:|",
        ]
        pairs: list[tuple[str, float | None, float | None]] = [
            (f"tick->order p{q:g} (µs)", p.tree.tick_to_order.at(q), p.peer.tick_to_order.at(q))
            for q in QUANTILES
        ]
        t, q = p.tree, p.peer
        pairs += [
            ("order legs written", t.orders, q.orders),
            ("window capture ratio", t.capture_ratio, q.capture_ratio),
            ("windows opened in the measured span", t.windows, q.windows),
            ("CPU ms per 1 000 updates", t.cpu_per_1k_updates_ms, q.cpu_per_1k_updates_ms),
            ("updates/s received", t.updates_per_s, q.updates_per_s),
        ]
        for name, tree, peer in pairs:
            ratio = f"{tree / peer:.2f}x" if tree is not None and peer else "-"
            out.append(f"| {name} | {_num(tree)} | {_num(peer)} | {ratio} |")
    return "\n".join(out)


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="arbtree bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small runs (under a minute)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the table here")
    parser.add_argument("--db", metavar="DSN", help="PostgreSQL DSN (default: env or embedded)")
    parser.add_argument(
        "--plain", action="store_true", help="ws:// and http:// (default: wss:// and https://)"
    )
    args = parser.parse_args(argv)
    dsn = args.db or os.environ.get("ARBTREE_TEST_DSN") or os.environ.get("ARBTREE_DB_DSN")
    _, ours = e2e_bench.split_cpus("auto")
    if ours:
        os.sched_setaffinity(0, ours)  # the sims' child processes get the other CPU
    report = run_suite(QUICK if args.quick else FULL, dsn, tls=not args.plain)
    print(render(report))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(msgspec.json.format(msgspec.json.encode(report), indent=2) + b"\n")
    return 0
