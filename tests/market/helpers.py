"""Shared helpers of the market-path tests: configs built from a running sim."""

from __future__ import annotations

from typing import Any

from actors.sim.venue import SimVenue
from protocols.config.market import (
    CrossVenuePair,
    DetectorConfig,
    FeedConfig,
    KalshiMarket,
    LivenessConfig,
    MarketConfig,
    PolymarketMarket,
    QuoteCacheConfig,
    ReconnectConfig,
)
from protocols.messages import Venue


def sim_market_config(
    sim: SimVenue,
    *,
    liveness: LivenessConfig | None = None,
    detector: dict[str, Any] | None = None,
    feed: dict[str, Any] | None = None,
) -> MarketConfig:
    markets = sim.markets
    live = liveness or LivenessConfig()
    fast = ReconnectConfig(min_s=0.05, max_s=0.5, jitter=0.5, reset_after_s=1.0)
    common: dict[str, Any] = {
        "liveness": live,
        "reconnect": fast,
        "ping_interval_s": 1.0,
        "pong_timeout_s": 3.0,
        **(feed or {}),
    }
    feeds = [
        FeedConfig(
            name="polymarket",
            venue=Venue.POLYMARKET,
            url=sim.polymarket_ws_url,
            rest_url=sim.polymarket_rest_url,
            instruments=[t for m in markets for t in (m.yes_token, m.no_token)],
            **common,
        ),
        FeedConfig(
            name="kalshi",
            venue=Venue.KALSHI,
            url=sim.kalshi_ws_url,
            instruments=[m.ticker for m in markets],
            **common,
        ),
    ]
    poly = [
        PolymarketMarket(
            name=f"m{m.index}", yes_token=m.yes_token, no_token=m.no_token, category=m.category
        )
        for m in markets
    ]
    kalshi = [KalshiMarket(name=f"k{m.index}", ticker=m.ticker) for m in markets]
    pairs = [
        CrossVenuePair(
            name=f"p{m.index}",
            polymarket=f"m{m.index}",
            kalshi=f"k{m.index}",
            resolution_note="sim: same question, same resolver",
        )
        for m in markets
    ]
    det: dict[str, Any] = {
        "min_edge": "0.001",
        "min_profit": "0",
        "max_quote_age_s": 30.0,
        "cooldown_s": 0.2,
        **(detector or {}),
    }
    return MarketConfig(
        feeds=feeds,
        quote_cache=QuoteCacheConfig(staleness_limit_s=30.0, sweep_interval_s=0.25),
        detector=DetectorConfig(polymarket=poly, kalshi=kalshi, pairs=pairs, **det),
    )
