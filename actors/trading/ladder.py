"""The trading-state ladder ACTIVE -> REDUCING -> HALTED: latched and dominant.

Anyone may *escalate* (config, the control endpoint, the watchdog, the kill-switch file, a
failed reconciliation, the daily loss limit); the state only ever moves up the ladder until
an explicit :meth:`TradingLadder.resume`. HALTED and REDUCING deny everything that adds
risk; cancels and reduce-only unwinds of a leg whose partner failed are always allowed
(:meth:`TradingLadder.permits` decides by :class:`OrderPurpose`, never by side). The
ladder is owned by the fund manager's task; other actors read it (same Trio thread, no
locks) and write only through its control methods.
"""

from __future__ import annotations

import collections
import enum
from collections.abc import Callable

import attrs


class OrderPurpose(enum.StrEnum):
    """Why an order is sent; the ladder's gate decides by purpose, not by side.

    ``OPEN`` adds risk (the legs of a new opportunity). ``UNWIND`` is reduce-only: it
    trades back (or hedges) a leg whose partner failed, so it lowers risk and is allowed in
    every state, HALTED and shutdown included (never a naked leg: docs/design.md).
    ``CANCEL`` is always allowed.
    """

    OPEN = "open"
    UNWIND = "unwind"
    CANCEL = "cancel"


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


HISTORY_KEPT = 1000  # a flapping source (watchdog, kill-switch file) must not grow it forever


@attrs.define
class TradingLadder:
    """The latched state, the *holds* and the recent changes (the last
    :data:`HISTORY_KEPT`; ``changes`` counts them all, and listeners see every one).

    ``latched`` only moves up until :meth:`resume`. A *hold* (start-up reconciliation
    pending, kill-switch file present) forces HALTED while it exists without latching and
    makes :meth:`resume` refuse; the effective :attr:`state` is HALTED if any hold exists.
    """

    latched: TradingState = TradingState.ACTIVE
    latched_reason: str = "initial"
    source: str = "config"
    holds: dict[str, str] = attrs.field(factory=dict)
    history: collections.deque[LadderChange] = attrs.field(
        factory=lambda: collections.deque(maxlen=HISTORY_KEPT)
    )
    changes: int = 0
    listeners: list[Callable[[LadderChange], None]] = attrs.field(factory=list)
    clock: Callable[[], float] = attrs.field(default=lambda: 0.0)

    @property
    def state(self) -> TradingState:
        return TradingState.HALTED if self.holds else self.latched

    @property
    def reason(self) -> str:
        if self.holds:
            return "; ".join(f"{k}: {v}" for k, v in sorted(self.holds.items()))
        return self.latched_reason

    def escalate(self, state: TradingState, reason: str, source: str) -> bool:
        """Latch ``state`` if it is more restrictive; returns whether anything changed."""
        if state <= self.latched:
            return False
        old = self.state
        self.latched, self.latched_reason, self.source = state, reason, source
        self._changed(old, reason, source)
        return True

    def hold(self, name: str, reason: str) -> None:
        """Force HALTED while the hold exists (does not latch)."""
        old = self.state
        changed = self.holds.get(name) != reason
        self.holds[name] = reason
        if changed:
            self._changed(old, f"hold {name}: {reason}", name)

    def release_hold(self, name: str) -> None:
        if self.holds.pop(name, None) is not None:
            self._changed(TradingState.HALTED, f"hold {name} released", name)

    def resume(self, source: str = "control") -> tuple[bool, str]:
        """Explicit un-latch back to ACTIVE; refused while a hold exists."""
        if self.holds:
            return False, f"resume refused: {self.reason}"
        if self.latched is TradingState.ACTIVE:
            return True, "already active"
        old = self.state
        self.latched, self.latched_reason, self.source = TradingState.ACTIVE, "resumed", source
        self._changed(old, "resumed", source)
        return True, "resumed"

    def allows_new_risk(self) -> bool:
        return self.state is TradingState.ACTIVE

    def permits(self, purpose: OrderPurpose) -> bool:
        """The gate every order passes: new risk only when ACTIVE; risk-reducing unwinds
        and cancels whatever the state."""
        if purpose is OrderPurpose.OPEN:
            return self.state is TradingState.ACTIVE
        return True

    def allows_reducing(self) -> bool:
        return self.state is not TradingState.HALTED

    def _changed(self, old: TradingState, reason: str, source: str) -> None:
        change = LadderChange(self.clock(), old, self.state, source, reason)
        self.history.append(change)
        self.changes += 1
        for listener in list(self.listeners):
            listener(change)
