"""``arbtree bench e2e``: tick -> first and second leg through the whole assembled tree
(``run_app``) against the sim, compared in the same run with a hand-written bot doing the
same trigger job in one Trio task (``bench.single_task_bot``), and with that bot plus the
tree's number of empty channel hops.

The clock, the same for all three: it starts when the socket read that delivered the
trigger frame returned, before the websocket parse (the tree's feed takes
``FeedWebSocket.read_ns``; the bot the same point of its own read), and stops when each
leg's bytes were handed to the socket (the tree: the executor's ``SendTimes``, fed by the
transport; the bot: after its ``send_all``). Over TLS (``wss://``, ``https://``, the sim's
own CA) unless ``--plain``.

The sim runs in a child process pinned to the last CPU (a remote venue never takes our
CPU), a fresh one per measured pass with the same seed and config; it injects complement
windows only (the one-venue bot's job) often enough for hundreds of triggers a pass. The
passes are interleaved: every round runs bot, bot + hops and tree at every rate. A Trio
instrument (``bench.task_steps``) times every task step of the tree's pass once it sent
its first order, so the longest steps name what else held the thread while trading.
Reported, never asserted.
"""

from __future__ import annotations

import argparse
import os
import ssl
import tempfile
from pathlib import Path

import attrs
import msgspec
import trio
from hdrh.histogram import HdrHistogram

from arbtree.config import AppConfig, load_app_config
from arbtree.runner import RunOptions, run_app
from arbtree.sim_process import open_sim_process
from bench.percentiles import histogram
from bench.single_task_bot import SingleTaskBot
from bench.task_steps import TaskSteps
from bench.tree_stamps import LegSent, captured_legs, executions
from supervision.idle import IdleStrategy

HOPS = 4  # feed -> cache -> detector -> fund manager -> executor
WARMUP_NS = 1_000_000_000  # triggers in a pass's first second are not counted
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


@attrs.define(eq=False)
class Pass:
    """One measured pass: per trigger, stage stamps (ns) keyed by stage name."""

    name: str
    stages: tuple[str, ...]  # stamp names in order; the first is the read, then ..., legs
    triggers: list[tuple[int, ...]] = attrs.field(factory=list)
    steps: TaskSteps | None = None

    def counted(self) -> list[tuple[int, ...]]:
        if not self.triggers:
            return []
        start = min(t[0] for t in self.triggers) + WARMUP_NS
        return [t for t in self.triggers if t[0] >= start]


def bench_config(
    rate: float,
    duration_s: float,
    dsn: str | None,
    run_dir: Path,
    sim_cpus: tuple[int, ...] = (),
    idle: IdleStrategy = "block",
    sim_step_s: float = 0.001,
    window_rate: float = 50.0,
    tls: bool = True,
) -> AppConfig:
    """The paper setup with complement windows every 20 ms (0.3 s each, 40 markets), 10
    shares an opportunity (the sim's cash lasts the run), the complement strategy only (the
    bot's job), no exposure limits, and no quote-age limits (the bot has none; a quiet
    token's book often sits unchanged longer than the default 0.5 s)."""
    base = load_app_config(None)
    replace = msgspec.structs.replace
    fund = base.trading.fund
    big = "1000000"
    limits = replace(
        fund.limits,
        max_exposure_per_instrument=big,
        max_exposure_per_pair=big,
        max_exposure_per_venue=big,
        max_exposure_total=big,
        daily_loss_limit=big,
        max_opportunity_age_s=30.0,
        max_open_positions=100_000,
    )
    storage = base.storage if dsn is None else replace(base.storage, dsn=dsn)
    detector = replace(
        base.market.detector, max_size="10", strategies=["complement"], max_quote_age_s=30.0
    )
    return replace(
        base,
        run=replace(
            base.run,
            seed=3,
            duration_s=duration_s,
            run_dir=str(run_dir),
            status_interval_s=duration_s,
            idle=idle,
        ),
        sim=replace(
            base.sim,
            rate=rate,
            markets=40,
            window_rate=window_rate,
            window_duration_s=0.3,
            window_kinds=("poly_complement",),
            step_interval_s=sim_step_s,
            process=True,
            cpus=sim_cpus,
            tls=tls,
        ),
        market=replace(base.market, detector=detector),
        trading=replace(base.trading, fund=replace(fund, limits=limits)),
        storage=storage,
    )


def variant(config: AppConfig, name: str) -> AppConfig:
    """The tree's config for a named A/B variant of ``--only``: ``tree`` as configured;
    ``tree-queued``: no direct dispatch on any edge; ``tree-exec-queued``: the executor's
    edge queued; ``tree-httpcore``: httpx's own transport for orders;
    ``tree-norehearse``: no rehearsals of the decision and the order building."""
    replace = msgspec.structs.replace
    market, trading = config.market, config.trading
    if name == "tree-queued":
        market = replace(
            market,
            quote_cache=replace(market.quote_cache, direct=False),
            detector=replace(market.detector, direct=False),
        )
        ex = trading.executor
        trading = replace(
            trading, fund=replace(trading.fund, direct=False), executor=replace(ex, direct=False)
        )
    elif name == "tree-exec-queued":
        trading = replace(trading, executor=replace(trading.executor, direct=False))
    elif name == "tree-norehearse":
        trading = replace(
            trading,
            fund=replace(trading.fund, rehearse_interval_s=0.0),
            executor=replace(trading.executor, rehearse_interval_s=0.0),
        )
    elif name == "tree-httpcore":
        ex = trading.executor
        trading = replace(
            trading, executor=replace(ex, http=replace(ex.http, transport="httpcore"))
        )
    elif name != "tree":
        raise ValueError(f"unknown tree variant {name!r}")
    return replace(config, market=market, trading=trading)


TREE_VARIANTS = (
    "tree",
    "tree-queued",
    "tree-exec-queued",
    "tree-httpcore",
    "tree-norehearse",
)


async def tree_pass(config: AppConfig, name: str = "tree") -> Pass:
    legs: list[LegSent] = []
    steps = TaskSteps()
    trio.lowlevel.add_instrument(steps)
    try:
        with captured_legs(legs, on_send=steps.arm), steps:
            await run_app(variant(config, name), RunOptions(), "bench-e2e")
    finally:
        trio.lowlevel.remove_instrument(steps)
    result = Pass(name, ("read", "detect", "intent", "leg1", "leg2"), steps=steps)
    result.triggers = [
        (e.read_ns, e.detect_ns, e.intent_ns, e.first_ns, e.second_ns) for e in executions(legs)
    ]
    return result


async def bot_pass(config: AppConfig, hops: int) -> Pass:
    with tempfile.TemporaryDirectory(prefix="arbtree-bench-bot-") as tmp:
        sim_config = config.sim.to_sim_config(config.run.seed, Path(tmp))
        async with open_sim_process(sim_config, cpus=config.sim.cpus) as sim:
            context = None
            if sim.ca_pem is not None:
                context = ssl.create_default_context(cadata=sim.ca_pem.decode())
            bot = SingleTaskBot(
                sim.polymarket_ws_url, sim.polymarket_rest_url, sim.markets, ssl_context=context
            )
            await bot.run(config.run.duration_s or 10.0, hops=hops)
            await sim.stop()
    name = "bot" if hops == 0 else f"bot+{hops}hops"
    result = Pass(name, ("read", "decided", "leg1", "leg2"))
    result.triggers = [(t.read_ns, t.decided_ns, t.first_ns, t.second_ns) for t in bot.triggers]
    return result


def _us(ns: int) -> int:
    return max(1, ns // 1000)


def leg_hists(p: Pass) -> tuple[HdrHistogram, HdrHistogram]:
    first, second = histogram(), histogram()
    for t in p.counted():
        first.record_value(_us(t[-2] - t[0]))
        second.record_value(_us(t[-1] - t[0]))
    return first, second


def stage_p50s(runs: list[Pass]) -> list[tuple[str, int]]:
    """p50 (µs) of each stage between consecutive stamps, on every run's counted
    triggers."""
    out = []
    p = runs[0]
    counted = [t for r in runs for t in r.counted()]
    for i in range(1, len(p.stages)):
        h = histogram()
        for t in counted:
            h.record_value(_us(t[i] - t[i - 1]))
        out.append((f"{p.stages[i - 1]}->{p.stages[i]}", h.get_value_at_percentile(50)))
    return out


def _pcts(h: HdrHistogram) -> str:
    return "  ".join(f"p{q:g}={h.get_value_at_percentile(q):>6}" for q in PERCENTILES)


def report(rate: float, passes: dict[str, list[Pass]]) -> None:
    print(f"\n=== {rate:g} updates/s (all rounds pooled; µs from the socket read) ===")
    merged: dict[str, tuple[HdrHistogram, HdrHistogram]] = {}
    for name, runs in passes.items():
        first, second = histogram(), histogram()
        for p in runs:
            f, s = leg_hists(p)
            first.add(f)
            second.add(s)
        merged[name] = (first, second)
        print(f"{name:<12} first leg  n={first.get_total_count():>5}  {_pcts(first)}")
        print(f"{'':<12} second leg n={second.get_total_count():>5}  {_pcts(second)}")
        per_round = [leg_hists(p)[0].get_value_at_percentile(50) for p in runs]
        print(f"{'':<12} first-leg p50 per round: {per_round}")
        stages = ", ".join(f"{k} {v}" for k, v in stage_p50s(runs))
        print(f"{'':<12} stages p50 (all rounds): {stages}")
    for tree_name in (n for n in TREE_VARIANTS if n in merged):
        if "bot" in merged:
            bot, tree = merged["bot"][0], merged[tree_name][0]
            r50 = tree.get_value_at_percentile(50) / max(1, bot.get_value_at_percentile(50))
            r99 = tree.get_value_at_percentile(99) / max(1, bot.get_value_at_percentile(99))
            print(
                f"ratio {tree_name}/bot first leg: p50 {r50:.2f} (goal <= 2)"
                f"  p99 {r99:.2f} (goal <= 3)"
            )
        gap = histogram()
        for p in passes[tree_name]:
            for t in p.counted():
                gap.record_value(_us(t[-1] - t[-2]))
        print(
            f"{tree_name} second leg after first: p50 {gap.get_value_at_percentile(50)} us"
            " (goal <= 50)"
        )
        steps = [p.steps for p in passes[tree_name] if p.steps is not None]
        if steps:
            print(
                f"{tree_name}'s longest task steps (last round; µs): name, steps, p99, p99.9, max"
            )
            for name, n, p99, p999, mx in steps[-1].longest():
                print(f"  {name[:60]:<60} {n:>7} {p99:>6} {p999:>6} {mx:>7}")
            for gen, h in sorted(steps[-1].gc_by_generation.items()):
                print(
                    f"  gc generation {gen}: {h.get_total_count()} collections, p50"
                    f" {h.get_value_at_percentile(50)} p99 {h.get_value_at_percentile(99)}"
                    f" max {h.get_max_value()} us"
                )


def split_cpus(mode: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(the sim's CPUs, ours): with ``auto`` and at least two CPUs, the sim gets the last
    one and this process the others, as a remote venue would never take our CPU."""
    mine = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if mode != "auto" or len(mine) < 2:
        return (), ()
    return (mine[-1],), tuple(mine[:-1])


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="arbtree bench e2e")
    parser.add_argument("--rates", default="1000,10000", help="offered sim updates/s, comma list")
    parser.add_argument("--duration", type=float, default=12.0, help="seconds per pass")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--db", metavar="DSN", help="PostgreSQL DSN (default: embedded)")
    parser.add_argument(
        "--only",
        default="bot,hops,tree",
        help="which passes, comma list of bot, hops, tree (and its variants tree-queued: "
        "no direct dispatch, tree-httpcore: httpx's transport for orders)",
    )
    parser.add_argument(
        "--pin",
        choices=("auto", "none"),
        default="auto",
        help="auto: the sim's process on the last CPU, this one on the others",
    )
    parser.add_argument(
        "--idle",
        choices=("block", "spin"),
        default="block",
        help="[run] idle of the measured system (spin: busy-poll)",
    )
    parser.add_argument(
        "--sim-step",
        type=float,
        default=0.001,
        metavar="S",
        help="sim time per step: its updates go out together (0.001: a steady stream)",
    )
    parser.add_argument(
        "--window-rate", type=float, default=50.0, help="complement windows per second"
    )
    parser.add_argument(
        "--plain", action="store_true", help="ws:// and http:// (default: wss:// and https://)"
    )
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    sim_cpus, our_cpus = split_cpus(args.pin)
    if our_cpus:
        os.sched_setaffinity(0, our_cpus)
        print(f"sim process pinned to CPU {sim_cpus}, trading process to CPU {our_cpus}")
    rates = [float(r) for r in args.rates.split(",")]
    results: dict[float, dict[str, list[Pass]]] = {r: {} for r in rates}
    for round_no in range(args.rounds):
        for rate in rates:
            with tempfile.TemporaryDirectory(prefix="arbtree-bench-e2e-") as tmp:
                config = bench_config(
                    rate,
                    args.duration,
                    args.db,
                    Path(tmp),
                    sim_cpus,
                    args.idle,
                    args.sim_step,
                    args.window_rate,
                    tls=not args.plain,
                )
                plan = [("bot", 0), ("hops", HOPS), *((name, -1) for name in TREE_VARIANTS)]
                for key, hops in plan:
                    if key not in only:
                        continue
                    if hops < 0:
                        p = trio.run(tree_pass, config, key)
                    else:
                        p = trio.run(bot_pass, config, hops)
                    results[rate].setdefault(p.name, []).append(p)
                    print(
                        f"round {round_no + 1} rate {rate:g}: {p.name} {len(p.counted())} triggers",
                        flush=True,
                    )
    for rate in rates:
        report(rate, results[rate])
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(run(sys.argv[1:]))
