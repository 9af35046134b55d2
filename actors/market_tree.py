"""Wiring of the market-data path for ``arbtree run``: feeds -> quote cache -> detector.

``build_market_path(config, to_fund_manager=..., metrics=None)`` returns two supervisor
specs and the handles (mailboxes, shared stats, the quote reader):

* ``feeds`` (one_for_one): one child per ``[[feeds]]`` entry, id = the feed's ``name``.
* ``market`` (rest_for_one): ``quote_cache`` then ``detector`` (a cache restart restarts
  the detector, which then rebuilds its view from fresh publications).

Edges and their overflow policies (the mailboxes live here, in the specs, so they survive
restarts):

==========================  ===========================  ==========================
edge                        mailbox                      policy
==========================  ===========================  ==========================
feed -> quote_cache         ``market/quote_cache``       BLOCK (batches; never drop)
quote_cache -> detector     ``market/detector``          COALESCE by instrument
quote_cache -> feed         ``feeds/<name>/resync``      COALESCE by instrument
detector -> fund_manager    given: ``to_fund_manager``   BLOCK, small (the caller's)
==========================  ===========================  ==========================

Place ``market`` before ``feeds`` in the root so the cache is up before data flows, and
start trading (the fund manager) before ``market`` so the detector's outbox has a reader.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import attrs

from actors.detector.actor import Detector
from actors.feeds.base import Feed, FeedStats, resync_mailbox
from actors.feeds.factory import adapter_for
from actors.feeds.messages import ResyncRequest
from actors.quote_cache import QuoteCache, QuoteReader, inbox_mailbox, publish_mailbox
from protocols.config.market import FeedConfig, MarketConfig
from protocols.messages import Opportunity, TopOfBook, Venue
from supervision import Backoff, ChildSpec, Mailbox, Restart, Strategy, SupervisorSpec

if TYPE_CHECKING:
    from actors.observability.metrics import Metrics


@attrs.define(eq=False)
class MarketHandles:
    cache_inbox: Mailbox[Any]
    detector_inbox: Mailbox[TopOfBook]
    to_fund_manager: Mailbox[Opportunity]
    resync: dict[Venue, Mailbox[ResyncRequest]]
    feed_stats: dict[str, FeedStats]
    reader: QuoteReader

    def mailboxes(self) -> list[Mailbox[Any]]:
        return [self.cache_inbox, self.detector_inbox, *self.resync.values()]


def _feed_child(
    fc: FeedConfig,
    out: Mailbox[Any],
    resync: Mailbox[ResyncRequest] | None,
    stats: FeedStats,
    metrics: Metrics | None,
    seed: int | None,
) -> ChildSpec:
    adapter = adapter_for(fc.venue)
    rng = random.Random(seed)

    def start() -> Feed:
        return Feed(
            config=fc,
            out=out,
            adapter=adapter,
            resync=resync,
            stats=stats,
            metrics=metrics,
            rng=rng,
        )

    return ChildSpec(
        id=fc.name,
        start=start,
        restart=Restart.PERMANENT,
        shutdown=2.0,
        # The feed reconnects by itself; a restart means a bug: back off like a reconnect.
        backoff=Backoff(
            min_s=fc.reconnect.min_s, max_s=fc.reconnect.max_s, random_factor=fc.reconnect.jitter
        ),
        # Feed liveness is data-based and internal (reconnects, breaker); a feed waiting out
        # an open breaker is degraded, not dead, so the watchdog does not time it out.
        heartbeat_timeout_s=None,
        mailboxes=[resync] if resync is not None else [],
    )


def build_market_path(
    config: MarketConfig,
    *,
    to_fund_manager: Mailbox[Opportunity],
    metrics: Metrics | None = None,
    seed: int | None = None,
) -> tuple[SupervisorSpec, SupervisorSpec, MarketHandles]:
    """-> ``(feeds_spec, market_spec, handles)``; see the module docstring."""
    qc = config.quote_cache
    cache_inbox = inbox_mailbox(qc)  # BLOCK
    detector_inbox = publish_mailbox(qc)  # COALESCE by instrument
    reader = QuoteReader(depth=qc.depth_levels)
    resync: dict[Venue, Mailbox[ResyncRequest]] = {}
    feed_stats: dict[str, FeedStats] = {}
    children: list[ChildSpec] = []
    names = [f.name for f in config.feeds]
    if len(set(names)) != len(names):
        raise ValueError(f"feed names must be unique, got {names}")
    for i, fc in enumerate(config.feeds):
        box: Mailbox[ResyncRequest] | None = None
        if fc.venue not in resync:  # one resync mailbox per venue (its first feed)
            box = resync[fc.venue] = resync_mailbox(f"feeds/{fc.name}/resync")
        stats = feed_stats[fc.name] = FeedStats()
        children.append(
            _feed_child(fc, cache_inbox, box, stats, metrics, None if seed is None else seed + i)
        )
    feeds = SupervisorSpec(
        children=children, strategy=Strategy.ONE_FOR_ONE, max_restarts=5, max_seconds=30.0
    )

    def start_cache() -> QuoteCache:
        return QuoteCache(
            config=qc,
            inbox=cache_inbox,
            publish=detector_inbox,
            reader=reader,
            resync=resync,
            metrics=metrics,
        )

    def start_detector() -> Detector:
        return Detector(
            config=config.detector,
            inbox=detector_inbox,
            outbox=to_fund_manager,
            reader=reader,
            metrics=metrics,
        )

    market = SupervisorSpec(
        children=[
            ChildSpec(
                id="quote_cache",
                start=start_cache,
                shutdown=2.0,
                heartbeat_timeout_s=None,
                mailboxes=[cache_inbox],
            ),
            ChildSpec(
                id="detector",
                start=start_detector,
                shutdown=2.0,
                heartbeat_timeout_s=None,
                mailboxes=[detector_inbox],
            ),
        ],
        strategy=Strategy.REST_FOR_ONE,
        max_restarts=5,
        max_seconds=30.0,
    )
    handles = MarketHandles(
        cache_inbox, detector_inbox, to_fund_manager, resync, feed_stats, reader
    )
    return feeds, market, handles
