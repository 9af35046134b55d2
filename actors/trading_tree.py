"""Wiring of the trading path for ``arbtree run``.

``build_trading_path`` returns the ``trading`` supervisor spec (rest_for_one: fund manager,
then executor), a factory for the watchdog's ChildSpec (it needs the running Tree), and the
handles: the :class:`TradingControl` (``halt``/``resume``/``reduce``/``statistics`` for
the control endpoint) and the mailboxes.

Edges (ARCHITECTURE §4): detector -> fund manager ``opportunities`` (BLOCK, small; passed
in), fund manager -> executor ``intents`` (BLOCK, never dropped), executor -> fund manager
``outcomes`` (BLOCK, never dropped), user channels -> executor ``user_fills`` (BLOCK).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from actors.trading.control import TradingControl
from actors.trading.executor import Executor
from actors.trading.fund_manager import CheckpointLoader, FundManager
from actors.trading.http_clients import build_clients, check_live_switches
from actors.trading.ladder import TradingState
from actors.trading.messages import ExecutorCommand, ExecutorOutcomeMsg
from actors.trading.sink import RecordSink, as_sink
from actors.trading.venue_clients import VenueClient
from actors.watchdog import TreeHandle, Watchdog
from protocols.config.trading import TradingConfig
from protocols.messages import Fill, Opportunity, Venue
from supervision import ChildSpec, Mailbox, OverflowPolicy, Strategy, SupervisorSpec
from supervision.spec import Backoff, Restart

ClientsFactory = Callable[[], Mapping[Venue, VenueClient]]


@attrs.frozen
class TradingHandles:
    control: TradingControl
    intents: Mailbox[ExecutorCommand]
    outcomes: Mailbox[ExecutorOutcomeMsg]
    user_fills: Mailbox[Fill]
    sink: RecordSink | None

    def halt(self, reason: str) -> None:
        self.control.halt(reason, "control")

    def reduce(self, reason: str) -> None:
        self.control.reduce(reason, "control")

    def resume(self) -> tuple[bool, str]:
        return self.control.resume("control")

    def statistics(self) -> dict[str, Any]:
        out = self.control.statistics()
        out["intents_mailbox"] = self.intents.statistics()
        out["outcomes_mailbox"] = self.outcomes.statistics()
        return out


def build_trading_path(
    config: TradingConfig,
    *,
    opportunities: Mailbox[Opportunity],
    storage: Mailbox[Any] | RecordSink | None = None,
    metrics: Any = None,
    clients: ClientsFactory | None = None,
    checkpoint_loader: CheckpointLoader | None = None,
    env: dict[str, str] | None = None,
) -> tuple[SupervisorSpec, Callable[..., ChildSpec], TradingHandles]:
    """Build the trading subtree. ``clients`` defaults to HTTP clients from the config
    (paper: the sim's URLs in ``executor.*.rest_url``); live mode is checked here so a
    missing switch fails before anything starts. ``metrics`` is accepted for the lead's
    wiring (statistics() is the metrics source) and not used directly."""
    del metrics
    check_live_switches(config.executor, env)
    factory: ClientsFactory = clients or (lambda: build_clients(config.executor, env))
    fund_cfg = config.fund
    control = TradingControl.starting_in(TradingState.parse(fund_cfg.state.initial))
    intents: Mailbox[ExecutorCommand] = Mailbox(
        "trading.intents", fund_cfg.intents_capacity, OverflowPolicy.BLOCK
    )
    outcomes: Mailbox[ExecutorOutcomeMsg] = Mailbox(
        "trading.outcomes", fund_cfg.outcomes_capacity, OverflowPolicy.BLOCK
    )
    user_fills: Mailbox[Fill] = Mailbox("trading.user_fills", 1024, OverflowPolicy.BLOCK)
    sink = as_sink(storage)

    fund_manager = ChildSpec(
        id="fund_manager",
        start=lambda: FundManager(
            config=fund_cfg,
            executor_config=config.executor,
            control=control,
            opportunities=opportunities,
            intents=intents,
            outcomes=outcomes,
            venues=factory,
            checkpoint_loader=checkpoint_loader,
            sink=sink,
        ),
        restart=Restart.PERMANENT,
        backoff=Backoff(min_s=0.1, max_s=5.0),
        heartbeat_timeout_s=max(5.0, fund_cfg.state.kill_switch_poll_s * 10),
        mailboxes=(opportunities, outcomes),
    )
    executor = ChildSpec(
        id="executor",
        start=lambda: Executor(
            config=config.executor,
            control=control,
            intents=intents,
            outcomes=outcomes,
            clients=factory,
            user_fills=user_fills,
        ),
        restart=Restart.PERMANENT,
        backoff=Backoff(min_s=0.1, max_s=5.0),
        heartbeat_timeout_s=5.0,
        shutdown=config.executor.drain_timeout_s + 1.0,
        mailboxes=(intents, user_fills),
    )
    spec = SupervisorSpec(
        children=(fund_manager, executor),
        strategy=Strategy.REST_FOR_ONE,
        max_restarts=5,
        max_seconds=30.0,
    )

    def watchdog_spec(
        tree: Callable[[], TreeHandle | None],
        *,
        stale_instruments: Callable[[], Iterable[str]] | None = None,
        storage_healthy: Callable[[], bool] | None = None,
        on_stale: Callable[[frozenset[str]], None] | None = None,
    ) -> ChildSpec:
        return ChildSpec(
            id="watchdog",
            start=lambda: Watchdog(
                config=config.watchdog,
                tree=tree,
                control=control,
                stale_instruments=stale_instruments,
                storage_healthy=storage_healthy,
                on_stale=on_stale,
                sink=sink,
            ),
            restart=Restart.PERMANENT,
            backoff=Backoff(min_s=0.1, max_s=2.0),
        )

    handles = TradingHandles(control, intents, outcomes, user_fills, sink)
    return spec, watchdog_spec, handles
