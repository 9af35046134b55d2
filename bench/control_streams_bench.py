"""Does a full set of ``/tree/stream`` clients slow the trading loop? Tick-to-decision
(every detector evaluation, ``bench.tree_stamps.captured_decisions``) through the whole
assembled tree at an offered sim rate, with ``max_streams`` clients at the interval floor
(``min_stream_interval_s``) and without, interleaved run by run. The clients are ``curl``
processes, so only the server's side of a stream (serializing the tree each interval,
writing it) lands on the trading process. Reported, never asserted.

    python -m bench.control_streams_bench --runs 3 --duration 8 --rate 1000
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from functools import partial
from pathlib import Path

import msgspec
import trio

from actors.observability.control import CONTROL_FILE, ControlInfo
from arbtree.runner import Assembly, RunOptions, run_app
from bench.e2e_bench import bench_config
from bench.percentiles import of_ns
from bench.tree_stamps import captured_decisions
from protocols.config.observability import ControlConfig


async def _one(
    rate: float, duration_s: float, dsn: str | None, streams: int, run_dir: Path
) -> list[int]:
    config = bench_config(rate, duration_s, dsn, run_dir)
    floor = ControlConfig().min_stream_interval_s
    decisions: list[int] = []

    async def observe(asm: Assembly) -> None:
        # control.json is written before the tree's later children start
        raw = await trio.Path(run_dir / CONTROL_FILE).read_bytes()
        info = msgspec.json.decode(raw, type=ControlInfo)
        url = f"{info.url}/tree/stream?interval={floor}"
        async with trio.open_nursery() as nursery:  # cancelled (curl killed) at the run's end
            for _ in range(streams):
                nursery.start_soon(
                    partial(
                        trio.run_process,
                        ["curl", "-sN", url],
                        stdout=subprocess.DEVNULL,
                        check=False,  # curl: 18 when the run ends the stream
                    )
                )

    with captured_decisions(decisions):
        await run_app(config, RunOptions(), "bench-streams", observe=observe)
    return decisions


def _run_dir() -> Path:
    run_dir = Path(tempfile.mkdtemp(prefix="arbtree-streams-bench-"))
    run_dir.chmod(0o755)  # the embedded server's user must reach its data directory
    return run_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.control_streams_bench")
    parser.add_argument("--rate", type=float, default=1000.0, help="offered sim updates/s")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per run")
    parser.add_argument("--runs", type=int, default=3, help="runs of each mode, interleaved")
    parser.add_argument("--db", metavar="DSN", help="PostgreSQL DSN (default: embedded)")
    args = parser.parse_args(argv)
    streams = ControlConfig().max_streams
    results: dict[str, list[int]] = {"no streams": [], f"{streams} streams": []}
    for run in range(args.runs):
        for label, count in ((f"{streams} streams", streams), ("no streams", 0)):
            samples = trio.run(_one, args.rate, args.duration, args.db, count, _run_dir())
            results[label].extend(samples)
            print(f"run {run + 1} {label:>11}: {_percentiles(samples)}", flush=True)
    for label, samples in results.items():
        print(f"all   {label:>11}: {_percentiles(samples)}")
    return 0


def _percentiles(samples_ns: list[int]) -> str:
    p = of_ns(samples_ns)
    return f"n={p.n:6d} p50={p.p50:5.0f} us p90={p.p90:5.0f} us p99={p.p99:6.0f} us"


if __name__ == "__main__":
    raise SystemExit(main())
