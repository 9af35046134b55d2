"""Decode + book-apply throughput for Polymarket ``price_change`` entries and Kalshi deltas.

Reports entries/s for three stages over the same pre-built frames in the same run:

* ``raw``   msgspec typed decode into the wire structs only (the floor),
* ``decode`` our decoder: wire structs -> normalized fixed-point messages,
* ``apply`` decode + apply every delta to its L2 book (what the feed + quote cache do),

and the ratio of each to the raw floor. Run ``python bench/protocols_bench.py``; the
``run(argv)`` function is what ``arbtree bench protocols`` calls. Goal: >= 200k
entries/s for decode+apply on one core.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Sequence

import msgspec

from bench import signing_costs
from protocols.book import L2Book
from protocols.messages import BookDelta, BookSnapshot, InstrumentId
from protocols.venues import kalshi, polymarket


def _pm_frames(n_frames: int, n_assets: int, rng: random.Random) -> list[bytes]:
    """Realistic current-format frames: each order change is mirrored on the pair token."""
    frames = []
    for i in range(n_frames):
        pair = rng.randrange(n_assets // 2)
        yes, no = f"{10**70 + 2 * pair}", f"{10**70 + 2 * pair + 1}"
        entries = []
        for _ in range(rng.choice((1, 1, 2, 3))):
            cents = rng.randint(20, 80)
            size = "0" if rng.random() < 0.2 else f"{rng.randint(1, 50000)}.{rng.randint(0, 99)}"
            side = rng.choice(("BUY", "SELL"))
            other = "SELL" if side == "BUY" else "BUY"
            for asset, price, s in ((yes, cents, side), (no, 100 - cents, other)):
                entries.append(
                    {
                        "asset_id": asset,
                        "price": f"0.{price:02d}",
                        "size": size,
                        "side": s,
                        "hash": "0" * 40,
                        "best_bid": "0.49",
                        "best_ask": "0.51",
                    }
                )
        frames.append(
            msgspec.json.encode(
                {
                    "market": "0x" + "ab" * 32,
                    "price_changes": entries,
                    "timestamp": str(1_790_000_000_000 + i),
                    "event_type": "price_change",
                }
            )
        )
    return frames


def _kalshi_frames(n_frames: int, n_markets: int, rng: random.Random) -> list[bytes]:
    frames = []
    for i in range(n_frames):
        m = rng.randrange(n_markets)
        delta = rng.randint(1, 500)
        frames.append(
            msgspec.json.encode(
                {
                    "type": "orderbook_delta",
                    "sid": 1,
                    "seq": i + 2,
                    "msg": {
                        "market_ticker": f"KXBENCH-{m}",
                        "market_id": "00000000-0000",
                        "price_dollars": f"0.{rng.randint(1, 99):02d}00",
                        "delta_fp": f"{delta}.00",
                        "side": rng.choice(("yes", "no")),
                        "ts_ms": 1_790_000_000_000 + i,
                    },
                }
            )
        )
    return frames


class Stage(msgspec.Struct, frozen=True):
    """One stage over a venue's frames: the best time of the runs and the entries it did."""

    seconds: float
    count: int

    @property
    def rate(self) -> float:
        """Entries (or deltas) per second."""
        return self.count / self.seconds


def _best_of(repeats: int, fn: Callable[[], int]) -> Stage:
    best = float("inf")
    count = 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        count = fn()
        best = min(best, time.perf_counter() - t0)
    return Stage(best, count)


def _bench_polymarket(frames: list[bytes], repeats: int) -> dict[str, Stage]:
    raw_decoder = msgspec.json.Decoder(polymarket.WireMarketEvent)

    def raw() -> int:
        n = 0
        for f in frames:
            ev = raw_decoder.decode(f)
            if isinstance(ev, polymarket.WirePriceChange):
                n += len(ev.price_changes or ())
        return n

    def decode() -> int:
        dec = polymarket.MarketDecoder()
        n = 0
        for i, f in enumerate(frames):
            n += len(dec.decode(f, i))
        return n

    def apply() -> int:
        dec = polymarket.MarketDecoder()
        books: dict[InstrumentId, L2Book] = {}
        n = 0
        for i, f in enumerate(frames):
            for msg in dec.decode(f, i):
                book = books.get(msg.instrument)
                if book is None:
                    book = books[msg.instrument] = L2Book(msg.instrument)
                if isinstance(msg, BookDelta):
                    book.apply_delta(msg)
                    n += 1
        return n

    return {
        "raw": _best_of(repeats, raw),
        "decode": _best_of(repeats, decode),
        "apply": _best_of(repeats, apply),
    }


def _bench_kalshi(frames: list[bytes], repeats: int) -> dict[str, Stage]:
    raw_decoder = msgspec.json.Decoder(kalshi.WireFrame)

    def raw() -> int:
        for f in frames:
            raw_decoder.decode(f)
        return len(frames)

    def decode() -> int:
        dec = kalshi.Decoder()
        n = 0
        for i, f in enumerate(frames):
            n += len(dec.decode(f, i))
        return n

    def apply() -> int:
        dec = kalshi.Decoder()
        books: dict[InstrumentId, L2Book] = {}
        n = 0
        for i, f in enumerate(frames):
            for msg in dec.decode(f, i):
                if isinstance(msg, BookDelta | BookSnapshot):
                    book = books.get(msg.instrument)
                    if book is None:
                        book = books[msg.instrument] = L2Book(msg.instrument)
                    # Bench deltas are positive increments, so no level goes negative.
                    book.apply(msg)
                    n += 1
        return n

    return {
        "raw": _best_of(repeats, raw),
        "decode": _best_of(repeats, decode),
        "apply": _best_of(repeats, apply),
    }


def measure(frames: int, repeats: int, seed: int) -> dict[str, dict[str, Stage]]:
    """Per venue (``polymarket``, ``kalshi``), per stage (``raw``, ``decode``, ``apply``):
    the best of ``repeats`` runs over ``frames`` generated frames of that venue."""
    rng = random.Random(seed)
    pm_frames = _pm_frames(frames, 20, rng)
    k_frames = _kalshi_frames(frames, 20, rng)
    return {
        "polymarket": _bench_polymarket(pm_frames, repeats),
        "kalshi": _bench_kalshi(k_frames, repeats),
    }


def _report(name: str, unit: str, one: str, results: dict[str, Stage], frames: int) -> None:
    floor_s, floor_n = results["raw"].seconds, results["raw"].count
    floor_rate = floor_n / floor_s
    print(f"{name}: {frames} frames, {floor_n} {unit}")
    for stage, label in (
        ("raw", "raw msgspec decode (floor)"),
        ("decode", "decode -> messages"),
        ("apply", "decode + book apply"),
    ):
        secs, n = results[stage].seconds, results[stage].count
        rate = n / secs
        print(
            f"  {label:<28} {rate / 1e3:9.1f}k {unit}/s  {secs / n * 1e6:6.2f} us/{one}"
            f"  x{secs / n / (floor_s / floor_n):5.2f} floor"
        )
    verdict = "meets" if results["apply"].rate >= 200_000 else "BELOW"
    print(f"  decode+apply {verdict} the 200k {unit}/s goal (floor {floor_rate / 1e3:.0f}k/s)")


def run(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="arbtree bench protocols", description=__doc__)
    parser.add_argument("--frames", type=int, default=20_000, help="frames per venue")
    parser.add_argument("--repeats", type=int, default=5, help="best of N runs")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(list(argv))
    results = measure(args.frames, args.repeats, args.seed)
    print(f"python {sys.version.split()[0]}, msgspec {msgspec.__version__}, best of {args.repeats}")
    _report("polymarket price_change", "entries", "entry", results["polymarket"], args.frames)
    _report("kalshi orderbook_delta", "deltas", "delta", results["kalshi"], args.frames)
    signing_costs.report(max(100, args.frames // 20), args.repeats, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
