"""The tree's own timestamps, collected while it runs: every order leg it hands to a
socket and every detector decision. The one home of this capture for every benchmark
that runs the whole tree (``bench e2e``, the suite, the soak, the control-streams bench).

The clock is the tree's: a leg carries the trigger frame's socket-read time (the feed's
``FeedWebSocket.read_ns``), the detection and the fund manager's decision, and the
executor's ``SendTimes`` stamps the moment its bytes were handed to the (TLS) socket.
Capturing wraps ``SendTimes.on_sent`` and the detector ``Engine``'s ``eval_hook`` for the
duration of a ``with`` block; the tree carries no benchmark code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import msgspec

from actors.detector.actor import Engine
from actors.trading.send_timing import SendTimes
from bench.market_bench import after_warmup
from protocols.messages import OrderIntent


class LegSent(msgspec.Struct, frozen=True, gc=False):
    """One order leg written to its socket (ns, ``time.monotonic_ns``)."""

    read_ns: int  # the trigger frame's socket read returned
    detect_ns: int  # the detector emitted the opportunity
    intent_ns: int  # the fund manager's decision started
    leg_index: int
    sent_ns: int  # the leg's bytes handed to the socket


class Execution(msgspec.Struct, frozen=True, gc=False):
    """One two-leg execution of a trigger: its stamps in order (ns)."""

    read_ns: int
    detect_ns: int
    intent_ns: int
    first_ns: int  # the earlier leg written
    second_ns: int  # the later one


@contextmanager
def captured_legs(out: list[LegSent], on_send: Callable[[], None] | None = None) -> Iterator[None]:
    """Append a ``LegSent`` to ``out`` per order leg the executor writes (unwinds, which
    have no trigger, are left out); ``on_send`` is called at every send (the e2e bench
    arms its step instrument with it)."""
    original = SendTimes.on_sent

    def on_sent(self: SendTimes, intent: OrderIntent, now_ns: int) -> None:
        original(self, intent, now_ns)
        if on_send is not None:
            on_send()
        if intent.trigger_recv_ns:
            out.append(
                LegSent(
                    intent.trigger_recv_ns,
                    intent.detect_ns,
                    intent.intent_ns,
                    intent.leg_index,
                    now_ns,
                )
            )

    SendTimes.on_sent = on_sent  # type: ignore[method-assign]
    try:
        yield
    finally:
        SendTimes.on_sent = original  # type: ignore[method-assign]


@contextmanager
def captured_decisions(out: list[int]) -> Iterator[None]:
    """Append tick-to-decision (ns) of every candidate evaluation, emitted or not, of every
    detector engine created meanwhile, after each engine's first ``WARMUP_DECISIONS``
    (``bench.market_bench.after_warmup``, as ``bench market`` measures it)."""
    original = Engine.__init__

    def init(self: Engine, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.eval_hook = after_warmup(out)

    Engine.__init__ = init  # type: ignore[method-assign]
    try:
        yield
    finally:
        Engine.__init__ = original  # type: ignore[method-assign]


def executions(legs: Iterable[LegSent]) -> list[Execution]:
    """The legs grouped per trigger (read, detect); a trigger with fewer than two legs
    written (an execution cut short) is left out."""
    groups: dict[tuple[int, int], list[LegSent]] = {}
    for leg in legs:
        groups.setdefault((leg.read_ns, leg.detect_ns), []).append(leg)
    out = []
    for (read, detect), group in groups.items():
        if len(group) < 2:
            continue
        sent = sorted(g.sent_ns for g in group)
        out.append(Execution(read, detect, min(g.intent_ns for g in group), sent[0], sent[1]))
    return out
