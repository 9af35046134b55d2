"""The HTTP layer under the venue clients: pooled httpx clients, the order path's
prepared requests, and what a response means for the order (sent or not, ambiguous,
rate limited).

Split out of ``http_clients`` so the venue clients there only speak their venue's API.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import httpx

from actors.trading.keepalive_transport import Exchange, KeepAliveTransport
from actors.trading.send_timing import Trace
from actors.trading.venue_clients import Ambiguous, NotSent, RateLimited
from protocols.config.trading import HttpConfig


def make_http_client(cfg: HttpConfig, base_url: str) -> httpx.AsyncClient:
    """One pooled keep-alive client per venue with explicit timeouts; plain-http venues
    (the sim) get :class:`KeepAliveTransport` unless ``cfg.transport`` says httpcore."""
    limits = httpx.Limits(
        max_connections=cfg.max_connections,
        max_keepalive_connections=cfg.max_keepalive_connections,
        keepalive_expiry=cfg.keepalive_expiry_s,
    )
    transport: KeepAliveTransport | None = None
    if cfg.transport == "keepalive" and httpx.URL(base_url).scheme == "http":
        transport = KeepAliveTransport.from_limits(limits)
    client = httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(
            connect=cfg.connect_timeout_s,
            read=cfg.read_timeout_s,
            write=cfg.write_timeout_s,
            pool=cfg.pool_timeout_s,
        ),
        limits=limits,
        transport=transport,
        http2=False,
    )
    if transport is not None:
        _KEEPALIVE[client] = transport
    return client


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


@attrs.define(eq=False)
class _Prepared:
    """What ``AsyncClient.build_request`` recomputes on every call, computed once."""

    base: str
    defaults: list[tuple[bytes, bytes]]
    timeout: dict[str, float | None]
    urls: dict[str, httpx.URL] = attrs.field(factory=dict)


_PREPARED: weakref.WeakKeyDictionary[httpx.AsyncClient, _Prepared] = weakref.WeakKeyDictionary()
# The clients make_http_client gave a KeepAliveTransport: start_request can write on them.
_KEEPALIVE: weakref.WeakKeyDictionary[httpx.AsyncClient, KeepAliveTransport] = (
    weakref.WeakKeyDictionary()
)
_MAX_URLS = 64  # fixed paths (order entry, balances); per-order lookup paths come and go


def build_request(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    content: bytes | None,
    headers: dict[str, str] | None,
    trace: Trace | None = None,
) -> httpx.Request:
    """``client.build_request`` without re-parsing the URL and re-merging the client's
    headers and cookies on every call (~50 µs -> ~12 µs on the order path). Same result
    for our clients: base URL + path, the client's default headers then the call's, the
    client's timeouts; they never hold cookies."""
    prep = _PREPARED.get(client)
    if prep is None:
        prep = _PREPARED[client] = _Prepared(
            base=str(client.base_url).rstrip("/"),
            defaults=[(k.encode(), v.encode()) for k, v in client.headers.multi_items()],
            timeout=client.timeout.as_dict(),
        )
    url = prep.urls.get(path)
    if url is None:
        if len(prep.urls) >= _MAX_URLS:
            prep.urls.clear()
        url = prep.urls[path] = httpx.URL(prep.base + path)
    raw = prep.defaults
    if headers:
        overridden = {k.lower().encode() for k in headers}
        raw = [h for h in raw if h[0].lower() not in overridden]
        raw += [(k.encode(), v.encode()) for k, v in headers.items()]
    extensions: dict[str, Any] = {"timeout": prep.timeout}
    if trace is not None:
        extensions["trace"] = trace  # httpcore reports the request's progress to it
    return httpx.Request(method, url, content=content, headers=raw, extensions=extensions)


@contextmanager
def _classified() -> Iterator[None]:
    """What a transport error means for the order: never sent, or maybe sent."""
    try:
        yield
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise NotSent(f"{type(exc).__name__}: {exc}") from exc
    except httpx.TransportError as exc:  # timeout/reset after the request may have left
        raise Ambiguous(f"{type(exc).__name__}: {exc or 'no response'}") from exc


def _checked(resp: httpx.Response) -> httpx.Response:
    if resp.status_code == 429:
        raise RateLimited(f"429: {resp.text[:200]}", _retry_after(resp))
    if resp.status_code >= 500:
        raise Ambiguous(f"HTTP {resp.status_code}: {resp.text[:200]}")
    return resp


async def request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    trace: Trace | None = None,
) -> httpx.Response:
    with _classified():
        if params is None:
            resp = await client.send(build_request(client, method, url, content, headers, trace))
        else:
            resp = await client.request(method, url, content=content, headers=headers,
                                        params=params)  # fmt: skip
    return _checked(resp)


@attrs.define(eq=False)
class StartedRequest:
    """A request already written to the venue's socket (see :func:`start_request`)."""

    transport: KeepAliveTransport
    exchange: Exchange


def start_request(client: httpx.AsyncClient, req: httpx.Request) -> StartedRequest | None:
    """Write ``req`` now, from the caller's step, on an idle pooled keep-alive connection;
    :func:`finish_request` reads the reply. ``None`` (nothing written) when the client
    has no :class:`KeepAliveTransport`, has auth or event hooks (they run inside
    ``client.send``, which this path skips), or has no idle connection: then use
    :func:`send_request`. Never raises."""
    transport = _KEEPALIVE.get(client)
    if transport is None or client.auth is not None:
        return None
    hooks = client.event_hooks
    if hooks["request"] or hooks["response"]:
        return None
    exchange = transport.start(req)
    return None if exchange is None else StartedRequest(transport, exchange)


async def finish_request(started: StartedRequest) -> httpx.Response:
    """The reply to a started request, with :func:`request`'s error classes."""
    with _classified():
        resp = await started.transport.complete(started.exchange)
    return _checked(resp)


async def send_request(client: httpx.AsyncClient, req: httpx.Request) -> httpx.Response:
    """``client.send(req)`` with :func:`request`'s error classes."""
    with _classified():
        resp = await client.send(req)
    return _checked(resp)
