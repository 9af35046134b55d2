"""What the HTTP venue clients share: the live-mode switches, secrets that never print,
and :class:`OrderEntry`, the order-entry path every client builds on.

Transport errors are classified for the executor's safety rules (``http_transport``):
connect errors and pool timeouts never reached the venue (:class:`NotSent`); anything
after the request may have been written (read/write timeout, reset, server closed without
a reply, 5xx) is :class:`Ambiguous`; 429 is :class:`RateLimited`.
"""

from __future__ import annotations

import os
import time

import attrs
import httpx

from actors.trading.http_transport import (
    ReadyRequest,
    StartedRequest,
    build_request,
    finish_request,
    ready_request,
    request_size,
    send_request,
)
from actors.trading.send_timing import SendTimes, Trace
from actors.trading.venue_clients import OrderStatus
from protocols.config.trading import ExecutorConfig
from protocols.messages import OrderIntent, OrderReject

LIVE_ENV = "ARBTREE_LIVE"


class LiveModeRefused(RuntimeError):
    """Live trading was requested without both switches, or cannot be done safely."""


@attrs.frozen(repr=False)
class Secret:
    """A secret value that never shows up in a repr, a log line or a traceback."""

    _value: str

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


def check_live_switches(cfg: ExecutorConfig, env: dict[str, str] | None = None) -> None:
    """Raise unless live mode has both the config flag and ``ARBTREE_LIVE=yes``."""
    environ = os.environ if env is None else env
    if cfg.mode != "live":
        return
    missing = []
    if not cfg.live:
        missing.append("the config flag executor.live = true")
    if environ.get(LIVE_ENV) != "yes":
        missing.append(f"the environment variable {LIVE_ENV}=yes")
    if missing:
        raise LiveModeRefused(
            "live trading refused: executor.mode is 'live' but "
            + " and ".join(missing)
            + " is missing (both switches are required; paper mode is the default)"
        )


def now_ns() -> int:
    return time.monotonic_ns()


class OrderEntry:
    """A venue client's order entry: ``order_parts`` builds the request, ``order_result``
    reads the reply; it is sent the usual way (``place``) or written from the caller's
    own step when a pooled connection is idle (``ready_place``, its ``write``, then
    ``finish_place``)."""

    http: httpx.AsyncClient
    send_times: SendTimes | None  # set by the executor: when orders hit the socket

    def order_parts(
        self, intent: OrderIntent, *, signed: bool = True
    ) -> tuple[str, bytes, dict[str, str]]:
        """(path, body, headers) of the POST that places ``intent``. ``signed=False``: the
        same request without the live signatures and without remembering it, for a
        rehearsal (:meth:`rehearse_order`); such a request is never sent."""
        raise NotImplementedError

    def order_result(self, intent: OrderIntent, resp: httpx.Response) -> OrderStatus | OrderReject:
        raise NotImplementedError

    def _trace(self, intent: OrderIntent) -> Trace | None:
        timing = self.send_times
        return timing.trace_for(intent) if timing is not None else None

    async def place(self, intent: OrderIntent) -> OrderStatus | OrderReject:
        path, body, headers = self.order_parts(intent)
        req = build_request(self.http, "POST", path, body, headers, self._trace(intent))
        return self.order_result(intent, await send_request(self.http, req))

    def ready_place(self, intent: OrderIntent) -> ReadyRequest | None:
        """The order's request built, with an idle connection to write it on (see
        :func:`ready_request`), or ``None``."""
        path, body, headers = self.order_parts(intent)
        return ready_request(self.http, "POST", path, body, headers, self._trace(intent))

    def rehearse_order(self, intent: OrderIntent) -> int:
        """Build ``intent``'s request as :meth:`ready_place` would (body, head) and drop it:
        nothing is signed, remembered, taken from the pool or sent. It keeps the order
        path's code and data in the CPU caches between orders seconds apart
        (:mod:`actors.trading.rehearsal`). Returns the request's size in bytes."""
        path, body, headers = self.order_parts(intent, signed=False)
        return request_size(self.http, "POST", path, body, headers)

    async def finish_place(
        self, intent: OrderIntent, started: StartedRequest
    ) -> OrderStatus | OrderReject:
        return self.order_result(intent, await finish_request(started))
