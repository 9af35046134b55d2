"""What the executor- and fund-restart tests share: a trading subtree against the sim,
its virtual clock, and opportunities to feed it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import attrs
import msgspec
import trio
import trio.testing

from actors.shutdown_phases import new_shutdown
from actors.sim.config import SimConfig
from actors.sim.venue import SimVenue, open_sim_venue
from actors.trading.http_clients import build_clients
from actors.trading.venue_clients import VenueClient
from actors.trading_tree import TradingHandles, build_trading_path
from protocols.config.trading import (
    FundLimitsConfig,
    FundManagerConfig,
    HttpConfig,
    TradingConfig,
)
from protocols.messages import (
    InstrumentId,
    Opportunity,
    OrderState,
    Outcome,
    Venue,
)
from supervision import ChildSpec, Mailbox, OverflowPolicy, SupervisorSpec
from supervision.tree import open_tree
from tests.trading.channel_helpers import channel_opp as _opp
from tests.trading.channel_helpers import exec_config, until_trading
from tests.trading.helpers import until

EXECUTOR = "t/trading/executor"
SLOW_S = 2.0  # the venue's REST replies are held this long (REST_SLOW)
TERMINAL = {OrderState.FILLED, OrderState.CANCELLED, OrderState.REJECTED, OrderState.EXPIRED}


def vclock() -> int:
    return int(trio.current_time() * 1e9)


def arb(oid: str, poly: InstrumentId, kalshi: InstrumentId) -> Opportunity:
    """Buy 10 of each at 0.99, seen now on the virtual clock."""
    now = vclock()
    return msgspec.structs.replace(_opp(oid, poly, kalshi, 990_000), recv_ns=now, detect_ns=now)


class Crashing:
    """A venue client whose order replies raise a bug (not a venue error): the executor
    crashes with the order written and its reply unread."""

    def __init__(self, inner: VenueClient) -> None:
        self.inner = inner
        self.venue = inner.venue

    async def place(self, intent: Any) -> Any:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.inner.place, intent)
            await trio.sleep(SLOW_S / 4)  # written; the venue holds the reply
            raise RuntimeError("executor bug while the order is on the wire")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@attrs.define
class Run:
    sim: SimVenue
    handles: TradingHandles
    records: list[Any]
    poly: InstrumentId
    kalshi: InstrumentId

    def executor(self) -> dict[str, Any]:
        return dict(self.handles.control.statistics()["executor"])

    def ledger(self) -> Any:
        fm = self.handles.control.stats_sources["fund_manager"].__self__  # type: ignore[attr-defined]
        return fm.core.ledger

    def settled(self) -> bool:
        store = self.handles.store
        return (
            not store.executions
            and not store.unresolved
            and self.executor()["in_flight"] == 0
            and self.handles.outcomes.statistics().depth == 0
            and self.handles.user_fills.statistics().depth == 0
            and not self.ledger().live
        )


@contextlib.asynccontextmanager
async def open_run(
    *, crash_first: bool = False, checkpoint_interval_s: float = 30.0
) -> AsyncIterator[tuple[Run, Any, Mailbox[Opportunity]]]:
    """The trading subtree against a fresh sim, reconciled and with both user channels up
    (``crash_first``: the first executor incarnation's order replies raise a bug)."""
    records: list[Any] = []
    config = SimConfig(seed=3, markets=4, rate=1.0, window_rate=0.0)
    async with open_sim_venue(config) as sim:
        m = min(sim.markets, key=lambda m: m.fee_rate_ppm)
        poly = InstrumentId(venue=Venue.POLYMARKET, symbol=m.yes_token, outcome=Outcome.YES)
        kalshi = InstrumentId(venue=Venue.KALSHI, symbol=m.ticker, outcome=Outcome.NO)
        ex = exec_config(sim, channels=True)
        ex = msgspec.structs.replace(
            ex, http=HttpConfig(read_timeout_s=2 * SLOW_S + 1, keep_warm_s=0.0)
        )
        cfg = TradingConfig(
            fund=FundManagerConfig(
                limits=FundLimitsConfig(max_opportunity_age_s=5.0, min_profit="0"),
                checkpoint_interval_s=checkpoint_interval_s,
            ),
            executor=ex,
        )
        incarnations = 0

        def clients() -> Mapping[Venue, VenueClient]:
            nonlocal incarnations
            incarnations += 1
            built = build_clients(ex)
            if crash_first and incarnations == 2:  # the fund manager's comes first
                return {v: Crashing(c) for v, c in built.items()}
            return built

        opps: Mailbox[Opportunity] = Mailbox("opps", 8, OverflowPolicy.BLOCK)
        spec, _, handles = build_trading_path(
            cfg, opportunities=opps, storage=records.append, clock_ns=vclock, clients=clients
        )
        run = Run(sim, handles, records, poly, kalshi)
        root = SupervisorSpec(children=(ChildSpec(id="trading", start=spec),))
        with trio.fail_after(120):
            async with open_tree(root, name="t", shutdown=new_shutdown()) as tree:
                await until_trading(handles, Venue.POLYMARKET, Venue.KALSHI)
                yield run, tree, opps
                await until(run.settled)
                await trio.sleep(1.0)  # late channel fills, if any, arrive
                assert run.settled()
                tree.request_shutdown("test over")
