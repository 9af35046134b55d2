"""The root configuration of ``arbtree run``: every area's section in one typed document.

Sections are owned by their areas (``protocols.config.*``); this module only composes
them, adds the run-level and simulated-venue sections, and fills in what a simulated run
learns at start-up (the sim's URLs and listed markets) so the default needs no editing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import msgspec

from actors.sim import SimConfig
from actors.sim.scenario import Market
from protocols.config.load import decode_config, load_config
from protocols.config.market import (
    CrossVenuePair,
    DetectorConfig,
    FeedConfig,
    KalshiMarket,
    MarketConfig,
    PolymarketMarket,
)
from protocols.config.observability import ObservabilityConfig
from protocols.config.storage import StorageConfig
from protocols.config.trading import TradingConfig
from protocols.messages import Venue

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "default.toml"


class RunSection(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Run-level settings; command-line options override them."""

    seed: int = 1
    duration_s: float | None = None  # None: until Ctrl-C
    run_dir: str = "run"
    venue: Literal["sim", "real"] = "sim"  # sim: start the embedded simulated venue
    status_interval_s: float = 5.0  # status line period without a terminal
    shutdown_deadline_s: float = 30.0


class SimSection(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """The embedded simulated venue (see docs/sim.md); the seed comes from ``run.seed``."""

    markets: int = 4
    rate: float = 200.0
    window_rate: float = 0.05
    window_duration_s: float = 5.0
    levels: int = 5
    kalshi_legacy_cents: bool = False
    ground_truth: str = "ground_truth.jsonl"  # relative to the run directory

    def to_sim_config(self, seed: int, run_dir: Path) -> SimConfig:
        return SimConfig(
            seed=seed,
            markets=self.markets,
            rate=self.rate,
            window_rate=self.window_rate,
            window_duration=self.window_duration_s,
            levels=self.levels,
            kalshi_legacy_cents=self.kalshi_legacy_cents,
            ground_truth_path=str(run_dir / self.ground_truth),
        )


class AppConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    run: RunSection = msgspec.field(default_factory=RunSection)
    sim: SimSection = msgspec.field(default_factory=SimSection)
    market: MarketConfig = msgspec.field(default_factory=MarketConfig)
    trading: TradingConfig = msgspec.field(default_factory=TradingConfig)
    storage: StorageConfig = msgspec.field(default_factory=StorageConfig)
    observability: ObservabilityConfig = msgspec.field(default_factory=ObservabilityConfig)


def load_app_config(path: Path | None) -> AppConfig:
    """The given file, else the built-in paper setup (``config/default.toml``)."""
    if path is not None:
        return load_config(path, AppConfig)
    if DEFAULT_CONFIG.exists():
        return load_config(DEFAULT_CONFIG, AppConfig)
    return decode_config(b"", AppConfig, source="<defaults>")


def market_config_for_sim(
    base: MarketConfig, markets: list[Market], *, polymarket_ws: str, kalshi_ws: str, rest: str
) -> MarketConfig:
    """Point the feeds at the simulated venue and list its markets and cross-venue pairs.

    Feeds and detector settings from the file (liveness, reconnect, fees, edges) are kept;
    only the URLs, the instruments and the market lists come from the sim.
    """
    templates = {feed.venue: feed for feed in base.feeds}
    poly_tokens = [token for m in markets for token in (m.yes_token, m.no_token)]
    feeds = [
        msgspec.structs.replace(
            templates.get(Venue.POLYMARKET)
            or FeedConfig(name="polymarket", venue=Venue.POLYMARKET, url=""),
            url=polymarket_ws,
            rest_url=rest,
            instruments=poly_tokens,
        ),
        msgspec.structs.replace(
            templates.get(Venue.KALSHI) or FeedConfig(name="kalshi", venue=Venue.KALSHI, url=""),
            url=kalshi_ws,
            rest_url="",
            instruments=[m.ticker for m in markets],
        ),
    ]
    detector: DetectorConfig = msgspec.structs.replace(
        base.detector,
        polymarket=[
            PolymarketMarket(name=f"m{m.index}", yes_token=m.yes_token, no_token=m.no_token,
                             category=m.category)
            for m in markets
        ],
        kalshi=[KalshiMarket(name=f"m{m.index}", ticker=m.ticker) for m in markets],
        pairs=[
            CrossVenuePair(
                name=f"m{m.index}",
                polymarket=f"m{m.index}",
                kalshi=f"m{m.index}",
                resolution_note="simulated: both listings resolve on the same hidden fair value",
            )
            for m in markets
        ],
    )  # fmt: skip
    return msgspec.structs.replace(base, feeds=feeds, detector=detector)
