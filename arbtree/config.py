"""The root configuration of ``arbtree run``: every area's section in one typed document.

Sections are owned by their areas (``protocols.config.*``); this module only composes
them, adds the run-level and simulated-venue sections, and fills in what a simulated run
learns at start-up (the sim's URLs and listed markets) so the default needs no editing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from actors.sim import SimConfig
from actors.sim.config import WINDOW_KINDS
from arbtree.sim_process import ListedMarket, SimHandle
from protocols.config.limits import DAY_S, Seconds, SecondsOrOff
from protocols.config.load import ConfigError, convert_config, parse_toml, read_config
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

    seed: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)] = 1
    duration_s: Annotated[float, msgspec.Meta(gt=0, le=366 * DAY_S)] | None = None  # None: Ctrl-C
    run_dir: str = "run"
    # sim: start the embedded simulated venue; sim-external: trade against a running
    # `arbtree sim --control-port` found through ``sim.endpoint_file`` (it outlives the bot)
    venue: Literal["sim", "sim-external", "real"] = "sim"
    # Status line period without a terminal (each one is a log line: not a flood).
    status_interval_s: Annotated[float, msgspec.Meta(ge=0.5, le=DAY_S)] = 5.0
    # The whole shutdown sequence's budget. Each phase also has its own timeout; at least
    # a second, so no configured value leaves a phase no time to run.
    shutdown_deadline_s: Annotated[float, msgspec.Meta(ge=1.0, le=3600)] = 30.0
    # What the loop does with nothing to run: "block" in epoll_wait, or "spin" (busy-poll:
    # a core at 100 %, lower tick-to-decision; `arbtree bench market` measures both).
    idle: IdleStrategy = "block"
    # fsync the run directory's execution journal on every record: survives a machine
    # crash too, at a disk flush per execution on the order path (a killed process needs
    # no fsync: its writes are in the OS page cache).
    journal_fsync: bool = False


class SimSection(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """The embedded simulated venue (see docs/sim.md); the seed comes from ``run.seed``."""

    markets: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 4
    rate: Annotated[float, msgspec.Meta(gt=0, le=100_000)] = 200.0  # book updates per second
    window_rate: Annotated[float, msgspec.Meta(ge=0, le=100)] = 0.05  # windows per second
    window_duration_s: Seconds = 5.0
    # The first window opens this many seconds into the run (unless one came earlier), so
    # a short first run shows a trade; 0 leaves it to window_rate alone.
    first_window_s: SecondsOrOff = 3.0
    window_kinds: tuple[str, ...] = WINDOW_KINDS
    # Sim time per scenario step: a step's updates go out together, so at ``rate`` 1000
    # a 0.01 s step is a burst of ~10 updates every 10 ms, a 0.001 s step one per ms.
    step_interval_s: Annotated[float, msgspec.Meta(ge=0.0001, le=10)] = 0.01
    levels: Annotated[int, msgspec.Meta(ge=1, le=100)] = 5
    kalshi_legacy_cents: bool = False
    ground_truth: str = "ground_truth.jsonl"  # relative to the run directory
    # Run the sim in a child process (arbtree.sim_process): the trading system's loop then
    # does none of the venue's work (latency measurements); faults need it in-process.
    process: bool = False
    # With ``process``: pin the child to these CPUs (Linux; empty = wherever the kernel
    # puts it). On a small machine a venue woken by our order otherwise preempts the
    # trading process on its own CPU, which a remote venue never does.
    cpus: tuple[Annotated[int, msgspec.Meta(ge=0, le=4095)], ...] = ()
    # With ``run.venue = "sim-external"``: the sim.json written by `arbtree sim --control-port`.
    endpoint_file: str = "sim.json"
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
            first_window=self.first_window_s,
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


def load_app_config(
    path: Path | None, overrides: Mapping[str, tuple[str, object]] | None = None
) -> AppConfig:
    """The given file, else the built-in paper setup (``config/default.toml``), with
    ``overrides`` (dotted key -> (command-line option, value)) applied before every value
    is checked, so an option's bad value is refused like a file's, naming the option."""
    if path is None and DEFAULT_CONFIG.exists():
        path = DEFAULT_CONFIG
    source = "<defaults>" if path is None else str(path)
    raw = parse_toml(b"" if path is None else read_config(path), source=source)
    for key, (_, value) in (overrides or {}).items():
        *tables, name = key.split(".")
        node = raw
        for table in tables:
            child = node.setdefault(table, {})
            if not isinstance(child, dict):
                raise ConfigError(source, table, "must be a table")
            node = child
        node[name] = value
    try:
        return convert_config(raw, AppConfig, source=source)
    except ConfigError as exc:
        option = (overrides or {}).get(exc.key or "")
        if option is None:
            raise
        raise ConfigError(option[0], exc.key, exc.problem) from None


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


def with_sim_endpoints(config: AppConfig, sim: SimHandle, *, ca_file: str = "") -> AppConfig:
    """The run's configuration pointed at a simulated venue: the feeds at its market
    channels with its markets listed (:func:`market_config_for_sim`), the executor's REST
    and user-channel URLs at its own; with ``ca_file`` (a TLS sim's CA) the feeds, the REST
    clients and the user channels trust that CA. Everything else is the file's."""
    replace = msgspec.structs.replace
    market = market_config_for_sim(
        config.market,
        sim.markets,
        polymarket_ws=sim.polymarket_ws_url,
        kalshi_ws=sim.kalshi_ws_url,
        rest=sim.polymarket_rest_url,
        ca_file=ca_file,
    )
    ex = config.trading.executor
    polymarket = replace(
        ex.polymarket, rest_url=sim.polymarket_rest_url, user_ws_url=sim.polymarket_user_ws_url
    )
    kalshi = replace(ex.kalshi, rest_url=sim.kalshi_rest_url, user_ws_url=sim.kalshi_ws_url)
    executor = replace(
        ex,
        polymarket=polymarket,
        kalshi=kalshi,
        http=replace(ex.http, ca_file=ca_file),
        user_channel=replace(ex.user_channel, ca_file=ca_file),
    )
    return replace(config, market=market, trading=replace(config.trading, executor=executor))


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
