"""Trading a filled leg's excess back: :func:`unwind` (IOC, reduce-only, until flat or the
deadline), used by two-leg execution and by a late-resolving leg's hedge."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

import trio

from actors.trading.control import TradingControl
from actors.trading.execution_store import ExecutionStore
from actors.trading.ids import unwind_order_id
from actors.trading.ladder import OrderPurpose
from actors.trading.legs import ExecutionSettings as ExecutionSettings  # re-exported
from actors.trading.legs import LegResult
from actors.trading.messages import UnwindStarted
from actors.trading.retry import RetryPolicy
from protocols.fixed import PRICE_ONE
from protocols.messages import OrderIntent, OrderState, Side, TimeInForce, Venue

log = logging.getLogger("arbtree.trading.executor")

# Venue reject reasons no resend of the same order can cure (an unwind stops on them).
UNSENDABLE = frozenset({"min_size", "tick_size", "invalid_order"})


class UnwindGate(Protocol):
    """A venue's order grid (``order_runner.VenueGate``)."""

    @property
    def tick(self) -> int: ...
    @property
    def size_step(self) -> int: ...


class UnwindRunner(Protocol):
    """What an unwind uses of the order runner that starts it (``order_runner.OrderRunner``,
    which imports this module): the venues' grids, its retry delays, its outcome stream
    and its ``place``."""

    @property
    def gates(self) -> Mapping[Venue, UnwindGate]: ...
    @property
    def retry(self) -> RetryPolicy: ...
    @property
    def emit(self) -> Callable[[UnwindStarted], Awaitable[None]]: ...
    @property
    def store(self) -> ExecutionStore: ...

    async def place(self, intent: OrderIntent, purpose: OrderPurpose) -> LegResult: ...


async def unwind(
    leg: LegResult,
    excess: int,
    runner: UnwindRunner,
    control: TradingControl,
    settings: ExecutionSettings,
    deadline: float,
) -> int:
    """Trade ``excess`` of a filled leg back (IOC) until flat or the deadline; returns
    what is still unhedged. Unwind orders are numbered per leg in the execution store
    (retries, later incarnations and flattens continue the count: no id is reused)."""
    intent = leg.intent
    gate = runner.gates[intent.instrument.venue]
    tick = gate.tick or 1
    side = Side.SELL if intent.side is Side.BUY else Side.BUY
    if side is Side.SELL:
        price = max(tick, leg.avg_price - settings.unwind_max_slippage)
        price = -(-price // tick) * tick
    else:
        price = min(PRICE_ONE - tick, leg.avg_price + settings.unwind_max_slippage)
        price = price // tick * tick
    remaining = excess
    # Reduce-only: allowed in every trading state (HALTED and shutdown's drain included);
    # only the deadline, an unresolved attempt or the gate itself stop it.
    step = max(1, gate.size_step)
    with trio.move_on_at(deadline):
        while remaining >= step:
            if not control.permits(OrderPurpose.UNWIND):  # never today; explicit for audit
                log.error("unwind of %s refused by the gate", intent.client_order_id)
                break
            attempt = runner.store.next_unwind_attempt(intent.client_order_id)
            coid = unwind_order_id(intent.client_order_id, attempt)
            runner.store.unwind_parent[coid] = intent.client_order_id
            uw = OrderIntent(
                client_order_id=coid,
                opportunity_id=intent.opportunity_id,
                leg_index=intent.leg_index,
                instrument=intent.instrument,
                side=side,
                limit_price=price,
                size=remaining // step * step,
                reserved=0,
                time_in_force=TimeInForce.IOC,
                recv_ns=intent.recv_ns,
                detect_ns=intent.detect_ns,
                intent_ns=time.monotonic_ns(),
            )
            runner.store.add_unwind(uw, intent.client_order_id)
            await runner.emit(
                UnwindStarted(intent=uw, parent_client_order_id=intent.client_order_id)
            )
            result = await runner.place(uw, OrderPurpose.UNWIND)
            remaining -= result.filled
            if not result.resolved:
                break
            if result.state is OrderState.REJECTED and result.reason in UNSENDABLE:
                # Malformed for the venue (below its minimum size, off its tick): the same
                # order sent again cannot succeed; a no-fill or a venue hiccup can.
                log.error(
                    "unwind of %s rejected by the venue (%s); %d left unhedged",
                    intent.client_order_id,
                    result.reason,
                    remaining,
                )
                break
            if remaining > 0:
                await trio.sleep(runner.retry.delay(min(attempt + 1, 3)))
    return remaining
