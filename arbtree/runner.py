"""Assemble and run the whole tree: ``arbtree run``.

:func:`open_assembly` opens the run's resources (``arbtree.resources``: the database first,
then the simulated venue, in-process, in a child process or already running) and builds
the tree's spec on them (``arbtree.tree_spec``); :func:`run_app` starts the tree, runs it
until the duration elapses or a shutdown is requested, and summarizes.
"""

from __future__ import annotations

import logging
import random
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import msgspec
import trio

from actors.market_tree import MarketHandles
from actors.observability import DB_WRITER_FIELDS, LOG_FIELDS
from actors.observability.logging import close_logging, configure_logging, installed_log_sink
from actors.shutdown_phases import LOG_NAMESPACE, new_shutdown
from actors.storage.database import single_leaf
from actors.storage.errors import StorageError
from actors.storage.last_records import write_last_records
from actors.storage.sink import StorageSink
from actors.trading.http_clients import check_live_keys
from actors.trading.ladder import Hold
from actors.trading.tally import TRADING_FIELDS
from actors.trading_tree import TradingHandles
from arbtree.assembly import Assembly as Assembly  # what run_app's observer gets
from arbtree.assembly import RunState, TreeParts
from arbtree.config import AppConfig, load_app_config
from arbtree.display import run_status_display
from arbtree.edge import (
    EDGE_FIELDS,
    EdgeFigures,
    edge_figures,
    edge_metrics,
    edge_record,
    publish_edge,
)
from arbtree.resources import RunResources, open_resources
from arbtree.run_lock import RunDirLock
from arbtree.sim_endpoint import read_endpoint_file
from arbtree.status import StatusSource, stale_instruments
from arbtree.summary import RunSummary, build_summary
from arbtree.tree_spec import build_tree
from protocols.config.load import ConfigError
from supervision import Tree, open_tree
from supervision.idle import busy_poll

log = logging.getLogger("arbtree.run")

QUIET_LOGGERS = ("httpx", "httpcore", "pgserver", "hypercorn.access")


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
    if run.venue == "sim-external":
        read_endpoint_file(Path(sim.endpoint_file))  # missing or broken: refused here
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


@asynccontextmanager
async def open_assembly(config: AppConfig, run_id: str) -> AsyncIterator[Assembly]:
    """Open the run's resources (database, sim, control plane, sink), then build (not
    start) the supervision tree on them."""
    async with open_resources(config, run_id) as res:
        state = RunState(res.sink)
        parts = build_tree(res, state, started_ms=_wall_ms())
        _register_metrics(res, parts)
        yield Assembly.of(res, parts, state)


def _register_metrics(res: RunResources, parts: TreeParts) -> None:
    """The statistics /metrics exports besides the actors' own."""
    metrics = res.metrics
    metrics.register_statistics("db_writer", res.sink.statistics, DB_WRITER_FIELDS)
    metrics.register_statistics(
        "edge",
        edge_metrics(lambda: fund_statistics(parts.trading), parts.market.reader),
        EDGE_FIELDS,
    )
    metrics.register_statistics("trading", parts.trading.metric_statistics, TRADING_FIELDS)
    log_sink = installed_log_sink()
    if log_sink is not None:
        metrics.register_statistics("logging", log_sink.statistics, LOG_FIELDS)


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
    pending = trading.control.ladder.holds.get(Hold.RECONCILIATION)
    return pending is None, "" if pending is None else f"not reconciled: {pending}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_blocking(RunOptions()))
