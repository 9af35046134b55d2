"""The trading-state ladder ACTIVE -> REDUCING -> HALTED: latched and dominant.

Anyone may *escalate* (config, the control endpoint, the watchdog, the kill-switch file, a
failed reconciliation, the daily loss limit); the state only ever moves up the ladder until
an explicit :meth:`TradingLadder.resume`. HALTED denies everything but cancels; REDUCING
denies anything that adds risk. The ladder is owned by the fund manager's task; other
actors read it (same Trio thread, no locks) and write only through its control methods.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import attrs


class TradingState(enum.IntEnum):
    """Ordered by severity: ``max()`` of two states is the more restrictive one."""

    ACTIVE = 0
    REDUCING = 1
    HALTED = 2

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> TradingState:
        try:
            return cls[text.upper()]
        except KeyError:
            raise ValueError(f"unknown trading state {text!r}") from None


@attrs.frozen
class LadderChange:
    at: float
    old: TradingState
    new: TradingState
    source: str
    reason: str


@attrs.define
class TradingLadder:
    """The latched state plus a history of every change (for logs, storage, the inspector)."""

    state: TradingState = TradingState.ACTIVE
    reason: str = "initial"
    source: str = "config"
    history: list[LadderChange] = attrs.field(factory=list)
    # Blockers that refuse ``resume()`` while present, e.g. {"kill_switch": "file exists"}.
    blockers: dict[str, str] = attrs.field(factory=dict)
    listeners: list[Callable[[LadderChange], None]] = attrs.field(factory=list)
    clock: Callable[[], float] = attrs.field(default=lambda: 0.0)

    def escalate(self, state: TradingState, reason: str, source: str) -> bool:
        """Move to ``state`` if it is more restrictive; returns whether anything changed."""
        if state <= self.state:
            return False
        self._set(state, reason, source)
        return True

    def resume(self, source: str = "control") -> tuple[bool, str]:
        """Explicit un-latch back to ACTIVE; refused while a blocker is present."""
        if self.blockers:
            why = "; ".join(f"{k}: {v}" for k, v in sorted(self.blockers.items()))
            return False, f"resume refused: {why}"
        if self.state is TradingState.ACTIVE:
            return True, "already active"
        self._set(TradingState.ACTIVE, "resumed", source)
        return True, "resumed"

    def allows_new_risk(self) -> bool:
        return self.state is TradingState.ACTIVE

    def allows_reducing(self) -> bool:
        return self.state is not TradingState.HALTED

    def _set(self, state: TradingState, reason: str, source: str) -> None:
        change = LadderChange(self.clock(), self.state, state, source, reason)
        self.state, self.reason, self.source = state, reason, source
        self.history.append(change)
        for listener in list(self.listeners):
            listener(change)
