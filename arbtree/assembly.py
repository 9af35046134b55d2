"""One run, assembled: its resources (``arbtree.resources``), its tree's spec and handles
(``arbtree.tree_spec``) and what it learns while it runs (:class:`RunState`). The status
display, the summary, the tests and the benchmarks read it."""

from __future__ import annotations

from typing import Any

import attrs

from actors.market_tree import MarketHandles
from actors.storage.sink import StorageSink
from actors.trading_tree import TradingHandles
from arbtree.detection import Detection, detection_of
from arbtree.resources import RunResources
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
class Assembly(RunResources):
    """One run: its resources with the tree built on them, kept for the status display and
    the summary. ``detections`` and ``opportunities_by_strategy`` are the very collections
    ``state.record`` fills; ``tree`` is ``state.tree``."""

    spec: SupervisorSpec
    market: MarketHandles
    trading: TradingHandles
    state: RunState
    detections: list[Detection]
    opportunities_by_strategy: dict[str, int]

    @classmethod
    def of(cls, res: RunResources, parts: TreeParts, state: RunState) -> Assembly:
        resources = {f.name: getattr(res, f.name) for f in attrs.fields(RunResources)}
        return cls(
            **resources,
            spec=parts.spec,
            market=parts.market,
            trading=parts.trading,
            state=state,
            detections=state.detections,
            opportunities_by_strategy=state.opportunities_by_strategy,
        )

    @property
    def tree(self) -> Tree | None:
        """The running tree (None until ``open_tree`` has started it)."""
        return self.state.tree

    @tree.setter
    def tree(self, tree: Tree | None) -> None:
        self.state.tree = tree
