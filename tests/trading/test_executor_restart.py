"""An executor that stops with orders on the wire (an operator restart, a crash) loses
nothing: the next incarnation finds every unfinished execution in the trading path's
execution store, looks each order up by client order id at the venue, books every fill
to its order and hedges or unwinds the legs. The whole trading subtree against the sim
(REST slowed by a fault, both user channels) over loopback, on trio's virtual clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest
import trio
import trio.testing

from actors.sim.config import FaultKind
from actors.sim.config import Venue as SimV
from actors.trading.ledger import OrderPhase
from protocols.fixed import SIZE_ONE
from protocols.messages import (
    OrderRecord,
    Venue,
)
from tests.trading.helpers import until
from tests.trading.restart_helpers import (
    EXECUTOR,
    SLOW_S,
    TERMINAL,
    Run,
    arb,
    open_run,
)

pytestmark = pytest.mark.slow


async def run_with_stop(
    stop: Callable[[Run, Any], Any],
    *,
    slow: tuple[SimV, ...],
    wait_for: Callable[[Run], bool],
    crash_first: bool = False,
) -> Run:
    """One execution, REST replies of ``slow`` venues held; once ``wait_for`` holds, the
    executor is stopped by ``stop(run, tree)`` (``crash_first``: it crashes by itself)."""
    async with open_run(crash_first=crash_first) as (run, tree, opps):
        for venue in slow:
            run.sim.faults.inject(FaultKind.REST_SLOW, venue=venue, delay=SLOW_S, count=1)
        await opps.send(arb("restart-1", run.poly, run.kalshi))
        await until(lambda: wait_for(run))
        await stop(run, tree)
    return run


def check_nothing_lost(run: Run) -> None:
    """Every order terminal (books and database records), every venue fill booked to its
    order, the books equal the venue, and the pair hedged or unwound."""
    ex = run.sim.exchange
    ledger = run.ledger()
    assert ex.orders, "the venue never saw the orders"
    for coid, order in ledger.orders.items():
        assert order.phase is OrderPhase.DONE, (coid, order.phase, order.state)
    last: dict[str, OrderRecord] = {}
    for r in run.records:
        if isinstance(r, OrderRecord):
            last[r.client_order_id] = r
    assert last
    assert all(r.state in TERMINAL for r in last.values()), {k: r.state for k, r in last.items()}
    assert ledger.unknown_order_fills == 0
    by_venue_id = {o.venue_order_id: o for o in ledger.orders.values()}
    for o in ex.orders.values():
        if o.venue == "kalshi" and o.client_order_id:
            assert ledger.orders[o.client_order_id].filled == o.filled, o
        elif o.venue == "polymarket" and o.order_id in by_venue_id:
            assert by_venue_id[o.order_id].filled == o.filled, o
    venue_poly = ex.poly.positions.get(run.poly.symbol, 0)
    venue_kalshi = ex.kalshi.positions.get(f"{run.kalshi.symbol}:no", 0)
    books = {i: p.size for i, p in ledger.positions.items()}
    assert books.get(run.poly, 0) == venue_poly
    assert books.get(run.kalshi, 0) == venue_kalshi
    assert abs(venue_poly - venue_kalshi) < SIZE_ONE  # YES = NO to one Kalshi contract
    assert ledger.conserved()
    assert run.handles.store.resumed >= 1


async def restart(run: Run, tree: Any) -> None:
    await tree.restart_child(EXECUTOR, "operator restart (test)")


async def nothing(run: Run, tree: Any) -> None:
    return None


def both_sent(run: Run) -> bool:
    return int(run.executor().get("orders", {}).get("sent", 0)) >= 2


async def test_restart_with_both_legs_in_flight(autojump_clock: trio.testing.MockClock) -> None:
    run = await run_with_stop(restart, slow=(SimV.POLYMARKET, SimV.KALSHI), wait_for=both_sent)
    check_nothing_lost(run)
    assert run.sim.exchange.poly.positions.get(run.poly.symbol, 0) > 9 * SIZE_ONE  # filled


async def test_restart_with_one_leg_acknowledged(autojump_clock: trio.testing.MockClock) -> None:
    def kalshi_acked(run: Run) -> bool:
        acked = [o for o in run.ledger().orders.values() if o.venue_order_id]
        return both_sent(run) and any(o.instrument.venue is Venue.KALSHI for o in acked)

    run = await run_with_stop(restart, slow=(SimV.POLYMARKET,), wait_for=kalshi_acked)
    check_nothing_lost(run)


async def test_crash_with_both_legs_in_flight(autojump_clock: trio.testing.MockClock) -> None:
    def crashed(run: Run) -> bool:
        return run.handles.store.incarnations >= 2

    run = await run_with_stop(
        nothing, slow=(SimV.POLYMARKET, SimV.KALSHI), wait_for=crashed, crash_first=True
    )
    check_nothing_lost(run)


async def test_restart_while_an_unwind_is_on_the_wire(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The Kalshi leg fills, the Polymarket leg cannot (FOK at 0.01, its reply held); the
    unwind of the Kalshi leg is written and its reply held when the executor restarts. The
    next incarnation finds the unwind order by lookup and counts what it sold: the leg is
    flat and no second unwind is sent (no overshoot)."""
    async with open_run() as (run, tree, opps):
        sim = run.sim
        sim.faults.inject(FaultKind.REST_SLOW, venue=SimV.POLYMARKET, delay=SLOW_S, count=1)
        opp = arb("unwinding", run.poly, run.kalshi)
        poor = msgspec.structs.replace(opp.legs[0], limit_price=10_000)
        await opps.send(msgspec.structs.replace(opp, legs=(poor, opp.legs[1])))
        key = f"{run.kalshi.symbol}:no"
        await until(lambda: sim.exchange.kalshi.positions.get(key, 0) > 0)
        sim.faults.inject(FaultKind.REST_SLOW, venue=SimV.KALSHI, delay=SLOW_S, count=1)

        def unwind_sent() -> bool:
            return any(
                o.intent.client_order_id.startswith("unw-") and o.progress.value == "sent"
                for e in run.handles.store.executions.values()
                for o in e.views()
            )

        await until(unwind_sent)
        await restart(run, tree)
    unwinds = [o for o in sim.exchange.orders.values() if o.client_order_id.startswith("unw-")]
    assert len(unwinds) == 1
    assert unwinds[0].filled == 10 * SIZE_ONE
    assert sim.exchange.kalshi.positions.get(key, 0) == 0
    assert run.handles.store.executions_by_outcome["unwound"] == 1
    check_nothing_lost(run)
