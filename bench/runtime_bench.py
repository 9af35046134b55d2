"""Runtime benchmark: mailboxes against raw trio channels, request/reply, restart latency.

Run as ``arbtree bench runtime`` or ``python -m bench.runtime_bench [--messages N]``. Every
figure is printed in absolute terms (µs) and, for mailboxes, as a ratio to the raw trio
memory channel measured in the same run. Goals: BLOCK <= 1.3x raw per message, batch drain
within 2x raw batch drain, a restart back in service < 1 ms plus its configured backoff.
"""

from __future__ import annotations

import argparse
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from protocols.tree import SupervisionEvent, SupervisionEventKind
from supervision import (
    Actor,
    ActorContext,
    Backoff,
    ChildSpec,
    Mailbox,
    OverflowPolicy,
    SupervisorSpec,
    open_tree,
)

Bench = Callable[[int], Awaitable[float]]  # returns seconds for n messages


# ------------------------------------------------------------ one hop per message


async def raw_hop(n: int, capacity: int) -> float:
    tx, rx = trio.open_memory_channel[int](capacity)

    async def producer() -> None:
        for i in range(n):
            await tx.send(i)

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(producer)
        for _ in range(n):
            await rx.receive()
    return time.perf_counter() - start


def _mailbox(policy: OverflowPolicy, capacity: int) -> Mailbox[int]:
    key = (lambda m: m) if policy is OverflowPolicy.COALESCE else None
    return Mailbox("bench", capacity, policy, key=key)


async def mailbox_hop(n: int, capacity: int, policy: OverflowPolicy) -> float:
    mb = _mailbox(policy, capacity)

    async def producer() -> None:
        for i in range(n):
            await mb.send(i)

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(producer)
        for _ in range(n):
            await mb.receive()
    return time.perf_counter() - start


# ------------------------------------------------------------------ batch drain

CHUNK = 256


async def raw_batch(n: int) -> float:
    tx, rx = trio.open_memory_channel[int](n)

    async def producer() -> None:
        for i in range(n):
            tx.send_nowait(i)
            if i % CHUNK == CHUNK - 1:
                await trio.lowlevel.checkpoint()

    start = time.perf_counter()
    got = 0
    async with trio.open_nursery() as nursery:
        nursery.start_soon(producer)
        while got < n:
            batch = [await rx.receive()]
            try:
                while len(batch) < 1024:
                    batch.append(rx.receive_nowait())
            except trio.WouldBlock:
                pass
            got += len(batch)
    return time.perf_counter() - start


async def mailbox_batch(n: int, policy: OverflowPolicy) -> float:
    mb = _mailbox(policy, n)

    async def producer() -> None:
        for i in range(n):
            mb.send_nowait(i)
            if i % CHUNK == CHUNK - 1:
                await trio.lowlevel.checkpoint()

    start = time.perf_counter()
    got = 0
    async with trio.open_nursery() as nursery:
        nursery.start_soon(producer)
        while got < n:
            got += len(await mb.receive_batch(1024))
    return time.perf_counter() - start


# ------------------------------------------------------------ request / reply


async def request_reply(n: int) -> list[float]:
    requests: Mailbox[tuple[int, Mailbox[int]]] = Mailbox("requests", 64)
    replies: Mailbox[int] = Mailbox("replies", 64)
    latencies: list[float] = []

    async def server() -> None:
        while True:
            value, reply_to = await requests.receive()
            await reply_to.send(value + 1)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(server)
        for i in range(n):
            t0 = time.perf_counter()
            await requests.send((i, replies))
            await replies.receive()
            latencies.append(time.perf_counter() - t0)
        nursery.cancel_scope.cancel(reason="bench done")
    return latencies


# ------------------------------------------------------------ restart latency


class _Crasher(Actor):
    def __init__(self, crashed_at: list[float]) -> None:
        self.crashed_at = crashed_at

    async def run(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        await ctx.inbox.receive()
        self.crashed_at.append(time.perf_counter())
        raise RuntimeError("bench crash")


async def restart_latency(n: int, backoff: Backoff | None) -> list[float]:
    crashed_at: list[float] = []
    started_at: list[float] = []
    restarted = trio.Event()
    inbox: Mailbox[int] = Mailbox("crasher", 4)

    def on_event(event: SupervisionEvent) -> None:
        if event.kind is SupervisionEventKind.STARTED and event.path.endswith("/crasher"):
            started_at.append(time.perf_counter())
            restarted.set()

    child = ChildSpec(
        id="crasher",
        start=lambda: _Crasher(crashed_at),
        backoff=backoff,
        mailboxes=(inbox,),
    )
    spec = SupervisorSpec(children=[child], max_restarts=10 * n, max_seconds=3600)
    async with open_tree(spec, name="bench", on_event=on_event, rng=random.Random(0)):
        for _ in range(n):
            restarted = trio.Event()
            inbox.send_nowait(1)
            await restarted.wait()
    # started_at[0] is the first start; each later start follows crash i
    return [s - c for c, s in zip(crashed_at, started_at[1:], strict=True)]


# ---------------------------------------------------------------------- main


def _best(fn: Callable[[], Awaitable[float]], repeat: int) -> float:
    return min(trio.run(fn) for _ in range(repeat))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="arbtree bench runtime", description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000, help="messages per measurement")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--restarts", type=int, default=300, help="restarts measured")
    args = parser.parse_args(argv)
    quiet = logging.getLogger("arbtree")  # restart storms would log every crash
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    n: int = args.messages
    rep: int = args.repeat
    us = 1e6 / n

    print(f"runtime bench: {n} messages, best of {rep}; µs per message (ratio to raw trio)")
    rows: list[tuple[str, float, float]] = []
    for capacity in (n, 64):
        raw = _best(lambda c=capacity: raw_hop(n, c), rep)  # type: ignore[misc]
        rows.append((f"raw channel hop, cap {capacity}", raw * us, 1.0))
        policies = list(OverflowPolicy) if capacity == n else [OverflowPolicy.BLOCK]
        for policy in policies:
            t = _best(lambda p=policy, c=capacity: mailbox_hop(n, c, p), rep)  # type: ignore[misc]
            rows.append((f"  mailbox {policy.value} hop, cap {capacity}", t * us, t / raw))
    raw_b = _best(lambda: raw_batch(n), rep)
    rows.append(("raw channel batch drain", raw_b * us, 1.0))
    for policy in OverflowPolicy:
        t = _best(lambda p=policy: mailbox_batch(n, p), rep)  # type: ignore[misc]
        rows.append((f"  mailbox {policy.value} batch drain", t * us, t / raw_b))
    width = max(len(r[0]) for r in rows)
    for label, per_msg, ratio in rows:
        print(f"  {label:<{width}}  {per_msg:8.3f} µs   {ratio:5.2f}x")

    def report(label: str, values: list[float]) -> None:
        print(
            f"  {label:<{width}}  p50 {_pct(values, 0.5) * 1e6:8.1f} µs"
            f"   p99 {_pct(values, 0.99) * 1e6:8.1f} µs   (n={len(values)})"
        )

    rr: list[float] = trio.run(request_reply, min(n, 20_000))
    report("request/reply, two hops", rr)
    no_backoff: list[float] = trio.run(restart_latency, args.restarts, None)
    report("restart, no backoff", no_backoff)
    with_backoff: list[float] = trio.run(
        restart_latency, min(args.restarts, 100), Backoff(0.005, 0.005, 0.0, reset_after_s=0.0)
    )
    report("restart, backoff 5 ms", with_backoff)
    return 0


def _main() -> Any:
    raise SystemExit(run(__import__("sys").argv[1:]))


if __name__ == "__main__":
    _main()
