"""The per-run hub the control endpoint serves from: :class:`ControlPlane` (metrics,
readiness checks, the token, the attached tree and the trading hook) and
:class:`TreeControl`, what it needs of ``supervision``'s ``Tree``.

Apart from the HTTP code because the run assembler and the components build and register
on it; only the app reads it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any, Protocol

import attrs

from actors.observability.health import ReadinessChecks
from actors.observability.logging import register_secret
from actors.observability.metrics import Metrics
from protocols.tree import TreeSnapshot
from supervision.injected import InjectedFault

TradingAction = Callable[[str], object]  # may return an awaitable


class TreeControl(Protocol):
    """What the control endpoint needs from ``supervision``'s ``Tree``."""

    def snapshot(self) -> TreeSnapshot: ...

    async def restart_child(self, path: str, reason: str) -> Any: ...

    def request_shutdown(self, reason: str, *, force: bool = False) -> Any: ...

    def inject_fault(self, path: str, fault: InjectedFault) -> None: ...


@attrs.define(eq=False)
class ControlPlane:
    """The per-run hub the control endpoint serves from.

    The run assembler creates one, gives it to the control actor and to the components
    that register readiness checks, statistics callbacks or the trading hook, and calls
    :meth:`attach_tree` once the tree exists. The token lives here, so a restarted
    control actor keeps serving the same token for the whole run.
    """

    metrics: Metrics
    readiness: ReadinessChecks = attrs.field(factory=ReadinessChecks)
    run_id: str = attrs.field(
        factory=lambda: time.strftime("%Y%m%dT%H%M%S-") + secrets.token_hex(3)
    )
    token: str = attrs.field(factory=lambda: secrets.token_urlsafe(32), repr=False)
    tree: TreeControl | None = None
    _halt: TradingAction | None = None
    _resume: TradingAction | None = None
    # More trading actions by name (``flatten``, ``adopt-venue``): ``POST /actions/<name>``.
    trading_actions: dict[str, TradingAction] = attrs.field(factory=dict)
    # ``POST /actions/fault`` (crash, hang, stall: the chaos harness's actor faults) is
    # served only while this holds; ``arbtree run`` sets it for paper trading alone.
    faults_allowed: bool = True

    def __attrs_post_init__(self) -> None:
        register_secret(self.token)
        self.metrics.attach_tree(self.snapshot)

    def attach_tree(self, tree: TreeControl) -> None:
        self.tree = tree

    def snapshot(self) -> TreeSnapshot | None:
        return None if self.tree is None else self.tree.snapshot()

    def set_trading_control(
        self, *, halt: TradingAction, resume: TradingAction
    ) -> Callable[[], None]:
        """Route ``/actions/halt`` and ``/actions/resume`` to the fund manager.

        ``halt(reason)`` and ``resume(reason)`` may be plain or async functions; what they
        return (e.g. the new trading state) is echoed in the response as ``result``.
        Returns a function that removes the hook (call it when the fund manager stops).
        """
        self._halt, self._resume = halt, resume

        def unregister() -> None:
            if self._halt is halt:
                self._halt = self._resume = None

        return unregister

    @property
    def trading_hook(self) -> tuple[TradingAction, TradingAction] | None:
        if self._halt is None or self._resume is None:
            return None
        return self._halt, self._resume
