"""Pick the venue adapter for a feed config."""

from __future__ import annotations

from actors.feeds.base import AdapterFactory
from actors.feeds.binance import BinanceAdapter
from actors.feeds.kalshi import KalshiAdapter
from actors.feeds.polymarket import PolymarketAdapter
from protocols.messages import Venue

ADAPTERS: dict[Venue, AdapterFactory] = {
    Venue.POLYMARKET: PolymarketAdapter,
    Venue.KALSHI: KalshiAdapter,
    Venue.BINANCE: BinanceAdapter,
}


def adapter_for(venue: Venue) -> AdapterFactory:
    return ADAPTERS[venue]
