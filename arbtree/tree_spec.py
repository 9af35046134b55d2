"""The tree ``arbtree run`` supervises, built from the configuration and the run's open
resources: a pure build (nothing starts, nothing is opened; ``arbtree.runner`` starts it).

Start order (docs/design.md, "The tree"): control, storage, trading (the fund manager
reconciles before anything can trade), market (quote cache, detector), feeds, the tick
sampler, watchdog."""

from __future__ import annotations

import logging

from actors.market_tree import MarketHandles, build_market_path
from actors.observability import ControlServer
from actors.storage.actor import db_writer_child
from actors.storage.checkpoint_load import load_fund_checkpoint
from actors.storage.database import Database
from actors.storage.embedded import EmbeddedKeeper
from actors.storage.sink import StorageSink
from actors.tick_sampler import TickSampler
from actors.trading.fund_manager import CheckpointLoader
from actors.trading_tree import build_trading_path
from arbtree.assembly import RunState, TreeParts
from arbtree.config import AppConfig
from arbtree.resources import RunResources
from arbtree.status import stale_instruments
from protocols.messages import FundCheckpointRecord, Opportunity
from supervision import Backoff, ChildSpec, Mailbox, OverflowPolicy, Strategy, SupervisorSpec

log = logging.getLogger("arbtree.run")


def build_tree(res: RunResources, state: RunState, *, started_ms: int) -> TreeParts:
    """The root supervisor's spec and the market and trading handles. The trading path
    records through ``state.record``; the watchdog reads ``state.running_tree()``."""
    config = res.config
    market_cfg = config.market
    trading_cfg = config.trading
    storage_cfg = config.storage
    sink = res.sink
    opportunities: Mailbox[Opportunity] = Mailbox(
        "trading.opportunities", market_cfg.detector.outbox_capacity, OverflowPolicy.BLOCK
    )
    trading_spec, watchdog_spec, trading = build_trading_path(
        trading_cfg,
        opportunities=opportunities,
        storage=state.record,
        metrics=res.metrics,
        # A configured checkpoint file wins: the fund manager reads it itself.
        checkpoint_loader=None
        if trading_cfg.fund.checkpoint_file
        else checkpoint_loader_for(config, res.db, started_ms),
        execution_journal=res.execution_journal,
    )
    feeds_spec, market_spec, market = build_market_path(
        market_cfg, to_fund_manager=opportunities, metrics=res.metrics, seed=config.run.seed
    )
    plane, run_dir = res.plane, res.run_dir
    root = SupervisorSpec(
        children=[
            ChildSpec(
                id="control",
                start=lambda: ControlServer(plane, config.observability.control, run_dir),
                shutdown=2.0,
            ),
            ChildSpec(
                id="storage",
                start=SupervisorSpec(
                    children=[
                        *_embedded_keeper(res.db),
                        db_writer_child(res.db, sink, storage_cfg, res.journal_dir),
                    ],
                    max_restarts=5,
                    max_seconds=30.0,
                ),
            ),
            ChildSpec(id="trading", start=trading_spec),
            ChildSpec(id="market", start=market_spec),
            ChildSpec(id="feeds", start=feeds_spec),
            *_tick_sampler(market_cfg.quote_cache.tick_sample_interval_s, market, sink),
            watchdog_spec(
                state.running_tree,
                stale_instruments=lambda: stale_instruments(market.reader),
                storage_healthy=lambda: sink.writable,
            ),
        ],
        strategy=Strategy.ONE_FOR_ONE,
        max_restarts=3,
        max_seconds=30.0,
    )
    return TreeParts(root, market, trading)


def checkpoint_loader_for(config: AppConfig, db: Database, started_ms: int) -> CheckpointLoader:
    """Where the fund manager's start-up reconciliation gets its last checkpoint.

    Real venues: the newest one in the database; failing to read it fails closed (the
    reconciliation reports it and trading stays HALTED). The simulated venue opens a fresh
    account every run, so only this run's checkpoints apply (a fund manager restarted
    mid-run keeps its fees and daily loss), and an unreadable database means none: the
    sim's balances are the truth, and a dead database must not stop paper trading."""
    if config.run.venue != "sim":
        return lambda: db.run(load_fund_checkpoint)

    async def this_run() -> FundCheckpointRecord | None:
        try:
            return await db.run(lambda conn: load_fund_checkpoint(conn, started_ms))
        except Exception as exc:
            log.warning("fund checkpoint not readable (%s); reconciling against the sim", exc)
            return None

    return this_run


def _embedded_keeper(db: Database) -> list[ChildSpec]:
    """Restarts the embedded server if it dies mid-run (none with a --db server)."""
    server = db.server
    if server is None:
        return []
    return [
        ChildSpec(
            id="embedded_postgres",
            start=lambda: EmbeddedKeeper(server),
            shutdown=2.0,
            backoff=Backoff(min_s=1.0, max_s=10.0),
        )
    ]


def _tick_sampler(interval_s: float, market: MarketHandles, sink: StorageSink) -> list[ChildSpec]:
    if interval_s <= 0:
        return []
    return [
        ChildSpec(
            id="tick_sampler",
            start=lambda: TickSampler(reader=market.reader, sink=sink.put, interval_s=interval_s),
            shutdown=1.0,
            heartbeat_timeout_s=max(5.0, 5 * interval_s),
        )
    ]
