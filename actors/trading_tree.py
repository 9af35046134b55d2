"""Wiring of the trading path for ``arbtree run``.

``build_trading_path`` returns the ``trading`` supervisor spec (rest_for_one: fund manager,
then executor, then a user-channel actor per venue with ``executor.<venue>.user_ws_url``),
a factory for the watchdog's ChildSpec (it needs the running Tree), and the
handles: the :class:`TradingControl` (``halt``/``resume``/``reduce``/``statistics`` for
the control endpoint) and the mailboxes.

Edges (docs/design.md, "Mailboxes and their policies"): detector -> fund manager
``opportunities`` (BLOCK, small; passed in), fund manager -> executor ``intents`` (BLOCK,
never dropped), executor -> fund manager ``outcomes`` (BLOCK, never dropped), user
channels -> executor ``user_fills`` (BLOCK).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

import attrs

from actors.trading.control import TradingControl
from actors.trading.execution_journal import ExecutionJournal
from actors.trading.execution_store import ExecutionStore
from actors.trading.executor import Executor
from actors.trading.fees import FeeBook
from actors.trading.fill_tracker import FillTracker
from actors.trading.fund_journal import FundJournal
from actors.trading.fund_manager import CheckpointLoader, FundManager
from actors.trading.http_clients import (
    PolymarketAccount,
    build_clients,
    check_live_keys,
    check_live_switches,
    kalshi_signer_from_env,
    polymarket_account_from_env,
)
from actors.trading.ladder import TradingState
from actors.trading.messages import ExecutionRequest, ExecutorCommand, ExecutorOutcomeMsg
from actors.trading.sink import RecordSink, as_sink
from actors.trading.tally import TradingTally
from actors.trading.user_channel import HeadersFactory, UserChannel, UserChannelState
from actors.trading.venue_clients import VenueClient
from actors.watchdog import OperatorRestarts, TreeHandle, Watchdog
from protocols.config.trading import TradingConfig, VenueExecConfig
from protocols.fixed import format_units
from protocols.messages import Fill, InstrumentId, Opportunity, Venue
from supervision import ChildSpec, Mailbox, OverflowPolicy, Strategy, SupervisorSpec
from supervision.spec import Backoff, Restart

ClientsFactory = Callable[[], Mapping[Venue, VenueClient]]


class WatchdogSpecFactory(Protocol):
    """The watchdog's ChildSpec, built once the caller can say how to reach the running
    tree (the watchdog is one of its children, so the tree does not exist yet)."""

    def __call__(
        self,
        tree: Callable[[], TreeHandle | None],
        *,
        stale_instruments: Callable[[], Iterable[str]] | None = None,
        storage_healthy: Callable[[], bool] | None = None,
        on_stale: Callable[[frozenset[str]], None] | None = None,
    ) -> ChildSpec: ...


@attrs.frozen
class TradingHandles:
    control: TradingControl
    intents: Mailbox[ExecutorCommand]
    outcomes: Mailbox[ExecutorOutcomeMsg]
    user_fills: Mailbox[Fill]
    sink: RecordSink | None
    user_channels: UserChannelState = attrs.field(factory=UserChannelState)
    store: ExecutionStore = attrs.field(factory=ExecutionStore)
    tally: TradingTally = attrs.field(factory=TradingTally)
    journal: FundJournal = attrs.field(factory=FundJournal)
    # Restarts asked for through the control endpoint: not counted by the watchdog.
    operator_restarts: OperatorRestarts = attrs.field(factory=OperatorRestarts)

    def halt(self, reason: str) -> None:
        self.control.halt(reason, "control")

    def reduce(self, reason: str) -> None:
        self.control.reduce(reason, "control")

    def resume(self) -> tuple[bool, str]:
        return self.control.resume("control")

    async def flatten(self) -> tuple[bool, str]:
        """Unwind every naked leg and every position the books hold beyond its hedge, now,
        at any price (the ``flatten`` control action)."""
        flatten = self.store.flatten
        if flatten is None:
            return False, "the executor is not running"
        positions: list[tuple[InstrumentId, int, int]] = []
        note = ""
        unhedged = self.journal.unhedged
        if self.store.executions:  # their legs are unequal until they end: not judged now
            note = f"; books not judged: {len(self.store.executions)} executions in flight"
        elif unhedged is not None:
            positions = unhedged()
        done = await flatten(positions)
        left = {k: v for k, v in done.items() if v}
        legs = f"{len(done)} legs unwound"
        if left:
            shares = ", ".join(f"{k}: {format_units(v)}" for k, v in sorted(left.items()))
            return True, f"{legs}, {len(left)} still unhedged ({shares}){note}"
        return True, f"{legs}, all flat{note}"

    async def adopt_venue(self, reason: str) -> tuple[bool, str]:
        """Take the venues' cash and positions as the books (the ``adopt-venue`` action)."""
        adopt = self.journal.adopt
        if adopt is None:
            return False, "the fund manager is not running"
        return await adopt(reason or "adopt-venue requested through the control API")

    def metric_statistics(self) -> dict[str, Any]:
        """The run-long figures exported as metrics (``tally.TRADING_FIELDS``)."""
        out = self.tally.statistics()
        store = self.store.statistics()
        out["naked_legs"] = store["naked_legs"]
        out["naked_shares"] = store["naked_shares"]
        return out

    def statistics(self) -> dict[str, Any]:
        out = self.control.statistics()
        out["tally"] = self.tally.statistics()
        out["store"] = self.store.statistics()
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
    clock_ns: Callable[[], int] | None = None,
    execution_journal: tuple[ExecutionJournal, Sequence[ExecutionRequest]] | None = None,
) -> tuple[SupervisorSpec, WatchdogSpecFactory, TradingHandles]:
    """Build the trading subtree. ``clients`` defaults to HTTP clients from the config
    (paper: the sim's URLs in ``executor.*.rest_url``); live mode is checked here so a
    missing switch or key fails before anything starts. ``metrics`` receives the executor's
    send-time histograms (tick -> order, detect -> order, venue round trip); everything
    else is read from the actors' statistics(). ``clock_ns`` replaces the fund manager's
    monotonic clock (opportunity ages, retention), e.g. with trio's virtual clock in tests.
    ``execution_journal``: the run directory's journal and what an earlier process left
    unfinished in it (resumed by the first executor incarnation)."""
    check_live_switches(config.executor, env)
    if clients is None:
        check_live_keys(config.executor, env)
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
    channels = UserChannelState()
    # Every record passes the tally on its way to storage: run-long counts (summary, panel).
    tally = TradingTally(as_sink(storage))
    sink: RecordSink = tally
    fund_clock = clock_ns or time.monotonic_ns
    # Executions in flight outlive every executor incarnation (docs/trading.md).
    store = ExecutionStore(tracker=FillTracker(fee_book=FeeBook.from_config(config.executor)))
    if execution_journal is not None:
        store.journal, unfinished = execution_journal
        store.adopt_unfinished(unfinished, 0.0)  # sent long ago: look up, never resend
    journal = FundJournal()  # the fund manager's books outlive its incarnations too
    operator_restarts = OperatorRestarts()

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
            clock_ns=fund_clock,
            journal=journal,
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
            channels=channels,
            metrics=metrics,
            store=store,
        ),
        restart=Restart.PERMANENT,
        backoff=Backoff(min_s=0.1, max_s=5.0),
        heartbeat_timeout_s=5.0,
        shutdown=config.executor.drain_timeout_s + 1.0,
        mailboxes=(intents, user_fills),
    )
    user_channel_specs = _user_channel_specs(config, user_fills, channels, control, env)
    spec = SupervisorSpec(
        children=(fund_manager, executor, *user_channel_specs),
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
                operator_restarts=operator_restarts,
            ),
            restart=Restart.PERMANENT,
            backoff=Backoff(min_s=0.1, max_s=2.0),
        )

    handles = TradingHandles(
        control,
        intents,
        outcomes,
        user_fills,
        sink,
        channels,
        store,
        tally,
        journal,
        operator_restarts,
    )
    return spec, watchdog_spec, handles


def _user_channel_specs(
    config: TradingConfig,
    user_fills: Mailbox[Fill],
    channels: UserChannelState,
    control: TradingControl,
    env: dict[str, str] | None,
) -> list[ChildSpec]:
    """One ``user_channel_<venue>`` child per enabled venue with a ``user_ws_url``: our
    fills -> ``user_fills`` (BLOCK) -> the executor."""
    ex = config.executor
    specs: list[ChildSpec] = []
    venues: tuple[tuple[Venue, VenueExecConfig], ...] = (
        (Venue.POLYMARKET, ex.polymarket),
        (Venue.KALSHI, ex.kalshi),
    )
    for venue, vcfg in venues:
        if not (vcfg.enabled and vcfg.user_ws_url):
            continue
        headers: HeadersFactory | None = None
        credentials: PolymarketAccount | None = None
        if venue is Venue.KALSHI and ex.mode == "live":
            headers = _kalshi_ws_headers(vcfg.user_ws_url, env)
        elif venue is Venue.POLYMARKET and ex.mode == "live":
            credentials = polymarket_account_from_env(vcfg, env)

        def start(
            venue: Venue = venue,
            vcfg: VenueExecConfig = vcfg,
            headers: HeadersFactory | None = headers,
            credentials: PolymarketAccount | None = credentials,
        ) -> UserChannel:
            return UserChannel(
                venue=venue,
                url=vcfg.user_ws_url,
                fills=user_fills,
                config=ex.user_channel,
                markets=tuple(vcfg.user_markets),
                headers=headers,
                credentials=credentials,
                state=channels,
                stats_sink=control.stats_sources,
            )

        specs.append(
            ChildSpec(
                id=f"user_channel_{venue}",
                start=start,
                restart=Restart.PERMANENT,
                backoff=Backoff(min_s=0.1, max_s=5.0),
                heartbeat_timeout_s=5.0,
                shutdown=2.0,
            )
        )
    return specs


def _kalshi_ws_headers(url: str, env: dict[str, str] | None) -> HeadersFactory:
    """Kalshi signs the websocket handshake like a REST request (``GET`` + path)."""
    signer = kalshi_signer_from_env(env)
    path = urlsplit(url).path or "/"

    def headers() -> list[tuple[bytes, bytes]]:
        return [(k.encode(), v.encode()) for k, v in signer("GET", path).items()]

    return headers
