"""arbtree's shutdown phases, in order: what the application declares to the supervision
runtime (which knows no phase names of its own). See docs/design.md, "Shutdown".

Trading stops first (no new opportunities, open orders cancelled, executions drained,
the fund checkpointed), then market data, then storage flushes everything the earlier
phases produced, and connections close last.
"""

from __future__ import annotations

import enum

from supervision.shutdown import PhaseSpec, ShutdownCoordinator


class Phase(enum.StrEnum):
    HALT_TRADING = "halt-trading"  # detector stops emitting, fund refuses new trades
    CANCEL_OPEN_ORDERS = "cancel-open-orders"
    DRAIN_EXECUTOR = "drain-executor"  # in-flight executions finish
    CHECKPOINT = "checkpoint"  # the fund's books to storage
    STOP_FEEDS = "stop-feeds"
    FLUSH_STORAGE = "flush-storage"  # everything queued to Postgres or the journal
    CLOSE = "close"


PHASES: tuple[PhaseSpec, ...] = (
    PhaseSpec(Phase.HALT_TRADING, 2.0),
    PhaseSpec(Phase.CANCEL_OPEN_ORDERS, 5.0),
    PhaseSpec(Phase.DRAIN_EXECUTOR, 5.0),
    PhaseSpec(Phase.CHECKPOINT, 5.0),
    PhaseSpec(Phase.STOP_FEEDS, 3.0),
    PhaseSpec(Phase.FLUSH_STORAGE, 8.0),
    PhaseSpec(Phase.CLOSE, 2.0),
)

# The application's loggers live under this name (the tree's actors and the CLI alike).
LOG_NAMESPACE = "arbtree"


def new_shutdown(deadline_s: float = 30.0) -> ShutdownCoordinator:
    """A coordinator for arbtree's phases, all of them under one global deadline."""
    return ShutdownCoordinator(PHASES, deadline_s=deadline_s)


__all__ = ["LOG_NAMESPACE", "PHASES", "Phase", "new_shutdown"]
