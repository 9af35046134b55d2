"""The trading control handle: one object, created by the wiring, that outlives every
fund-manager incarnation (so a restart never un-latches a halt).

It owns the :class:`TradingLadder`; the fund manager, the executor and the watchdog read
the state from it, and the control endpoint calls :meth:`halt` / :meth:`resume` /
:meth:`reduce`. All calls happen on the Trio thread: no locks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import attrs
import trio

from actors.trading.ladder import LadderChange, OrderPurpose, TradingLadder, TradingState

log = logging.getLogger("arbtree.trading.control")


@attrs.define(eq=False)
class TradingControl:
    ladder: TradingLadder = attrs.field(factory=TradingLadder)
    # The fund manager and executor publish a statistics() callable here.
    stats_sources: dict[str, Callable[[], dict[str, Any]]] = attrs.field(factory=dict)
    _wakeup: trio.Event = attrs.field(factory=trio.Event)

    def __attrs_post_init__(self) -> None:
        self.ladder.listeners.append(self._on_change)
        try:
            self.ladder.clock = trio.current_time
            trio.current_time()
        except RuntimeError:  # built outside Trio: use a wall-clock-free placeholder
            self.ladder.clock = lambda: 0.0

    @classmethod
    def starting_in(cls, state: TradingState, reason: str = "config") -> TradingControl:
        control = cls()
        control.ladder.escalate(state, reason, "config")
        return control

    # ------------------------------------------------------------ control hooks

    @property
    def state(self) -> TradingState:
        return self.ladder.state

    def permits(self, purpose: OrderPurpose) -> bool:
        """May an order with this purpose go out now? (see :meth:`TradingLadder.permits`)"""
        return self.ladder.permits(purpose)

    def halt(self, reason: str, source: str = "control") -> None:
        """Latch HALTED: nothing that adds risk (cancels and unwinds still go out)."""
        self.ladder.escalate(TradingState.HALTED, reason, source)

    def reduce(self, reason: str, source: str = "control") -> None:
        """Latch REDUCING: only risk-reducing orders."""
        self.ladder.escalate(TradingState.REDUCING, reason, source)

    def resume(self, source: str = "control") -> tuple[bool, str]:
        """Explicit un-latch to ACTIVE; refused (with the reason) while a hold exists."""
        ok, message = self.ladder.resume(source)
        log.warning("trading resume requested by %s: %s", source, message)
        return ok, message

    def statistics(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "trading_state": self.ladder.state.label,
            "trading_reason": self.ladder.reason,
            "holds": dict(self.ladder.holds),
            "ladder_changes": self.ladder.changes,
        }
        for name, fn in self.stats_sources.items():
            out[name] = fn()
        return out

    async def wait_change(self) -> None:
        """Wait for the next ladder change (used by the executor to react to HALTED)."""
        await self._wakeup.wait()

    def _on_change(self, change: LadderChange) -> None:
        level = logging.WARNING if change.new > change.old else logging.INFO
        log.log(
            level,
            "trading state %s -> %s by %s: %s",
            change.old.label,
            change.new.label,
            change.source,
            change.reason,
        )
        event, self._wakeup = self._wakeup, trio.Event()
        event.set()
