"""What one ``arbtree run`` opens before its tree and closes after it: the database, the
simulated venue (in-process, in a child process, or one already running), the metrics
and control plane, and the storage sink. The tree itself is only built from them
(``arbtree.tree_spec``); ``arbtree.runner`` starts it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import attrs
import msgspec

from actors.observability import ControlPlane, Metrics
from actors.sim import SimVenue, open_sim_venue
from actors.storage.database import Database, open_database
from actors.storage.sink import StorageSink
from actors.trading.execution_journal import ExecutionJournal
from actors.trading.messages import ExecutionRequest
from arbtree.config import AppConfig, with_neg_risk_tokens, with_sim_endpoints
from arbtree.sim_endpoint import ExternalSim, read_endpoint_file
from arbtree.sim_process import SimHandle, SimProcess, open_sim_process
from supervision import Mailbox, OverflowPolicy

log = logging.getLogger("arbtree.run")

SIM_CA_FILE = "sim-ca.pem"  # the TLS sim's CA, written to the run directory for its clients


@attrs.define(eq=False)
class RunResources:
    """The run's resources, open. ``config`` is the one the tree runs with: the file's,
    pointed at the simulated venue when there is one (:func:`with_sim_endpoints`).

    ``sim`` is the in-process simulated venue (fault hooks, its exchange and books): None
    against real venues, against a sim in a child process (``sim.process``: ``sim_process``
    is set instead) and against one already running (``run.venue = "sim-external"``)."""

    config: AppConfig
    run_dir: Path
    journal_dir: Path
    db: Database
    sim: SimVenue | None
    sim_process: SimProcess | None
    metrics: Metrics
    plane: ControlPlane
    sink: StorageSink
    # The run directory's execution journal and what a killed process left unfinished in it
    # (docs/trading.md, "What happens to an execution when the process dies").
    execution_journal: tuple[ExecutionJournal, list[ExecutionRequest]] | None

    @property
    def sim_handle(self) -> SimHandle | None:
        """The simulated venue in either mode (URLs, markets, windows), None if real."""
        return self.sim if self.sim is not None else self.sim_process


@asynccontextmanager
async def open_resources(config: AppConfig, run_id: str) -> AsyncIterator[RunResources]:
    """Open the database, then start (or find) the sim; close them in reverse order."""
    run_dir = Path(config.run.run_dir)  # absolute, created by run_blocking
    storage = config.storage
    async with AsyncExitStack() as stack:
        # The database first: an unreachable one stops the run before the sim starts.
        db = await stack.enter_async_context(open_database(storage.dsn, run_dir, storage))
        sim: SimVenue | None = None
        sim_process: SimProcess | None = None
        if config.run.venue in ("sim", "sim-external"):
            handle: SimHandle
            if config.run.venue == "sim-external":
                handle = ExternalSim(read_endpoint_file(Path(config.sim.endpoint_file)))
            else:
                sim_config = config.sim.to_sim_config(config.run.seed, run_dir)
                if config.sim.process:
                    opened = open_sim_process(sim_config, cpus=config.sim.cpus)
                    handle = sim_process = await stack.enter_async_context(opened)
                else:
                    handle = sim = await stack.enter_async_context(open_sim_venue(sim_config))
            ca_file = ""
            if handle.ca_pem is not None:
                ca_path = run_dir / SIM_CA_FILE
                ca_path.write_bytes(handle.ca_pem)
                ca_file = str(ca_path)
            config = with_sim_endpoints(config, handle, ca_file=ca_file)
            log.info(
                "simulated venue%s: polymarket %s, kalshi %s, rest %s, %d markets",
                " (child process)" if sim_process is not None else "",
                handle.polymarket_ws_url,
                handle.kalshi_ws_url,
                handle.rest_url,
                len(handle.markets),
            )
        trading = with_neg_risk_tokens(config.trading, config.market)
        config = msgspec.structs.replace(config, trading=trading)
        metrics = Metrics(run_id=run_id)
        # Executions in flight survive a killed process (docs/running.md).
        journal, unfinished = ExecutionJournal.open(
            run_dir / "executions.journal", fsync=config.run.journal_fsync
        )
        stack.callback(journal.close)
        yield RunResources(
            config=config,
            run_dir=run_dir,
            journal_dir=Path(storage.journal_dir or run_dir / "journal"),
            db=db,
            sim=sim,
            sim_process=sim_process,
            metrics=metrics,
            plane=ControlPlane(
                metrics,
                run_id=run_id,
                faults_allowed=config.trading.executor.mode == "paper",
            ),
            sink=StorageSink(
                Mailbox("storage.db_writer", storage.mailbox_capacity, OverflowPolicy.BLOCK)
            ),
            execution_journal=(journal, unfinished),
        )
