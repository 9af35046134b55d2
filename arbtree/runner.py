"""Assemble and run the whole tree: ``arbtree run``.

Start order (docs/design.md, "The tree"): control, storage, trading (the fund manager reconciles
before anything can trade), market (quote cache, detector), feeds, watchdog. Against the
simulated venue the sim is started first, in-process (or, with ``[sim] process = true``, in
a child process: ``arbtree.sim_process``), and the feeds and executor are pointed at its
loopback URLs.
"""

from __future__ import annotations

import logging
import random
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import msgspec
import trio

from actors.market_tree import MarketHandles, build_market_path
from actors.observability import (
    DB_WRITER_FIELDS,
    LOG_FIELDS,
    ControlPlane,
    ControlServer,
    Metrics,
)
from actors.observability.logging import close_logging, configure_logging, installed_log_sink
from actors.shutdown_phases import LOG_NAMESPACE, new_shutdown
from actors.sim import SimVenue, open_sim_venue
from actors.storage.actor import db_writer_child
from actors.storage.checkpoint_load import load_fund_checkpoint
from actors.storage.database import Database, open_database, single_leaf
from actors.storage.embedded import EmbeddedKeeper
from actors.storage.errors import StorageError
from actors.storage.last_records import write_last_records
from actors.storage.sink import StorageSink
from actors.tick_sampler import TickSampler
from actors.trading.execution_journal import ExecutionJournal
from actors.trading.fund_manager import CheckpointLoader
from actors.trading.http_clients import check_live_keys
from actors.trading.tally import TRADING_FIELDS
from actors.trading_tree import TradingHandles, build_trading_path
from arbtree.config import (
    AppConfig,
    load_app_config,
    market_config_for_sim,
    with_neg_risk_tokens,
)
from arbtree.edge import (
    EDGE_FIELDS,
    EdgeFigures,
    edge_figures,
    edge_metrics,
    edge_record,
    publish_edge,
)
from arbtree.run_lock import RunDirLock
from arbtree.sim_endpoint import ExternalSim, read_endpoint_file
from arbtree.sim_process import SimHandle, SimProcess, open_sim_process
from arbtree.status import StatusSource, run_status_display, stale_instruments
from arbtree.summary import Detection, RunSummary, build_summary
from protocols.config.load import ConfigError
from protocols.messages import FundCheckpointRecord, Opportunity, OpportunityRecord
from supervision import (
    Backoff,
    ChildSpec,
    Mailbox,
    OverflowPolicy,
    Strategy,
    SupervisorSpec,
    Tree,
    open_tree,
)
from supervision.idle import busy_poll

log = logging.getLogger("arbtree.run")

QUIET_LOGGERS = ("httpx", "httpcore", "pgserver", "hypercorn.access")
SIM_CA_FILE = "sim-ca.pem"  # the TLS sim's CA, written to the run directory for its clients


@attrs.frozen
class RunOptions:
    """Command-line overrides; None keeps the configuration file's value."""

    config_path: Path | None = None
    duration_s: float | None = None
    seed: int | None = None
    live: bool = False
    db_dsn: str | None = None
    run_dir: Path | None = None
    control_port: int | None = None
    summary_path: Path | None = None
    panel: bool = False
    sim_process: bool = False  # True: the sim in a child process (else the file's sim.process)
    sim_endpoint: Path | None = None  # a sim.json: trade against that running sim
    sim_tls: bool = False  # True: the sim serves TLS (else the file's sim.tls)


def resolve_config(options: RunOptions) -> AppConfig:
    """The configuration file with the command line's overrides applied and checked."""
    overrides = {
        key: (option, value)
        for key, option, value in (
            ("run.seed", "--seed", options.seed),
            ("run.duration_s", "--duration", options.duration_s),
            ("run.run_dir", "--run-dir", None if options.run_dir is None else str(options.run_dir)),
            ("observability.control.port", "--control-port", options.control_port),
        )
        if value is not None
    }
    config = load_app_config(options.config_path, overrides)
    replace = msgspec.structs.replace
    run = config.run
    obs = config.observability
    trading = config.trading
    if options.live:
        if run.venue != "real":
            raise ConfigError(
                "--live",
                "run.venue",
                'live trading needs run.venue = "real"; the '
                "simulated venue is for paper trading only",
            )
        trading = replace(trading, executor=replace(trading.executor, mode="live", live=True))
        check_live_keys(trading.executor)  # a missing key refuses before anything starts
    elif trading.executor.mode == "live":
        raise ConfigError(
            "executor.mode",
            "trading.executor.mode",
            "the configuration asks for live trading but --live was not given",
        )
    storage = config.storage
    if options.db_dsn:
        storage = replace(storage, dsn=options.db_dsn)
    sim = config.sim
    if options.sim_process:
        sim = replace(sim, process=True)
    if options.sim_endpoint is not None:
        run = replace(run, venue="sim-external")
        sim = replace(sim, endpoint_file=str(options.sim_endpoint.absolute()))
    if options.sim_tls:
        sim = replace(sim, tls=True)
    return replace(config, run=run, sim=sim, observability=obs, trading=trading, storage=storage)


def run_blocking(options: RunOptions) -> int:
    config = resolve_config(options)
    run_dir = Path(config.run.run_dir).absolute()
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = RunDirLock(run_dir)  # a second run on this directory stops here, naming us
    config = msgspec.structs.replace(
        config, run=msgspec.structs.replace(config.run, run_dir=str(run_dir))
    )
    plane_run_id = time.strftime("%Y%m%dT%H%M%S-") + f"{random.getrandbits(24):06x}"
    logging_cfg = config.observability.logging
    if options.panel and logging_cfg.file is None:
        # Log lines on the terminal would tear the live panel: send them to the run dir.
        logging_cfg = msgspec.structs.replace(logging_cfg, file=str(run_dir / "arbtree.log"))
    configure_logging(logging_cfg, run_id=plane_run_id)
    for chatty in QUIET_LOGGERS:  # per-request INFO lines would be hot-path logging
        logging.getLogger(chatty).setLevel(logging.WARNING)

    try:
        summary = trio.run(run_app, config, options, plane_run_id)
    except BaseExceptionGroup as group:
        leaf = single_leaf(group)
        if isinstance(leaf, StorageError):  # a one-line refusal, not a group's traceback
            raise leaf from None
        raise
    finally:
        close_logging()  # every queued line written before the summary (or the traceback)
        lock.release()
    encoded = msgspec.json.format(msgspec.json.encode(summary), indent=2)
    print(encoded.decode())
    if options.summary_path is not None:
        options.summary_path.parent.mkdir(parents=True, exist_ok=True)
        options.summary_path.write_bytes(encoded + b"\n")
    return 0


class StartupInterrupted(Exception):
    """SIGTERM or SIGINT arrived before the tree was running; what had started was stopped."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        name = signal.Signals(signum).name
        super().__init__(f"{name} during start-up; stopped what had started (database, sim)")


@attrs.define(eq=False)
class StartupSignals:
    """SIGTERM/SIGINT during start-up cancel it (every ``finally`` runs: the embedded
    server is stopped); once the tree runs, it handles them itself (ordered shutdown)."""

    received: int | None = None
    _waiting: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    _released: trio.Event = attrs.field(factory=trio.Event)

    async def watch(
        self,
        startup: trio.CancelScope,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        try:
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                task_status.started()
                with self._waiting:
                    async for signum in signals:
                        self.received = signum
                        log.warning(
                            "%s during start-up: stopping what has started",
                            signal.Signals(signum).name,
                        )
                        startup.cancel(reason="signal during start-up")
                        return
        finally:
            self._released.set()

    async def release(self) -> None:
        """Stop watching and restore the handlers, before the tree installs its own."""
        self._waiting.cancel()
        await self._released.wait()


@attrs.define(eq=False)
class Assembly:
    """Everything one run wires together, kept for the status display and the summary.

    ``sim`` is the in-process simulated venue (fault hooks, its exchange and books): None
    against real venues and when the sim runs in a child process (``sim.process``), where
    ``sim_process`` is set instead. ``sim_handle`` is whichever of the two runs."""

    config: AppConfig
    run_dir: Path
    sim: SimVenue | None
    sim_process: SimProcess | None
    db: Database
    metrics: Metrics
    plane: ControlPlane
    sink: StorageSink
    market: MarketHandles
    trading: TradingHandles
    spec: SupervisorSpec
    journal_dir: Path = attrs.field(kw_only=True)
    tree: Tree | None = None
    detections: list[Detection] = attrs.field(factory=list)
    opportunities_by_strategy: dict[str, int] = attrs.field(factory=dict)

    @property
    def sim_handle(self) -> SimHandle | None:
        """The simulated venue in either mode (URLs, markets, windows), None if real."""
        return self.sim if self.sim is not None else self.sim_process

    def record(self, record: Any) -> None:
        """The trading path's record sink: note detections for scoring, then persist."""
        if type(record) is OpportunityRecord:
            opp = record.opportunity
            self.detections.append(
                Detection(
                    frozenset(leg.instrument.symbol for leg in opp.legs),
                    opp.venue_ts_ms,
                    opp.opportunity_id,
                    record.reject_reason.split(":", 1)[0],  # the reason, not its detail
                    opp.legs[0].size if opp.legs else 0,
                )
            )
            by = self.opportunities_by_strategy
            by[opp.strategy] = by.get(opp.strategy, 0) + 1
        self.sink.put(record)


async def run_app(
    config: AppConfig,
    options: RunOptions,
    run_id: str,
    *,
    observe: Callable[[Assembly], Awaitable[None]] | None = None,
) -> RunSummary:
    """Run the assembled tree until the duration elapses or a shutdown is requested.

    ``observe`` (tests, benchmarks) runs beside the status display once the tree has
    started, with the live :class:`Assembly`; it is cancelled when the run finishes.
    """
    started = trio.current_time()
    signals = StartupSignals()
    summary: RunSummary | None = None
    with trio.CancelScope() as startup:
        async with trio.open_nursery() as nursery:
            await nursery.start(signals.watch, startup)
            async with open_assembly(config, run_id) as asm:
                await signals.release()
                summary = await _run_assembled(asm, config, options, started, observe, run_id)
    if summary is None:
        assert signals.received is not None
        raise StartupInterrupted(signals.received)
    return summary


async def _run_assembled(
    asm: Assembly,
    config: AppConfig,
    options: RunOptions,
    started: float,
    observe: Callable[[Assembly], Awaitable[None]] | None,
    run_id: str,
) -> RunSummary:
    """Start the tree, run it until the duration or a shutdown request, summarize."""
    shutdown = new_shutdown(config.run.shutdown_deadline_s)
    try:
        async with open_tree(
            asm.spec,
            name="arbtree",
            log_namespace=LOG_NAMESPACE,
            shutdown=shutdown,
            on_event=asm.sink.put,
            rng=random.Random(config.run.seed),
            handle_signals=True,
        ) as tree:
            asm.tree = tree
            # Restarts through the control endpoint are the operator's: not failures.
            asm.plane.attach_tree(asm.trading.operator_restarts.wrap(tree))
            _wire_control(asm, tree)
            source = StatusSource(asm)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(
                    run_status_display, source, options.panel, config.run.status_interval_s
                )
                nursery.start_soon(
                    partial(
                        publish_edge,
                        lambda: _edge_now(asm),
                        tree.extra,
                        asm.sink.put,
                        run_id,
                        _wall_ms,
                        record_interval_s=config.run.status_interval_s,
                    )
                )
                if observe is not None:
                    nursery.start_soon(observe, asm)
                if config.run.idle == "spin":
                    nursery.start_soon(busy_poll)
                with trio.move_on_after(config.run.duration_s or float("inf")):
                    await shutdown.wait_requested()
                if not shutdown.requested:
                    tree.request_shutdown(f"duration of {config.run.duration_s:g} s elapsed")
                await tree.wait_stopped()
                nursery.cancel_scope.cancel(reason="run finished")
    finally:
        figures = _edge_now(asm)
        if figures is not None:
            asm.sink.put(edge_record(figures, run_id, _wall_ms(), final=True))
        # The tree's last events (most actors' ``stopped``, the writer's own) come after
        # flush-storage: write them now, while the database is still open.
        with trio.CancelScope(shield=True):
            await write_last_records(asm.db, asm.sink, config.storage, asm.journal_dir)
    if asm.sim_process is not None:
        await asm.sim_process.stop()  # a child process reports its windows when it stops
    return build_summary(asm, trio.current_time() - started)


def fund_statistics(trading: TradingHandles) -> dict[str, Any]:
    """The running fund manager's ``statistics()`` alone ({} before it started)."""
    source = trading.control.stats_sources.get("fund_manager")
    return {} if source is None else dict(source())


def _edge_now(asm: Assembly) -> EdgeFigures | None:
    return edge_figures(fund_statistics(asm.trading), asm.market.reader)


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


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


@asynccontextmanager
async def open_assembly(config: AppConfig, run_id: str) -> AsyncIterator[Assembly]:
    """Open the database, start the sim, then build (not start) the supervision tree."""
    run_dir = Path(config.run.run_dir)  # absolute, created by run_blocking
    async with AsyncExitStack() as stack:
        # The database first: an unreachable one stops the run before the sim starts.
        storage_cfg = config.storage
        db = await stack.enter_async_context(open_database(storage_cfg.dsn, run_dir, storage_cfg))
        market_cfg = config.market
        trading_cfg = config.trading
        sim: SimVenue | None = None
        sim_process: SimProcess | None = None
        if config.run.venue in ("sim", "sim-external"):
            sim_config = config.sim.to_sim_config(config.run.seed, run_dir)
            handle: SimHandle
            if config.run.venue == "sim-external":
                handle = ExternalSim(read_endpoint_file(Path(config.sim.endpoint_file)))
            elif config.sim.process:
                opened = open_sim_process(sim_config, cpus=config.sim.cpus)
                handle = sim_process = await stack.enter_async_context(opened)
            else:
                handle = sim = await stack.enter_async_context(open_sim_venue(sim_config))
            ca_file = ""
            if handle.ca_pem is not None:
                ca_path = run_dir / SIM_CA_FILE
                ca_path.write_bytes(handle.ca_pem)
                ca_file = str(ca_path)
            market_cfg = market_config_for_sim(
                market_cfg,
                handle.markets,
                polymarket_ws=handle.polymarket_ws_url,
                kalshi_ws=handle.kalshi_ws_url,
                rest=handle.polymarket_rest_url,
                ca_file=ca_file,
            )
            ex = trading_cfg.executor
            replace = msgspec.structs.replace
            trading_cfg = replace(
                trading_cfg,
                executor=replace(
                    ex,
                    polymarket=replace(
                        ex.polymarket,
                        rest_url=handle.polymarket_rest_url,
                        user_ws_url=handle.polymarket_user_ws_url,
                    ),
                    kalshi=replace(
                        ex.kalshi, rest_url=handle.kalshi_rest_url, user_ws_url=handle.kalshi_ws_url
                    ),
                    http=replace(ex.http, ca_file=ca_file),
                    user_channel=replace(ex.user_channel, ca_file=ca_file),
                ),
            )
            log.info(
                "simulated venue%s: polymarket %s, kalshi %s, rest %s, %d markets",
                " (child process)" if sim_process is not None else "",
                handle.polymarket_ws_url,
                handle.kalshi_ws_url,
                handle.rest_url,
                len(handle.markets),
            )
        trading_cfg = with_neg_risk_tokens(trading_cfg, market_cfg)
        metrics = Metrics(run_id=run_id)
        plane = ControlPlane(metrics, run_id=run_id)
        sink = StorageSink(
            Mailbox("storage.db_writer", storage_cfg.mailbox_capacity, OverflowPolicy.BLOCK)
        )
        opportunities: Mailbox[Opportunity] = Mailbox(
            "trading.opportunities", market_cfg.detector.outbox_capacity, OverflowPolicy.BLOCK
        )
        # The assembly, once built: the trading sink and the watchdog reach it through this.
        built: list[Assembly] = []

        def record(item: Any) -> None:
            built[0].record(item)

        def current_tree() -> Tree | None:
            return built[0].tree if built else None  # None until open_tree has started

        trading_spec, watchdog_spec, trading = build_trading_path(
            trading_cfg,
            opportunities=opportunities,
            storage=record,
            metrics=metrics,
            # A configured checkpoint file wins: the fund manager reads it itself.
            checkpoint_loader=None
            if trading_cfg.fund.checkpoint_file
            else checkpoint_loader_for(config, db, _wall_ms()),
            # Executions in flight survive a killed process (docs/running.md).
            execution_journal=ExecutionJournal.open(
                run_dir / "executions.journal", fsync=config.run.journal_fsync
            ),
        )
        feeds_spec, market_spec, market = build_market_path(
            market_cfg, to_fund_manager=opportunities, metrics=metrics, seed=config.run.seed
        )
        journal_dir = Path(storage_cfg.journal_dir or run_dir / "journal")

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
                            *_embedded_keeper(db),
                            db_writer_child(db, sink, storage_cfg, journal_dir),
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
                    current_tree,
                    stale_instruments=lambda: stale_instruments(market.reader),
                    storage_healthy=lambda: sink.writable,
                ),
            ],
            strategy=Strategy.ONE_FOR_ONE,
            max_restarts=3,
            max_seconds=30.0,
        )
        metrics.register_statistics("db_writer", sink.statistics, DB_WRITER_FIELDS)
        metrics.register_statistics(
            "edge",
            edge_metrics(lambda: fund_statistics(trading), market.reader),
            EDGE_FIELDS,
        )
        metrics.register_statistics("trading", trading.metric_statistics, TRADING_FIELDS)
        log_sink = installed_log_sink()
        if log_sink is not None:
            metrics.register_statistics("logging", log_sink.statistics, LOG_FIELDS)
        asm = Assembly(
            config,
            run_dir,
            sim,
            sim_process,
            db,
            metrics,
            plane,
            sink,
            market,
            trading,
            root,
            journal_dir=journal_dir,
        )
        built.append(asm)
        yield asm


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


def _wire_control(asm: Assembly, tree: Tree) -> None:
    trading = asm.trading
    publish_trading_state(tree, trading)
    asm.plane.set_trading_control(
        halt=lambda reason: trading.halt(reason or "halted from the control endpoint"),
        resume=lambda reason: trading.resume(),
    )
    asm.plane.trading_actions["flatten"] = lambda reason: trading.flatten()
    asm.plane.trading_actions["adopt-venue"] = trading.adopt_venue
    readiness = asm.plane.readiness
    readiness.register("storage", lambda: _storage_ready(asm.sink))
    readiness.register("feeds", lambda: _feeds_ready(asm.market))
    readiness.register("trading", lambda: _trading_ready(trading))


def publish_trading_state(tree: Tree, trading: TradingHandles) -> None:
    """Keep ``trading_state`` in the tree snapshot's ``extra`` (``/tree``, the
    ``arbtree_trading_state`` metric, the inspector's header) on every ladder change."""
    ladder = trading.control.ladder

    def publish(change: object = None) -> None:
        tree.extra["trading_state"] = ladder.state.name.lower()

    publish()
    ladder.listeners.append(publish)


def _storage_ready(sink: StorageSink) -> tuple[bool, str]:
    if sink.writable:
        return True, ""
    return False, f"storage is {sink.stats.mode} (records go to the journal)"


def _feeds_ready(market: MarketHandles) -> tuple[bool, str]:
    down = [name for name, stats in market.feed_stats.items() if not stats.connected]
    if down:
        return False, "not connected: " + ", ".join(sorted(down))
    stale = stale_instruments(market.reader)
    if stale:
        return False, f"{len(stale)} stale books"
    return True, ""


def _trading_ready(trading: TradingHandles) -> tuple[bool, str]:
    """Ready once start-up reconciliation released its hold on the ladder."""
    pending = trading.control.ladder.holds.get("reconciliation")
    return pending is None, "" if pending is None else f"not reconciled: {pending}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_blocking(RunOptions()))
