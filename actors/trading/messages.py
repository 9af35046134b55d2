"""Trading-path messages that ``protocols.messages`` does not define (yet).

``ExecutionRequest`` groups the intents of one opportunity so the executor runs them as
one two-leg execution; the others travel executor -> fund manager with the protocol's
``OrderAck``/``OrderReject``/``OrderAmbiguous``/``Fill``.
"""

from __future__ import annotations

import enum

import msgspec

from protocols.messages import (
    Fill,
    OrderAck,
    OrderAmbiguous,
    OrderIntent,
    OrderReject,
    OrderState,
    Venue,
)


class ExecutionRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Every leg of one opportunity, reserved by the fund manager, executed together."""

    opportunity_id: str
    intents: tuple[OrderIntent, ...]


class CancelAll(msgspec.Struct, frozen=True, kw_only=True):
    """Fund manager -> executor: cancel everything resting (the ladder went HALTED)."""

    reason: str


class RetireOrders(msgspec.Struct, frozen=True, kw_only=True):
    """Fund manager -> executor: the books retired these orders (terminal for at least
    ``retain_done_s``) and these fill ids of no tracked order; the executor drops what it
    keeps about them (fill watermarks, links, fill ids seen). Sent only after the fund
    manager dropped them, so the executor never forgets an order the books still track."""

    client_order_ids: tuple[str, ...]
    fill_keys: tuple[tuple[Venue, str], ...]


ExecutorCommand = ExecutionRequest | CancelAll | RetireOrders


class OrderFinal(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """An order reached a terminal state and every fill for it known to the executor has
    been sent before this message: the fund manager releases what is still reserved."""

    client_order_id: str
    state: OrderState
    filled_size: int
    reason: str
    at_ns: int


class UnwindStarted(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The executor created a risk-reducing order (unwind of a naked leg); sent before the
    order so the fund manager can account for its fills."""

    intent: OrderIntent
    parent_client_order_id: str


class ExecutionOutcome(enum.StrEnum):
    COMPLETE = "complete"  # every leg filled
    NOT_FILLED = "not_filled"  # no leg filled: nothing to do
    UNWOUND = "unwound"  # a leg filled alone and was unwound in time
    PARTIAL = "partial"  # legs filled unequally, excess unwound
    NAKED = "naked"  # unwind did not complete within max_leg_delay (escalates)
    AMBIGUOUS = "ambiguous"  # a leg's outcome could not be resolved (escalates)
    REFUSED = "refused"  # pre-check or trading state refused before sending


class ExecutionReport(msgspec.Struct, frozen=True, kw_only=True):
    opportunity_id: str
    outcome: ExecutionOutcome
    detail: str
    started_ns: int
    finished_ns: int


ExecutorOutcomeMsg = (
    OrderAck | OrderReject | OrderAmbiguous | Fill | OrderFinal | UnwindStarted | ExecutionReport
)
