"""The feed actor: one websocket connection to one venue's market data.

Life of a connection (``Feed._session``):

1. ``open_feed_websocket`` (:mod:`actors.feeds.websocket`: the ``websockets`` sans-I/O
   protocol read by this task, one bounded send queue with its own sender task);
2. queue the venue's subscribe frames; start the liveness timer for every instrument;
3. run, side by side: the read loop (hot path), the venue's keepalive, the liveness
   check, the resync-request listener and venue extras (REST resync worker);
4. any of them ending the session raises :class:`Reconnect` (with a reason) or lets a
   websocket/OS error escape; the actor marks every book of this venue stale in the quote
   cache, counts the reconnect by reason and waits as the :class:`ReconnectPolicy` says
   (backoff + jitter, circuit breaker) before the next session.

Hot path (``_read_loop``): one ``await`` per socket read, which returns every message the
read completed (one ``recv_ns`` for all of them: they had all arrived). They are handled
in batches of up to ``max_batch``: each frame decoded once, the venue adapter checks it
(sequence per frame; hash and crossed once per batch, on the state the batch leaves),
and the batch goes on as one :class:`MarketDataBatch` to the quote cache (BLOCK mailbox;
``Mailbox.hand_off``: the feed waits only when the cache's inbox is full). Then the feed
steps aside until the loop is idle (:func:`supervision.idle.wait_until_idle`;
``pipeline_first``), so the cache, the detector and what they wake run before this
task's bookkeeping and next socket read rather than behind them: on a CPU gone cold
while idle, a read that finds nothing (a failed ``recv``, the epoll registration) takes
tens of µs. A loop that never goes idle cannot hold the feed back for long: the
liveness check cuts a wait older than ``liveness.check_interval_s`` (a cancel scope per
read would itself cost tens of µs on the tick's path). Under load one read holds tens
of frames, so per-batch work is shared by all of them. No logging per message above
DEBUG; raw frames are logged only when ``raw_frame_logging`` is on; decode errors are
counted and logged sampled (the 1st and every ``decode_error_log_every``-th).

Venue specifics live in adapters (:mod:`actors.feeds.polymarket`, ``kalshi``,
``binance``) implementing :class:`VenueAdapter`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs
import trio

from actors.feeds.liveness import Liveness
from actors.feeds.messages import FeedMessage, FeedOutput, MarkStale, ResyncRequest
from actors.feeds.reconnect import ReconnectPolicy
from actors.feeds.websocket import (
    FeedWebSocket,
    HandshakeFailed,
    SendBacklogFull,
    WebSocketClosed,
    open_feed_websocket,
)
from actors.shutdown_phases import Phase
from protocols.config.market import FeedConfig
from protocols.errors import DecodeError
from protocols.messages import InstrumentId, MarketData, MarketDataBatch, Venue
from protocols.tls import client_ssl_context
from supervision import Actor, ActorContext, Mailbox, OverflowPolicy
from supervision.idle import wait_until_idle

if TYPE_CHECKING:
    from actors.observability.metrics import Metrics

log = logging.getLogger("arbtree.feeds")


class Reconnect(Exception):
    """End this session and reconnect; ``reason`` is a short code for counters."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@attrs.define(eq=False)
class FeedStats:
    """Counters of one feed; owned by the wiring so they survive actor restarts."""

    frames: int = 0
    updates: int = 0
    batches: int = 0
    decode_errors: int = 0
    connects: int = 0
    connect_failures: int = 0
    reconnects: dict[str, int] = attrs.field(factory=dict)
    resubscribes: int = 0
    resyncs: dict[str, int] = attrs.field(factory=dict)
    stale_marks: int = 0
    hash_checks: int = 0
    hash_mismatches: int = 0
    top_mismatches: int = 0  # Polymarket: claimed best bid/ask != the shadow book's
    seq_gaps: int = 0
    breaker_trips: int = 0
    idle_waits_cut: int = 0  # waits for an idle loop cut by the liveness check
    connected: bool = False
    last_reconnect_reason: str = ""
    sessions_with_data: int = 0

    def count_reconnect(self, reason: str) -> None:
        self.reconnects[reason] = self.reconnects.get(reason, 0) + 1
        self.last_reconnect_reason = reason

    def count_resync(self, reason: str) -> None:
        self.resyncs[reason] = self.resyncs.get(reason, 0) + 1


def resync_mailbox(name: str, capacity: int = 1024) -> Mailbox[ResyncRequest]:
    """quote_cache -> feed resync requests: COALESCE per instrument."""
    return Mailbox(name, capacity, OverflowPolicy.COALESCE, key=_resync_key)


def _resync_key(r: ResyncRequest) -> tuple[Venue, str]:
    return (r.instrument.venue, r.instrument.symbol)


class Session:
    """What an adapter may do during one connection (owned by the feed task)."""

    def __init__(self, feed: Feed, ws: FeedWebSocket) -> None:
        self.feed = feed
        self.ws = ws
        self.cfg = feed.config
        self.stats = feed.stats
        self.liveness = Liveness(feed.config.liveness)
        self.out: list[FeedOutput] = []  # flushed after each drained batch
        self.updates: list[MarketData] = []
        self.had_data = False
        self.text_ping_outstanding_since: float | None = None  # Polymarket PING -> PONG
        # The read loop waiting for the loop to go idle: since when (trio time), and the
        # scope the liveness check cancels to cut a wait that lasts too long.
        self.idle_since: float | None = None
        self.idle_guard: trio.CancelScope | None = None

    def send_control(self, frame: str | bytes) -> None:
        """Queue a text frame (bytes: UTF-8 JSON) for the websocket's sender (never blocks
        the read path)."""
        try:
            self.ws.send_text_nowait(frame)
        except SendBacklogFull:
            raise Reconnect("control_backlog") from None

    def mark_stale(self, instruments: tuple[InstrumentId, ...], reason: str) -> None:
        """Emit a stale mark in order with the data (pending updates go first)."""
        self.flush_updates()
        self.stats.stale_marks += 1
        self.out.append(
            MarkStale(
                venue=self.cfg.venue,
                instruments=instruments,
                reason=reason,
                at_ns=time.monotonic_ns(),
            )
        )

    def flush_updates(self) -> None:
        if self.updates:
            self.out.append(
                MarketDataBatch(
                    venue=self.cfg.venue, updates=tuple(self.updates), recv_ns=time.monotonic_ns()
                )
            )
            self.updates = []


class VenueAdapter:
    """Venue-specific behaviour of a feed. One instance per session."""

    venue: Venue
    text_ping: bool = False  # Polymarket: text "PING"; else websocket ping frames

    def __init__(self, session: Session) -> None:
        self.session = session

    def subscribe(self) -> None:
        """Queue the subscribe frames and start liveness for the configured instruments."""
        raise NotImplementedError

    def handle(self, frame: bytes, recv_ns: int, now: float) -> int:
        """Decode one frame into ``session.updates`` (+ checks); return updates added.
        Raises :class:`DecodeError` for a bad frame."""
        raise NotImplementedError

    def end_batch(self, now: float) -> None:
        """Called once per batch, after its frames and before it is sent on: integrity
        checks of the batch's final state (what the cache will publish)."""

    def after_batch(self, now: float) -> None:
        """Called once per batch after it was sent on (with direct dispatch: after the
        tick's way to an order): checks whose verdict cannot change what this batch
        delivers, only act from a later one (a mismatch must repeat before a resync)."""

    def resubscribe(self, keys: tuple[str, ...], reason: str) -> None:
        """Ask the venue again for these instruments (liveness) ."""
        raise NotImplementedError

    def resync(self, instrument: InstrumentId, reason: str) -> None:
        """The cache asked for a fresh snapshot of ``instrument``."""
        self.resubscribe((instrument.symbol,), reason)

    async def extra(self, nursery: trio.Nursery) -> None:
        """Start venue-specific helper tasks (REST resync worker)."""


AdapterFactory = Callable[[Session], VenueAdapter]


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        out: list[BaseException] = []
        for sub in exc.exceptions:
            out.extend(_leaves(sub))
        return out
    return [exc]


def classify(exc: BaseException) -> tuple[str, str] | None:
    """A session's end -> ``(reason, detail)``; None for anything that is not a
    connection problem (a bug, or a cancellation: let it propagate)."""
    leaves = _leaves(exc)
    if any(isinstance(e, trio.Cancelled) for e in leaves):
        return None
    for e in leaves:
        if isinstance(e, Reconnect):
            return e.reason, e.detail
    for e in leaves:
        if isinstance(e, HandshakeFailed):
            return "handshake", str(e)
        if isinstance(e, WebSocketClosed):
            return "closed", str(e)
        if isinstance(e, SendBacklogFull):
            return "control_backlog", str(e)
        if isinstance(e, trio.TooSlowError):
            return "connect_timeout", ""
        if isinstance(e, (OSError, trio.BrokenResourceError)):
            return "os_error", str(e)
    return None


@attrs.define(eq=False)
class Feed(Actor):
    """A market-data feed actor; ``adapter`` picks the venue (see ``feed_for``)."""

    config: FeedConfig
    out: Mailbox[FeedMessage]
    adapter: AdapterFactory
    resync: Mailbox[ResyncRequest] | None = None
    stats: FeedStats = attrs.field(factory=FeedStats)
    metrics: Metrics | None = None
    rng: random.Random = attrs.field(factory=random.Random)
    connected_event: trio.Event | None = None  # tests: set when a session is subscribed
    _policy: ReconnectPolicy | None = attrs.field(init=False, default=None)
    _log: logging.LoggerAdapter[logging.Logger] | logging.Logger = attrs.field(
        init=False, default=log
    )

    async def run(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        self._log = ctx.log
        cfg = self.config
        policy = self._policy = ReconnectPolicy(cfg.reconnect, cfg.breaker, self.rng)
        stop = trio.Event()

        async def stop_feed() -> None:
            stop.set()

        unregister = ctx.shutdown.add_task(Phase.STOP_FEEDS, f"{ctx.path}:close", stop_feed)
        task_status.started()  # ready: connecting is the feed's own business
        try:
            async with trio.open_nursery() as nursery:

                async def watch_stop() -> None:
                    await stop.wait()
                    nursery.cancel_scope.cancel(reason="stop-feeds phase")

                nursery.start_soon(watch_stop)
                await self._connect_forever(ctx, policy)
        finally:
            unregister()
            self.stats.connected = False

    async def _connect_forever(self, ctx: ActorContext, policy: ReconnectPolicy) -> None:
        venue = self.config.venue.value
        while True:
            try:
                await self._session(ctx, policy)
                reason, detail = "closed", ""
            except BaseException as exc:  # classified below; unknown errors re-raise
                classified = classify(exc)
                if classified is None:
                    raise
                reason, detail = classified
            self.stats.connected = False
            self.stats.count_reconnect(reason)
            if self.metrics is not None:
                self.metrics.feed_reconnects.labels(venue, reason).inc()
                self.metrics.feed_connected.labels(venue).set(0)
            # Every book of this venue is unknown from now until its next snapshot.
            await self.out.send(
                MarkStale(
                    venue=self.config.venue,
                    instruments=(),
                    reason=f"feed {reason}",
                    at_ns=time.monotonic_ns(),
                )
            )
            self.stats.stale_marks += 1
            had_data = self._last_had_data
            delay = policy.next_delay(trio.current_time(), had_data=had_data)
            self.stats.breaker_trips = policy.breaker_trips
            ctx.set_degraded(f"reconnecting ({reason}); breaker {policy.state}")
            ctx.log.info(
                "feed %s: reconnect in %.3fs (%s%s)",
                self.config.name,
                delay,
                reason,
                f": {detail}" if detail else "",
            )
            await trio.sleep(delay)

    _last_had_data: bool = attrs.field(init=False, default=False)

    async def _session(self, ctx: ActorContext, policy: ReconnectPolicy) -> None:
        cfg = self.config
        self._last_had_data = False
        try:
            ws_cm = open_feed_websocket(
                cfg.url,
                connect_timeout=cfg.connect_timeout_s,
                read_bytes=cfg.receive_buffer_bytes,
                max_message_bytes=cfg.max_message_bytes,
                ssl_context=client_ssl_context(cfg.ca_file) if cfg.ca_file else None,
            )
            async with ws_cm as ws:
                self.stats.connects += 1
                policy.on_connected(trio.current_time())
                session = Session(self, ws)
                adapter = self.adapter(session)
                adapter.subscribe()
                self.stats.connected = True
                if self.metrics is not None:
                    self.metrics.feed_connected.labels(cfg.venue.value).set(1)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._keepalive, session, adapter)
                    nursery.start_soon(self._liveness, session, adapter)
                    if self.resync is not None:
                        nursery.start_soon(self._resync_listener, session, adapter)
                    await adapter.extra(nursery)
                    if self.connected_event is not None:
                        self.connected_event.set()
                    await self._read_loop(ctx, session, adapter, policy)
        finally:
            self.stats.connected = False

    # ------------------------------------------------------------------ hot path

    async def _read_loop(
        self, ctx: ActorContext, s: Session, adapter: VenueAdapter, policy: ReconnectPolicy
    ) -> None:
        while True:
            with trio.CancelScope() as guard:
                s.idle_guard = guard
                await self._read_batches(ctx, s, adapter, policy)
            # Cancelled by the liveness check: the loop did not go idle within a check
            # interval after a batch. Read again now.

    async def _read_batches(
        self, ctx: ActorContext, s: Session, adapter: VenueAdapter, policy: ReconnectPolicy
    ) -> None:
        ws = s.ws
        cfg = self.config
        stats = self.stats
        out = self.out
        max_batch = max(1, cfg.max_batch)
        raw_log = cfg.raw_frame_logging
        log_every = max(1, cfg.decode_error_log_every)
        liveness = s.liveness
        handle = adapter.handle
        metrics_msgs = (
            self.metrics.feed_messages.labels(cfg.venue.value) if self.metrics is not None else None
        )
        pipeline_first = cfg.pipeline_first
        while True:
            # One socket read, and every message it completed. A read holding only part of
            # a frame (or only a ping) gives none.
            frames = await ws.receive_messages()
            if not frames:
                continue
            # Every frame of this read had arrived when the read returned: one receive
            # time for all of them, taken before the websocket parse (``read_ns``), so the
            # parse and a frame's wait behind earlier frames of the same read are counted.
            recv_ns = ws.read_ns
            now = trio.current_time()
            liveness.last_frame = now
            sent = False
            for start in range(0, len(frames), max_batch):
                batch = frames if len(frames) <= max_batch else frames[start : start + max_batch]
                n_updates = 0
                for frame in batch:
                    if raw_log:
                        ctx.log.debug("raw %s %r", cfg.name, frame)
                    try:
                        n_updates += handle(frame, recv_ns, now)
                    except DecodeError as exc:
                        stats.decode_errors += 1
                        if stats.decode_errors % log_every == 1 or log_every == 1:
                            ctx.log.warning(
                                "feed %s: decode error #%d: %s (sample %r)",
                                cfg.name,
                                stats.decode_errors,
                                exc.reason,
                                exc.sample[:120],
                            )
                adapter.end_batch(now)
                stats.frames += len(batch)
                stats.batches += 1
                if n_updates:
                    stats.updates += n_updates
                    if not s.had_data:
                        s.had_data = True
                        self._last_had_data = True
                        stats.sessions_with_data += 1
                        policy.on_data()
                        ctx.set_healthy()
                s.flush_updates()
                if s.out:
                    items = s.out
                    s.out = []
                    sent = True
                    # One message per batch (see FeedMessage); BLOCK edge: waits only
                    # when full.
                    await out.hand_off(items[0] if len(items) == 1 else tuple(items))
                adapter.after_batch(now)
                if s.out:  # what those checks raised
                    items = s.out
                    s.out = []
                    await out.hand_off(items[0] if len(items) == 1 else tuple(items))
            try:
                if sent and pipeline_first:
                    # The batch's way to a decision (cache, detector, what they wake) runs
                    # before this task's bookkeeping and next read (a failed recv, the
                    # epoll registration: tens of µs on a cold CPU), not behind them.
                    s.idle_since = now
                    await wait_until_idle()
            finally:  # also when the liveness check cut the wait
                s.idle_since = None
                if metrics_msgs is not None:
                    metrics_msgs.inc(len(frames))
                ctx.heartbeat()

    # ------------------------------------------------------------- side tasks

    async def _keepalive(self, s: Session, adapter: VenueAdapter) -> None:
        cfg = self.config
        while True:
            await trio.sleep(cfg.ping_interval_s)
            if adapter.text_ping:
                # Answered by a text PONG; the adapter clears the outstanding mark.
                now = trio.current_time()
                since = s.text_ping_outstanding_since
                if since is None:
                    s.text_ping_outstanding_since = now
                elif now - since > cfg.pong_timeout_s:
                    raise Reconnect("pong_timeout")
                s.send_control("PING")
                continue
            with trio.move_on_after(cfg.pong_timeout_s) as scope:
                await s.ws.ping()
            if scope.cancelled_caught:
                raise Reconnect("pong_timeout")

    async def _liveness(self, s: Session, adapter: VenueAdapter) -> None:
        interval = self.config.liveness.check_interval_s
        while True:
            await trio.sleep(interval)
            now = trio.current_time()
            since = s.idle_since
            if since is not None and now - since >= interval and s.idle_guard is not None:
                self.stats.idle_waits_cut += 1  # the loop never went idle: read anyway
                s.idle_guard.cancel()
            verdict = s.liveness.check(now)
            if verdict.reconnect:
                raise Reconnect("no_data", verdict.reconnect)
            if verdict.resubscribe:
                self.stats.resubscribes += len(verdict.resubscribe)
                adapter.resubscribe(verdict.resubscribe, "liveness")

    async def _resync_listener(self, s: Session, adapter: VenueAdapter) -> None:
        assert self.resync is not None
        while True:
            for req in await self.resync.receive_batch(256):
                if req.instrument.venue is self.config.venue:
                    self.stats.count_resync("cache:" + req.reason.split(" ")[0])
                    adapter.resync(req.instrument, req.reason)
