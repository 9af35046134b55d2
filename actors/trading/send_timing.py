"""When an order's bytes left for the venue: tick-to-order and venue round-trip latency.

The venue clients hand each order request an httpcore ``trace`` callback (an httpx request
extension) built here. httpcore calls it as the request goes out; on
``http11.send_request_body.complete`` the whole request has been written to the socket,
which is where the issue's tick-to-order clock stops, and on
``http11.receive_response_headers.complete`` the venue has answered. No timestamps are
taken by wrapping code from outside, and nothing is logged per order.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs

from protocols.messages import OrderIntent

if TYPE_CHECKING:
    from actors.observability.metrics import Metrics

Trace = Callable[[str, dict[str, Any]], Awaitable[None]]

SENT = "http11.send_request_body.complete"
ANSWERED = "http11.receive_response_headers.complete"


@attrs.define(eq=False)
class SendTimes:
    """Per order sent: tick -> socket, detect -> socket, socket -> venue answer."""

    metrics: Metrics | None = None
    keep: int = 4096  # recent samples kept for statistics() and benchmarks
    sent: int = 0
    tick_to_order_ns: collections.deque[int] = attrs.field(init=False)
    detect_to_order_ns: collections.deque[int] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.tick_to_order_ns = collections.deque(maxlen=self.keep)
        self.detect_to_order_ns = collections.deque(maxlen=self.keep)

    def trace_for(self, intent: OrderIntent) -> Trace:
        sent_at = 0

        async def trace(event: str, info: dict[str, Any]) -> None:
            nonlocal sent_at
            if event == SENT:
                # The transport may report when the bytes left (a request written from an
                # earlier step than this trace call, see keepalive_transport.write_now).
                sent_at = info.get("sent_ns") or time.monotonic_ns()
                self.on_sent(intent, sent_at)
            elif event == ANSWERED and sent_at and self.metrics is not None:
                rtt = (time.monotonic_ns() - sent_at) / 1e9
                self.metrics.order_round_trip.labels(intent.instrument.venue.value).observe(rtt)

        return trace

    def on_sent(self, intent: OrderIntent, now_ns: int) -> None:
        self.sent += 1
        metrics = self.metrics
        if intent.trigger_recv_ns:
            tick = now_ns - intent.trigger_recv_ns
            self.tick_to_order_ns.append(tick)
            if metrics is not None:
                metrics.tick_to_order.observe(tick / 1e9)
        if intent.detect_ns and intent.leg_index == 0:
            detect = now_ns - intent.detect_ns
            self.detect_to_order_ns.append(detect)
            if metrics is not None:
                metrics.opportunity_to_order.observe(detect / 1e9)

    def statistics(self) -> dict[str, Any]:
        def pct(values: collections.deque[int], q: float) -> float | None:
            if not values:
                return None
            ordered = sorted(values)
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000, 1)

        return {
            "orders_sent": self.sent,
            "tick_to_order_us": {
                "p50": pct(self.tick_to_order_ns, 0.5),
                "p99": pct(self.tick_to_order_ns, 0.99),
            },
            "detect_to_order_us": {
                "p50": pct(self.detect_to_order_ns, 0.5),
                "p99": pct(self.detect_to_order_ns, 0.99),
            },
        }
