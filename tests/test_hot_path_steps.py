"""A hand-off on the hot path costs the receiver's step and nothing of the sender's: the
detector and the fund manager put their output with ``send_nowait`` (waiting only on a
full mailbox), so the next actor runs in the next scheduler round with no step of the
sender's beside it (Trio runs a round's tasks in either order, so a sender's second step
there would come first half the time). With direct dispatch (the default) the receiver
takes no step at all: its handler runs in the sender's step. And the fund manager's
rehearsal (keeping the decision path warm) runs the checks on its clock, once the loop is
idle, without touching the books."""

from __future__ import annotations

import logging
import time

import pytest
import trio
import trio.lowlevel
import trio.testing

from actors.detector.actor import Detector
from actors.observability.metrics import Metrics
from actors.shutdown_phases import new_shutdown
from actors.trading.control import TradingControl
from actors.trading.fund_manager import FundManager
from actors.trading.messages import ExecutionRequest
from protocols.config.market import DetectorConfig, PolymarketMarket
from protocols.config.trading import ExecutorConfig, FundManagerConfig
from protocols.messages import InstrumentId, Level, Opportunity, TopOfBook, Venue
from supervision import Mailbox, OverflowPolicy
from supervision.actor import ActorContext, NodeStatus
from tests.step_counter import StepCounter
from tests.trading.helpers import NOW, opp

ONE = 1_000_000


def _ctx(path: str) -> ActorContext:
    return ActorContext(
        path=path,
        log=logging.LoggerAdapter(logging.getLogger(path)),
        mailboxes={},
        shutdown=new_shutdown(),
        node=NodeStatus(),
    )


def _top(symbol: str, ask: int, recv_ns: int) -> TopOfBook:
    asks = (Level(ask, 10 * ONE),)
    bids = (Level(ask - 50_000, 10 * ONE),)
    return TopOfBook(
        instrument=InstrumentId(venue=Venue.POLYMARKET, symbol=symbol),
        bid=bids[0].price,
        bid_size=bids[0].size,
        ask=asks[0].price,
        ask_size=asks[0].size,
        bids=bids,
        asks=asks,
        venue_ts_ms=1,
        recv_ns=recv_ns,
        version=1,
    )


@pytest.mark.parametrize("direct", [True, False])
async def test_detector_emits_in_one_step_and_counts_it_on_the_next_batch(direct: bool) -> None:
    config = DetectorConfig(
        direct=direct,
        strategies=["complement"],
        min_edge="0.005",
        min_profit="0",
        polymarket=[
            PolymarketMarket(name="m", yes_token="Y", no_token="N", category="geopolitics")
        ],
    )
    metrics = Metrics()
    inbox: Mailbox[TopOfBook] = Mailbox(
        "detector", 64, OverflowPolicy.COALESCE, key=lambda t: t.instrument
    )
    outbox: Mailbox[Opportunity] = Mailbox("fund_manager", 4, OverflowPolicy.BLOCK)
    detector = Detector(config=config, inbox=inbox, outbox=outbox, metrics=metrics)
    counter = StepCounter.named("detector")

    def counted() -> float | None:
        return metrics.registry.get_sample_value(
            "arbtree_opportunities_total", {"strategy": "complement"}
        )

    async with trio.open_nursery() as nursery:
        await nursery.start(detector.run, _ctx("market/detector"), name="detector")
        await trio.testing.wait_all_tasks_blocked()
        trio.lowlevel.add_instrument(counter)
        now = time.monotonic_ns()
        inbox.send_nowait(_top("Y", 450_000, now))
        inbox.send_nowait(_top("N", 500_000, now))  # 0.45 + 0.50 < 1: an opportunity
        if direct:  # evaluated and emitted in this step, by the detector's handler
            assert (counter.steps, len(outbox)) == (0, 1)
        await trio.testing.wait_all_tasks_blocked()
        # queued: woken, emitted, parked again: no second step; direct: never woken
        assert counter.steps == (0 if direct else 1)
        assert inbox.statistics().direct == (2 if direct else 0)
        assert outbox.receive_nowait().strategy == "complement"
        assert not counted()  # the metrics wait for the next batch
        inbox.send_nowait(_top("Y", 460_000, time.monotonic_ns()))
        await trio.testing.wait_all_tasks_blocked()
        assert counted() == 1.0
        nursery.cancel_scope.cancel()


def _fund_manager(**config: float | bool) -> FundManager:
    return FundManager(
        config=FundManagerConfig(paper_balances={"polymarket": "1000", "kalshi": "1000"}, **config),  # type: ignore[arg-type]
        executor_config=ExecutorConfig(),
        control=TradingControl(),
        opportunities=Mailbox("opps", 8, OverflowPolicy.BLOCK),
        intents=Mailbox("executor", 8, OverflowPolicy.BLOCK),
        outcomes=Mailbox("outcomes", 8, OverflowPolicy.BLOCK),
        clock_ns=lambda: NOW,
    )


@pytest.mark.parametrize("direct", [True, False])
async def test_fund_manager_hands_an_approved_opportunity_over_in_one_step(direct: bool) -> None:
    fund_manager = _fund_manager(direct=direct)
    counter = StepCounter.named("FundManager._opportunity_loop")
    async with trio.open_nursery() as nursery:
        await nursery.start(fund_manager.run, _ctx("trading/fund_manager"))
        assert fund_manager.control.ladder.holds == {}  # reconciliation agreed: trading
        await trio.testing.wait_all_tasks_blocked()
        trio.lowlevel.add_instrument(counter)
        fund_manager.opportunities.send_nowait(opp())
        await trio.testing.wait_all_tasks_blocked()
        # queued: decided, handed over, parked again; direct: decided in the sender's step
        assert counter.steps == (0 if direct else 1)
        assert fund_manager.opportunities.statistics().direct == (1 if direct else 0)
        assert isinstance(fund_manager.intents.receive_nowait(), ExecutionRequest)
        nursery.cancel_scope.cancel()


async def test_fund_manager_rehearses_the_last_opportunity_without_touching_the_books(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fund_manager = _fund_manager(rehearse_interval_s=0.01)
    taken: list[object] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_stand_in_executor, fund_manager, taken)
        await nursery.start(fund_manager.run, _ctx("trading/fund_manager"))
        await trio.sleep(1.0)
        assert fund_manager.statistics()["rehearsals"] == 0  # nothing to rehearse yet
        fund_manager.opportunities.send_nowait(opp())
        await trio.testing.wait_all_tasks_blocked()
        assert len(taken) == 1
        assert isinstance(taken[0], ExecutionRequest)
        core = fund_manager.core
        assert core is not None
        books = core.ledger.checkpoint(0, 0)
        counted = (core.accepted, dict(core.rejects), dict(core.seen_opportunities))
        await trio.sleep(1.0)
        assert 90 <= fund_manager.statistics()["rehearsals"] <= 101  # one per 10 ms
        assert core.ledger.checkpoint(0, 0) == books  # nothing reserved or released
        assert (core.accepted, dict(core.rejects), dict(core.seen_opportunities)) == counted
        assert len(taken) == 1  # nothing sent
        nursery.cancel_scope.cancel()


async def _stand_in_executor(fund_manager: FundManager, taken: list[object]) -> None:
    while True:
        taken.append(await fund_manager.intents.receive())


async def test_a_rehearsal_waits_until_the_loop_is_idle(mock_clock: trio.testing.MockClock) -> None:
    """Its timer fires while a task stays runnable round after round (a tick on its way
    to an order): no rehearsal runs in those rounds. Once the loop is idle, one runs (not
    one per interval missed meanwhile)."""
    fund_manager = _fund_manager(rehearse_interval_s=0.01)
    taken: list[object] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_stand_in_executor, fund_manager, taken)
        await nursery.start(fund_manager.run, _ctx("trading/fund_manager"))
        fund_manager.opportunities.send_nowait(opp())
        await trio.testing.wait_all_tasks_blocked()
        assert len(taken) == 1
        assert fund_manager.statistics()["rehearsals"] == 0  # no time has passed
        for _ in range(50):  # this task runnable in every round, 10 ms apart
            mock_clock.jump(0.01)
            await trio.lowlevel.checkpoint()
        assert fund_manager.statistics()["rehearsals"] == 0
        # Idle: the rehearsal wakes in the same round as this task; after the next idle
        # point it has run, whichever of the two went first.
        await trio.testing.wait_all_tasks_blocked()
        await trio.testing.wait_all_tasks_blocked()
        assert fund_manager.statistics()["rehearsals"] == 1
        nursery.cancel_scope.cancel()


async def test_no_rehearsals_when_off(autojump_clock: trio.testing.MockClock) -> None:
    fund_manager = _fund_manager()  # rehearse_interval_s = 0: off
    async with trio.open_nursery() as nursery:
        await nursery.start(fund_manager.run, _ctx("trading/fund_manager"))
        fund_manager.opportunities.send_nowait(opp())
        await trio.sleep(1.0)
        assert fund_manager.statistics()["rehearsals"] == 0
        nursery.cancel_scope.cancel()
