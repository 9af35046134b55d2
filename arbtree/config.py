"""The root configuration of ``arbtree run``: every area's section in one typed document.

Sections are owned by their areas (``protocols.config.*``); this module only composes
them, adds the run-level and simulated-venue sections, and fills in what a simulated run
learns at start-up (the sim's URLs and listed markets) so the default needs no editing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

import msgspec
import msgspec.inspect as mi

from actors.sim import SimConfig
from actors.sim.config import WINDOW_KINDS
from arbtree.sim_process import ListedMarket
from protocols.config.load import ConfigError, decode_config, load_config
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
from supervision.idle import IdleStrategy

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "default.toml"


class RunSection(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Run-level settings; command-line options override them."""

    seed: int = 1
    duration_s: float | None = None  # None: until Ctrl-C
    run_dir: str = "run"
    venue: Literal["sim", "real"] = "sim"  # sim: start the embedded simulated venue
    status_interval_s: float = 5.0  # status line period without a terminal
    shutdown_deadline_s: float = 30.0
    # What the loop does with nothing to run: "block" in epoll_wait, or "spin" (busy-poll:
    # a core at 100 %, ~30-40 µs off tick-to-decision on this VM; supervision/idle.py).
    idle: IdleStrategy = "block"


class SimSection(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """The embedded simulated venue (see docs/sim.md); the seed comes from ``run.seed``."""

    markets: int = 4
    rate: float = 200.0
    window_rate: float = 0.05
    window_duration_s: float = 5.0
    window_kinds: tuple[str, ...] = WINDOW_KINDS
    # Sim time per scenario step: a step's updates go out together, so at ``rate`` 1000
    # a 0.01 s step is a burst of ~10 updates every 10 ms, a 0.001 s step one per ms.
    step_interval_s: Annotated[float, msgspec.Meta(gt=0)] = 0.01
    levels: int = 5
    kalshi_legacy_cents: bool = False
    ground_truth: str = "ground_truth.jsonl"  # relative to the run directory
    # Run the sim in a child process (arbtree.sim_process): the trading system's loop then
    # does none of the venue's work (latency measurements); faults need it in-process.
    process: bool = False
    # With ``process``: pin the child to these CPUs (Linux; empty = wherever the kernel
    # puts it). On a small machine a venue woken by our order otherwise preempts the
    # trading process on its own CPU, which a remote venue never does.
    cpus: tuple[int, ...] = ()
    # Serve wss:// and https:// with a CA made for the run (actors.sim.tls); the run
    # trusts that CA (written to the run directory as sim-ca.pem), no other.
    tls: bool = False

    def to_sim_config(self, seed: int, run_dir: Path) -> SimConfig:
        return SimConfig(
            seed=seed,
            markets=self.markets,
            rate=self.rate,
            window_rate=self.window_rate,
            window_duration=self.window_duration_s,
            window_kinds=self.window_kinds,
            tls=self.tls,
            step_interval=self.step_interval_s,
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
    try:
        if path is not None:
            return load_config(path, AppConfig)
        if DEFAULT_CONFIG.exists():
            return load_config(DEFAULT_CONFIG, AppConfig)
        return decode_config(b"", AppConfig, source="<defaults>")
    except ConfigError as exc:
        expected = expected_type(exc.key) if exc.key and "missing" in exc.problem else None
        if expected is None:
            raise
        raise ConfigError(exc.source, exc.key, f"{exc.problem} (expected {expected})") from None


_KEY_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def expected_type(key: str) -> str | None:
    """The schema type of a dotted key path (``market.feeds[0].venue``), for messages."""
    info: mi.Type = mi.type_info(AppConfig)
    for name, index in _KEY_PART.findall(key):
        while isinstance(info, (mi.ListType, mi.DictType)) and not index:
            info = info.item_type if isinstance(info, mi.ListType) else info.value_type
        if index:
            if not isinstance(info, mi.ListType):
                return None
            info = info.item_type
            continue
        if not isinstance(info, mi.StructType):
            return None
        field = next((f for f in info.fields if f.encode_name == name), None)
        if field is None:
            return None
        info = field.type
    return _describe(info)


def _describe(info: mi.Type) -> str:
    if isinstance(info, mi.EnumType):
        return " | ".join(f'"{member.value}"' for member in info.cls)
    if isinstance(info, mi.LiteralType):
        return " | ".join(repr(v) if not isinstance(v, str) else f'"{v}"' for v in info.values)
    if isinstance(info, mi.StructType):
        return "a table"
    if isinstance(info, mi.ListType):
        return f"an array of {_describe(info.item_type)}"
    names = {
        mi.StrType: "`str`",
        mi.IntType: "`int`",
        mi.FloatType: "`float`",
        mi.BoolType: "`bool`",
        mi.DictType: "a table",
    }
    return names.get(type(info), type(info).__name__.removesuffix("Type").lower())


def market_config_for_sim(
    base: MarketConfig,
    markets: Sequence[ListedMarket],
    *,
    polymarket_ws: str,
    kalshi_ws: str,
    rest: str,
    ca_file: str = "",
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
            ca_file=ca_file,
        ),
        msgspec.structs.replace(
            templates.get(Venue.KALSHI) or FeedConfig(name="kalshi", venue=Venue.KALSHI, url=""),
            url=kalshi_ws,
            rest_url="",
            ca_file=ca_file,
            instruments=[m.ticker for m in markets],
        ),
    ]
    detector: DetectorConfig = msgspec.structs.replace(
        base.detector,
        polymarket=[
            PolymarketMarket(
                name=f"m{m.index}", yes_token=m.yes_token, no_token=m.no_token, category=m.category
            )
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
    )
    return msgspec.structs.replace(base, feeds=feeds, detector=detector)


def with_neg_risk_tokens(trading: TradingConfig, market: MarketConfig) -> TradingConfig:
    """The tokens of every neg-risk Polymarket market (``neg_risk = true`` in
    ``market.detector.polymarket``) added to ``executor.polymarket.neg_risk_tokens``: their
    live orders are signed for the neg-risk exchange."""
    ex = trading.executor
    neg_risk = [m for m in market.detector.polymarket if m.neg_risk]
    tokens = {token for m in neg_risk for token in (m.yes_token, m.no_token)}
    if tokens <= set(ex.polymarket.neg_risk_tokens):
        return trading
    merged = sorted(tokens | set(ex.polymarket.neg_risk_tokens))
    replace = msgspec.structs.replace
    polymarket = replace(ex.polymarket, neg_risk_tokens=merged)
    return replace(trading, executor=replace(ex, polymarket=polymarket))
