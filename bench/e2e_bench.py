"""``arbtree bench e2e``: tick-to-order through the whole assembled tree (``run_app``)
against the sim at an offered load, with the floor measured in the same run.

The sim runs in a child process (``[sim] process = true``, ``arbtree.sim_process``): in
production the venue is another machine, and an in-process sim would share the trading
system's Trio loop, so every scheduler round of the trading path could also run the sim's
book generation and websocket fan-out and the figures would include the venue's own work.
Frames and order requests cross loopback sockets between the two processes.

Tick-to-order, per order, from the timestamps the system itself carries and takes: the
trigger tick's receive time (``OrderIntent.trigger_recv_ns``, set by the feed, carried by
the detector's Opportunity and the fund manager's intents) to the moment httpcore reports
the request written to the socket (the executor's ``SendTimes``, fed by the venue clients'
``trace`` extension; the bench only collects what ``SendTimes.on_sent`` sees). Split into
tick -> detect (feed, cache, detector) and detect -> socket (fund manager, executor,
client). The same figures are exported live as ``arbtree_tick_to_order_seconds`` and
``arbtree_opportunity_to_order_seconds``. tick -> detect has one sample per order pair
(a few dozen a run); ``tick_to_decision`` has one per candidate evaluation, emitted or
not (the detector's ``eval_hook``, as in ``arbtree bench market``; the first
``WARMUP_DECISIONS`` excluded), so the market path inside the whole app compares with
the market bench.

Floor (same run, measured first, in the bench's own process): one decode of a sim frame of
the same size with msgspec + four raw mailbox hops (feed -> cache -> detector -> fund
manager -> executor, the same Mailbox type, one message in flight; printed back to back
and paced one a millisecond, ``bench.floors``) + one ``send`` of an order request's bytes,
serialized beforehand, on a connected socket to the REST port of a sim child process
(``bench.floors.raw_send_floor``). That sim process is
the floor's own, started the same way as the pipeline's (``open_sim_process``) but quiet
(one market, 10 updates/s, no windows): the pipeline's sim lives and dies inside
``run_app``, one per offered rate, and the raw call's figure (client side, up to the write)
does not depend on which loopback sim answers it. Reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import trio
import trio.lowlevel
from hdrh.histogram import HdrHistogram

from actors.detector.actor import Engine
from actors.trading.send_timing import SendTimes
from arbtree.config import AppConfig, load_app_config
from arbtree.runner import RunOptions, run_app
from bench.floors import raw_hops, raw_send_floor
from bench.market_bench import after_warmup
from protocols.messages import OrderIntent
from supervision.idle import IdleStrategy

HOPS = 4
PACE_S = 0.001  # the paced floor: one message a millisecond, as at 1k updates/s


def _hist() -> HdrHistogram:
    return HdrHistogram(1, 60_000_000, 3)


def _fmt(name: str, h: HdrHistogram) -> str:
    if h.get_total_count() == 0:
        return f"{name:<30} n=     0"
    p50, p99 = h.get_value_at_percentile(50), h.get_value_at_percentile(99)
    return (
        f"{name:<30} n={h.get_total_count():>6}  p50={p50:>8} us  p99={p99:>8} us"
        f"  max={h.get_max_value():>8} us"
    )


@contextmanager
def captured_sends(samples: list[tuple[int, int, int, int]]) -> Iterator[None]:
    """Collect, per order the executor writes to a socket, the timestamps the system
    itself carries and takes: (trigger tick received, detected, intent emitted by the fund
    manager, request written)."""
    original = SendTimes.on_sent

    def on_sent(self: SendTimes, intent: OrderIntent, now_ns: int) -> None:
        original(self, intent, now_ns)
        if intent.trigger_recv_ns:  # unwinds carry none
            samples.append((intent.trigger_recv_ns, intent.detect_ns, intent.intent_ns, now_ns))

    SendTimes.on_sent = on_sent  # type: ignore[method-assign]
    try:
        yield
    finally:
        SendTimes.on_sent = original  # type: ignore[method-assign]


@contextmanager
def captured_decisions(samples: list[int]) -> Iterator[None]:
    """Collect tick-to-decision (ns) of every candidate evaluation of every detector
    engine created meanwhile, after the first ``WARMUP_DECISIONS``."""
    original = Engine.__init__
    on_decision = after_warmup(samples)

    def init(self: Engine, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.eval_hook = on_decision

    Engine.__init__ = init  # type: ignore[method-assign]
    try:
        yield
    finally:
        Engine.__init__ = original  # type: ignore[method-assign]


def split_cpus(mode: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(the sim's CPUs, ours): with ``auto`` and at least two CPUs, the sim gets the last
    one and this process the others, as a remote venue would never take our CPU."""
    mine = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if mode != "auto" or len(mine) < 2:
        return (), ()
    return (mine[-1],), tuple(mine[:-1])


def bench_config(
    rate: float,
    duration_s: float,
    dsn: str | None,
    run_dir: Path,
    sim_cpus: tuple[int, ...] = (),
    idle: IdleStrategy = "block",
    sim_step_s: float = 0.01,
) -> AppConfig:
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
    )
    storage = base.storage if dsn is None else replace(base.storage, dsn=dsn)
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
            window_rate=3.0,
            window_duration_s=1.0,
            step_interval_s=sim_step_s,
            process=True,
            cpus=sim_cpus,
        ),
        trading=replace(base.trading, fund=replace(fund, limits=limits)),
        storage=storage,
    )


async def _pipeline(config: AppConfig) -> dict[str, HdrHistogram]:
    samples: list[tuple[int, int, int, int]] = []
    decisions: list[int] = []
    with captured_sends(samples), captured_decisions(decisions):
        await run_app(config, RunOptions(), "bench-e2e")
    tick_to_decision = _hist()
    for ns in decisions:
        tick_to_decision.record_value(max(1, ns // 1000))
    tick_to_order, tick_to_detect, detect_to_socket = _hist(), _hist(), _hist()
    detect_to_intent, intent_to_socket = _hist(), _hist()
    detections = set()
    for trigger, detect, intent, sent in samples:
        tick_to_order.record_value(max(1, (sent - trigger) // 1000))
        detect_to_socket.record_value(max(1, (sent - detect) // 1000))
        detect_to_intent.record_value(max(1, (intent - detect) // 1000))
        intent_to_socket.record_value(max(1, (sent - intent) // 1000))
        if (trigger, detect) not in detections:
            detections.add((trigger, detect))
            tick_to_detect.record_value(max(1, (detect - trigger) // 1000))
    return {
        "tick_to_decision (every eval)": tick_to_decision,
        "tick_to_order": tick_to_order,
        "tick_to_detect": tick_to_detect,
        "detect_to_socket": detect_to_socket,
        "  detect_to_intent (fund mgr)": detect_to_intent,
        "  intent_to_socket (executor)": intent_to_socket,
    }


async def _floor(n: int, rest_url: str, frame: bytes) -> dict[str, HdrHistogram]:
    decode = _hist()
    for _ in range(n):
        t0 = time.monotonic_ns()
        msgspec.json.decode(frame)
        decode.record_value(max(1, (time.monotonic_ns() - t0) // 1000))
    hops = await raw_hops(HOPS, n)
    paced = await raw_hops(HOPS, max(1, n // 4), pace_s=PACE_S)
    raw_send = _hist()
    body = msgspec.json.encode(
        {
            "ticker": "NOPE",
            "side": "no",
            "action": "buy",
            "count_fp": "5.00",
            "no_price_dollars": "0.0100",
            "time_in_force": "fill_or_kill",
        }
    )
    await raw_send_floor(rest_url + "/trade-api/v2/portfolio/orders", body, n, 50, raw_send)
    return {
        "floor_decode": decode,
        "floor_hops": hops,
        "floor_send": raw_send,
        "floor_hops_paced": paced,
    }


async def _floor_with_sim(n: int, sim_cpus: tuple[int, ...]) -> dict[str, HdrHistogram]:
    from actors.sim import SimConfig
    from arbtree.sim_process import open_sim_process

    config = SimConfig(seed=3, markets=1, rate=10.0, window_rate=0.0)
    async with open_sim_process(config, cpus=sim_cpus) as sim:
        m = sim.markets[0]
        # A Polymarket price_change frame of the sim's usual shape (one market, two entries).
        frame = json.dumps(
            {
                "event_type": "price_change",
                "market": m.condition_id,
                "timestamp": "1780000000000",
                "price_changes": [
                    {
                        "asset_id": m.yes_token,
                        "price": "0.52",
                        "size": "120.5",
                        "side": "BUY",
                        "hash": "0" * 40,
                        "best_bid": "0.52",
                        "best_ask": "0.54",
                    },
                    {
                        "asset_id": m.no_token,
                        "price": "0.48",
                        "size": "120.5",
                        "side": "SELL",
                        "hash": "0" * 40,
                        "best_bid": "0.46",
                        "best_ask": "0.48",
                    },
                ],
            }
        ).encode()
        return await _floor(n, sim.rest_url, frame)


def _ratio(a: int, b: int) -> str:
    return f"{a / max(1, b):.2f}"


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="arbtree bench e2e")
    parser.add_argument("--rates", default="1000,10000", help="offered sim updates/s, comma list")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per rate")
    parser.add_argument("--db", metavar="DSN", help="PostgreSQL DSN (default: embedded)")
    parser.add_argument("-n", type=int, default=2000, help="floor samples")
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
        default=0.01,
        metavar="S",
        help="sim time per step: its updates go out together (0.001: a steady stream at 1k/s)",
    )
    args = parser.parse_args(argv)
    sim_cpus, our_cpus = split_cpus(args.pin)
    if our_cpus:
        os.sched_setaffinity(0, our_cpus)
        print(f"sim process pinned to CPU {sim_cpus}, trading process to CPU {our_cpus}")
    floor = trio.run(_floor_with_sim, args.n, sim_cpus)

    def total(q: float, hops: str) -> int:
        parts = ("floor_decode", hops, "floor_send")
        return sum(floor[k].get_value_at_percentile(q) for k in parts)

    f50, f99 = total(50, "floor_hops"), total(99, "floor_hops")
    c50, c99 = total(50, "floor_hops_paced"), total(99, "floor_hops_paced")
    print(
        "floor (same run): decode + 4 raw mailbox hops + one send of the order's bytes"
        " (sim in a child process); hops back to back, and paced one a millisecond"
    )
    for name, h in floor.items():
        print(_fmt(name, h))
    print(f"{'floor total':<30} p50={f50:>8} us  p99={f99:>8} us")
    print(f"{'floor total, paced hops':<30} p50={c50:>8} us  p99={c99:>8} us")
    for rate in (float(r) for r in args.rates.split(",")):
        with tempfile.TemporaryDirectory(prefix="arbtree-bench-e2e-") as tmp:
            config = bench_config(
                rate, args.duration, args.db, Path(tmp), sim_cpus, args.idle, args.sim_step
            )
            hists = trio.run(_pipeline, config)
        t = hists["tick_to_order"]
        print(
            f"\noffered {rate:g} updates/s in {args.sim_step * 1000:g} ms sim steps for"
            f" {args.duration:g} s, idle {args.idle}, sim in a child process"
            " (frame received -> order request handed to the socket)"
        )
        for name, h in hists.items():
            print(_fmt(name, h))
        if t.get_total_count():
            p50, p99 = t.get_value_at_percentile(50), t.get_value_at_percentile(99)
            print(
                f"{'ratio tick_to_order/floor':<30} p50={_ratio(p50, f50)}  "
                f"p99={_ratio(p99, f99)}   goal: p50 <= 100 us, p99 <= 1000 us"
            )
            print(f"{'  ... / paced floor':<30} p50={_ratio(p50, c50)}  p99={_ratio(p99, c99)}")
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(run(sys.argv[1:]))
