"""One run, assembled: its resources (``arbtree.resources``), its tree's spec and handles
(``arbtree.tree_spec``) and what it learns while it runs (:class:`RunState`). The status
display, the summary, the tests and the benchmarks read it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from actors.market_tree import MarketHandles
from actors.observability import ControlPlane, Metrics
from actors.sim import SimVenue
from actors.storage.database import Database
from actors.storage.sink import StorageSink
from actors.trading_tree import TradingHandles
from arbtree.config import AppConfig
from arbtree.detection import Detection, detection_of
from arbtree.resources import RunResources
from arbtree.sim_process import SimHandle, SimProcess
from protocols.messages import OpportunityRecord
from supervision import SupervisorSpec, Tree


@attrs.define(eq=False)
class RunState:
    """What the run learns as it goes: the tree once ``open_tree`` has started it, and the
    opportunities the detector emitted (scored against the sim's windows at the end).

    It exists before the tree's spec is built, so the spec's callbacks (the trading
    path's record sink, the watchdog's view of the tree) are its methods."""

    sink: StorageSink
    tree: Tree | None = None
    detections: list[Detection] = attrs.field(factory=list)
    opportunities_by_strategy: dict[str, int] = attrs.field(factory=dict)

    def record(self, record: Any) -> None:
        """The trading path's record sink: note detections for scoring, then persist."""
        if type(record) is OpportunityRecord:
            self.detections.append(detection_of(record))
            by = self.opportunities_by_strategy
            strategy = record.opportunity.strategy
            by[strategy] = by.get(strategy, 0) + 1
        self.sink.put(record)

    def running_tree(self) -> Tree | None:
        """The tree, None until ``open_tree`` has started it (the watchdog waits)."""
        return self.tree


@attrs.frozen
class TreeParts:
    """The supervision tree's spec, built (not started), and the handles into it."""

    spec: SupervisorSpec
    market: MarketHandles
    trading: TradingHandles


@attrs.define(eq=False)
class Assembly:
    """Everything one run wires together, kept for the status display and the summary."""

    resources: RunResources
    parts: TreeParts
    state: RunState

    @property
    def config(self) -> AppConfig:
        return self.resources.config

    @property
    def run_dir(self) -> Path:
        return self.resources.run_dir

    @property
    def journal_dir(self) -> Path:
        return self.resources.journal_dir

    @property
    def db(self) -> Database:
        return self.resources.db

    @property
    def sim(self) -> SimVenue | None:
        """The in-process simulated venue (fault hooks, exchange, books), else None."""
        return self.resources.sim

    @property
    def sim_process(self) -> SimProcess | None:
        return self.resources.sim_process

    @property
    def sim_handle(self) -> SimHandle | None:
        """The simulated venue in either mode (URLs, markets, windows), None if real."""
        return self.sim if self.sim is not None else self.sim_process

    @property
    def metrics(self) -> Metrics:
        return self.resources.metrics

    @property
    def plane(self) -> ControlPlane:
        return self.resources.plane

    @property
    def sink(self) -> StorageSink:
        return self.resources.sink

    @property
    def spec(self) -> SupervisorSpec:
        return self.parts.spec

    @property
    def market(self) -> MarketHandles:
        return self.parts.market

    @property
    def trading(self) -> TradingHandles:
        return self.parts.trading

    @property
    def tree(self) -> Tree | None:
        return self.state.tree

    @tree.setter
    def tree(self, tree: Tree | None) -> None:
        self.state.tree = tree

    @property
    def detections(self) -> list[Detection]:
        return self.state.detections

    @property
    def opportunities_by_strategy(self) -> dict[str, int]:
        return self.state.opportunities_by_strategy

    def record(self, record: Any) -> None:
        self.state.record(record)
