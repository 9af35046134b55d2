"""User-channel actors: our fills from the venues' private websockets, into the executor.

One actor per venue (children of the ``trading`` supervisor, after the executor):

* Polymarket: the user websocket (``/ws/user``), subscribed with
  ``{"auth": {...}, "markets": [condition ids], "type": "user"}`` ([] = all; docs/protocols.md),
  kept alive with a text ``PING``; frames decoded by ``polymarket.UserDecoder``.
* Kalshi: the market websocket, ``subscribe`` with channel ``fill`` (docs/protocols.md); the
  server pings, trio-websocket answers; frames decoded by ``kalshi.Decoder``.

Every decoded :class:`Fill` is sent into ``user_fills`` (BLOCK: a fill is never dropped);
the executor deduplicates against REST acks. The connection is re-opened with exponential
backoff and jitter; undecodable frames are counted (and logged, sampled). While connected,
:class:`UserChannelState` says so, so the executor may wait briefly for channel fills
(which carry the venue's real fee) before it falls back to REST-derived ones.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

import attrs
import msgspec
import trio
import trio_websocket

from actors.trading.polymarket_account import PolymarketAccount
from actors.trading.polymarket_client import PAPER_OWNER
from protocols.config.trading import UserChannelConfig
from protocols.errors import DecodeError
from protocols.messages import Fill, Venue
from protocols.tls import client_ssl_context
from protocols.venues import kalshi as kwire
from protocols.venues import polymarket as pwire
from supervision import Actor, ActorContext, Mailbox

log = logging.getLogger("arbtree.trading.user_channel")

_ENC = msgspec.json.Encoder()

HeadersFactory = Callable[[], list[tuple[bytes, bytes]]]


@attrs.define(eq=False)
class UserChannelState:
    """Shared between the user-channel actors and the executor (one Trio thread)."""

    connected: dict[Venue, bool] = attrs.field(factory=dict)
    events: dict[Venue, trio.Event] = attrs.field(factory=dict)

    def live(self, venue: Venue) -> bool:
        return self.connected.get(venue, False)

    def set(self, venue: Venue, connected: bool) -> None:
        self.connected[venue] = connected


_CONNECTION_ERRORS = (
    OSError,
    trio.TooSlowError,
    trio.BrokenResourceError,
    trio_websocket.HandshakeError,
    trio_websocket.ConnectionClosed,
)


def _connection_error(exc: BaseException) -> bool:
    """A lost or failed connection (possibly wrapped in exception groups)?"""
    if isinstance(exc, BaseExceptionGroup):
        return all(_connection_error(e) for e in exc.exceptions)
    return isinstance(exc, _CONNECTION_ERRORS)


def _sampled(count: int) -> bool:
    """Log the first 10 occurrences, then every 100th."""
    return count <= 10 or count % 100 == 0


@attrs.define(eq=False)
class UserChannel(Actor):
    venue: Venue
    url: str
    fills: Mailbox[Fill]
    config: UserChannelConfig = attrs.field(factory=UserChannelConfig)
    markets: tuple[str, ...] = ()
    # Polymarket live: the account whose key, secret and passphrase authenticate the
    # subscription (paper: the sim's key, no secret); its repr shows no secret.
    credentials: PolymarketAccount | None = None
    headers: HeadersFactory | None = None
    state: UserChannelState | None = None
    stats_sink: dict[str, Callable[[], dict[str, Any]]] | None = None
    rng: random.Random = attrs.field(factory=random.Random)
    connects: int = attrs.field(init=False, default=0)
    disconnects: int = attrs.field(init=False, default=0)
    frames: int = attrs.field(init=False, default=0)
    fills_sent: int = attrs.field(init=False, default=0)
    decode_errors: int = attrs.field(init=False, default=0)
    venue_errors: int = attrs.field(init=False, default=0)
    last_error: str = attrs.field(init=False, default="")

    def statistics(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "connected": self.state.live(self.venue) if self.state is not None else None,
            "connects": self.connects,
            "disconnects": self.disconnects,
            "frames": self.frames,
            "fills": self.fills_sent,
            "decode_errors": self.decode_errors,
            "venue_errors": self.venue_errors,
            "last_error": self.last_error,
        }

    def backoff(self, attempt: int) -> float:
        cfg = self.config
        base = min(cfg.reconnect_max_s, cfg.reconnect_min_s * 2.0 ** min(attempt, 32))
        return base * (1.0 + self.rng.random() * cfg.reconnect_jitter)

    async def run(
        self,
        ctx: ActorContext,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        if self.stats_sink is not None:
            self.stats_sink[f"user_channel_{self.venue}"] = self.statistics
        attempt = 0
        task_status.started()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._heartbeats, ctx)
            while True:
                frames_before = self.frames
                try:
                    await self._session(ctx)
                except Exception as exc:
                    if not _connection_error(exc):
                        raise  # a bug: let the supervisor see it
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    ctx.set_degraded(f"user channel down: {self.last_error}")
                    if _sampled(self.disconnects + 1):
                        ctx.log.warning("%s user channel: %s", self.venue, self.last_error)
                finally:
                    if self.state is not None:
                        self.state.set(self.venue, False)
                self.disconnects += 1
                attempt = 0 if self.frames > frames_before else attempt + 1
                await trio.sleep(self.backoff(attempt))

    async def _heartbeats(self, ctx: ActorContext) -> None:
        while True:
            ctx.heartbeat()
            await trio.sleep(0.5)

    async def _session(self, ctx: ActorContext) -> None:
        """One connection: subscribe, then forward fills until it ends (by an exception:
        closed, reset, handshake or timeout)."""
        cfg = self.config
        headers = self.headers() if self.headers is not None else None
        async with trio_websocket.open_websocket_url(
            self.url,
            extra_headers=headers,
            message_queue_size=cfg.message_queue_size,
            connect_timeout=cfg.connect_timeout_s,
            disconnect_timeout=1.0,
            ssl_context=client_ssl_context(cfg.ca_file) if cfg.ca_file else None,
        ) as ws:
            self.connects += 1
            await ws.send_message(self._subscribe())
            if self.state is not None:
                self.state.set(self.venue, True)
            ctx.set_healthy()
            ctx.log.info("%s user channel connected to %s", self.venue, self.url)
            decode = self._decoder()
            ping = self.venue is Venue.POLYMARKET
            next_ping = trio.current_time() + cfg.ping_interval_s
            while True:
                if ping and trio.current_time() >= next_ping:
                    await ws.send_message("PING")
                    next_ping = trio.current_time() + cfg.ping_interval_s
                frame: str | bytes | None = None
                with trio.move_on_at(next_ping if ping else float("inf")):
                    frame = await ws.get_message()
                if frame is None:
                    continue  # time to ping
                self.frames += 1
                for fill in decode(frame):  # never under a deadline: a fill is never lost
                    await self.fills.send(fill)
                    self.fills_sent += 1

    def _subscribe(self) -> str:
        if self.venue is Venue.POLYMARKET:
            account = self.credentials
            auth = {
                "apiKey": self.api_key,
                "secret": account.secret.reveal() if account is not None else "",
                "passphrase": account.passphrase.reveal() if account is not None else "",
            }
            msg = {"auth": auth, "markets": list(self.markets), "type": "user"}
            return _ENC.encode(msg).decode()
        return kwire.subscribe(1, ["fill"], list(self.markets)).decode()

    @property
    def api_key(self) -> str:
        """Ours: the owner our trades carry on the Polymarket user channel."""
        return self.credentials.api_key if self.credentials is not None else PAPER_OWNER

    def _decoder(self) -> Callable[[str | bytes], list[Fill]]:
        if self.venue is Venue.POLYMARKET:
            poly = pwire.UserDecoder(self.api_key)

            def decode_poly(frame: str | bytes) -> list[Fill]:
                try:
                    events = poly.decode(frame, time.monotonic_ns())
                except DecodeError as exc:
                    self._decode_error(exc)
                    return []
                return [e for e in events if isinstance(e, Fill)]

            return decode_poly
        kal = kwire.Decoder()

        def decode_kalshi(frame: str | bytes) -> list[Fill]:
            try:
                messages = kal.decode(frame, time.monotonic_ns())
            except DecodeError as exc:
                self._decode_error(exc)
                return []
            out: list[Fill] = []
            for m in messages:
                if isinstance(m, Fill):
                    out.append(m)
                elif isinstance(m, kwire.Control) and m.kind is kwire.ControlKind.ERROR:
                    self.venue_errors += 1
                    self.last_error = f"venue error {m.code}: {m.message}"
                    log.warning("kalshi user channel: %s", self.last_error)
            return out

        return decode_kalshi

    def _decode_error(self, exc: DecodeError) -> None:
        self.decode_errors += 1
        if _sampled(self.decode_errors):
            log.warning(
                "%s user channel: undecodable frame (%d so far): %s",
                self.venue,
                self.decode_errors,
                exc,
            )
