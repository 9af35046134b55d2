"""What an execution needs to finish, kept outside the executor that runs it.

An executor incarnation can stop at any await (an operator restart, a crash, the
watchdog): its tasks are cancelled with requests on the wire. :class:`ExecutionStore` is
created once by the wiring (like ``TradingControl``) and handed to every incarnation, so
the next one finds:

* every execution not yet reported, with each of its orders (the legs and any unwind
  orders) and how far each got: PREPARED (recorded, certainly not written), SENT (may have
  reached the venue) or DONE (its result known);
* the fill tracker (per-order watermarks, fill ids seen, venue-id links), so a fill
  reported after the restart is booked to its order exactly once;
* resting orders (cancelled on HALTED), orders parked for re-lookup and the hedges owed
  on their resolution.

An execution is recorded when the executor receives it, before any leg can be written;
each order is marked SENT synchronously before its bytes are written. The new incarnation
resumes every execution left here (``two_leg.resume_execution``): looks each SENT order
up by client order id, finishes or unwinds it, and reports the execution. With an
:class:`ExecutionJournal` (the run directory's), each execution's request is also
appended to disk when it begins and marked when it finishes, so a new *process* resumes
what a killed one left (:meth:`adopt_unfinished`); the rest of this state is rebuilt by
those lookups (docs/trading.md).
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs

from actors.trading.control import TradingControl
from actors.trading.execution_journal import ExecutionJournal
from actors.trading.fill_tracker import FillTracker
from actors.trading.legs import ExecutionSettings, LegResult, PendingHedge, UnresolvedOrder
from actors.trading.messages import ExecutionRequest
from protocols.messages import InstrumentId, OrderIntent

# (instrument, shares held beyond their hedge, average price) -> what is left per leg
FlattenFn = Callable[[Sequence[tuple[InstrumentId, int, int]]], Awaitable[dict[str, int]]]


class OrderProgress(enum.StrEnum):
    PREPARED = "prepared"  # recorded; its bytes were certainly not written
    SENT = "sent"  # may have reached the venue: only a lookup can tell
    DONE = "done"  # its result is known (terminal, or parked for re-lookup)


@attrs.frozen
class StoredOrder:
    """One order of a stored execution, as a later incarnation reads it."""

    intent: OrderIntent
    progress: OrderProgress = OrderProgress.PREPARED
    sent_at: float = 0.0  # trio time it was marked SENT
    venue_order_id: str = ""  # known before the reply on Polymarket (the order hash)
    result: LegResult | None = None
    unwind_of: str = ""  # the leg's client order id, for an unwind order


@attrs.define
class StoredExecution:
    """An execution's request and how far each of its orders got. Plain dicts by client
    order id, so recording costs a dict store on the way to the socket; the per-order
    view (:meth:`views`) is built only when a later incarnation takes it over."""

    request: ExecutionRequest
    sent: dict[str, float] = attrs.field(factory=dict)  # client order id -> trio time
    venue_ids: dict[str, str] = attrs.field(factory=dict)
    results: dict[str, LegResult] = attrs.field(factory=dict)
    unwinds: dict[str, tuple[OrderIntent, str]] = attrs.field(factory=dict)  # -> leg coid
    resumed: int = 0  # incarnations that picked it up after the one that began it

    def _view(self, intent: OrderIntent, unwind_of: str = "") -> StoredOrder:
        coid = intent.client_order_id
        result = self.results.get(coid)
        progress = (
            OrderProgress.DONE
            if result is not None
            else OrderProgress.SENT
            if coid in self.sent
            else OrderProgress.PREPARED
        )
        return StoredOrder(
            intent,
            progress,
            self.sent.get(coid, 0.0),
            self.venue_ids.get(coid, ""),
            result,
            unwind_of,
        )

    def legs(self) -> list[StoredOrder]:
        return [self._view(it) for it in self.request.intents]

    def unwinds_of(self, leg_coid: str) -> list[StoredOrder]:
        return [self._view(it, leg) for it, leg in self.unwinds.values() if leg == leg_coid]

    def views(self) -> list[StoredOrder]:
        """Every order: the legs, then the unwinds in the order they were created."""
        return self.legs() + [self._view(it, leg) for it, leg in self.unwinds.values()]


@attrs.define
class OwedUnwind:
    """A filled leg whose excess could not be traded back within ``max_leg_delay``: it is
    retried with backoff until flat (``OrderRunner.unwind_loop``) and shown until then."""

    leg: LegResult
    left: int  # shares still unhedged
    control: TradingControl
    settings: ExecutionSettings
    since: float  # trio time it was first owed
    due: float  # trio time of the next retry
    tries: int = 0
    busy: bool = False  # a retry (or a flatten) is sending orders for it now


@attrs.define(eq=False)
class ExecutionStore:
    """Outlives executor incarnations; one per trading path. Owned by whichever
    incarnation is running (one at a time, same Trio thread): no locks."""

    tracker: FillTracker = attrs.field(factory=FillTracker)
    executions: dict[str, StoredExecution] = attrs.field(factory=dict)
    # client order id -> (intent, venue order id) for orders that may rest (cancel on halt)
    resting: dict[str, tuple[OrderIntent, str]] = attrs.field(factory=dict)
    unresolved: dict[str, UnresolvedOrder] = attrs.field(factory=dict)
    pending_hedges: dict[str, PendingHedge] = attrs.field(factory=dict)
    # Naked legs owed an unwind, by the leg's client order id.
    owed: dict[str, OwedUnwind] = attrs.field(factory=dict)
    # Unwind orders created per leg (their ids are numbered; never reused), and the leg
    # each unwind order belongs to.
    unwind_attempts: dict[str, int] = attrs.field(factory=dict)
    unwind_parent: dict[str, str] = attrs.field(factory=dict)
    # The order runner's counters, across incarnations (sent, ambiguous, recovered...).
    counters: dict[str, int] = attrs.field(factory=dict)
    executions_by_outcome: Counter[str] = attrs.field(factory=Counter)
    # The running incarnation's ``OrderRunner.flatten`` (None while none runs).
    flatten: (
        Callable[[Sequence[tuple[InstrumentId, int, int]]], Awaitable[dict[str, int]]] | None
    ) = None
    # The run directory's durable record (None: memory only, as in most tests).
    journal: ExecutionJournal | None = None
    begun: int = 0
    finished: int = 0
    resumed: int = 0  # executions a later incarnation picked up
    incarnations: int = 0

    def begin(self, request: ExecutionRequest) -> StoredExecution:
        """Record an execution before any of its legs can be written."""
        stored = self.executions.get(request.opportunity_id)
        if stored is None:
            stored = self.executions[request.opportunity_id] = StoredExecution(request)
            self.begun += 1
            if self.journal is not None:
                self.journal.begin(request)
        return stored

    def adopt_unfinished(self, requests: Sequence[ExecutionRequest], now: float) -> None:
        """Executions an earlier process journaled and never finished: any leg may have
        been written, so each is SENT (looked up by client order id, never resent); the
        first incarnation's :meth:`take_over` hands them to the resume path."""
        for request in requests:
            stored = self.executions.setdefault(request.opportunity_id, StoredExecution(request))
            for intent in request.intents:
                stored.sent.setdefault(intent.client_order_id, now)
            if self.journal is not None:
                for intent, leg in self.journal.unwinds.get(request.opportunity_id, ()):
                    stored.unwinds[intent.client_order_id] = (intent, leg)
                    stored.sent.setdefault(intent.client_order_id, now)

    def add_unwind(self, intent: OrderIntent, leg_coid: str) -> None:
        """Record an unwind order (before it is announced or sent) under its execution
        (the leg's opportunity id); one whose execution was already reported is not
        stored (its leg resolved late)."""
        stored = self.executions.get(intent.opportunity_id)
        if stored is not None:
            stored.unwinds[intent.client_order_id] = (intent, leg_coid)
            if self.journal is not None:
                self.journal.unwind(intent, leg_coid)

    def next_unwind_attempt(self, leg_coid: str) -> int:
        attempt = self.unwind_attempts.get(leg_coid, 0)
        self.unwind_attempts[leg_coid] = attempt + 1
        return attempt

    def mark_sent(self, intent: OrderIntent, now: float) -> None:
        """Called synchronously before an order's bytes are written (a resend moves the
        time on)."""
        stored = self.executions.get(intent.opportunity_id)
        if stored is not None:
            stored.sent[intent.client_order_id] = now

    def mark_venue_id(self, intent: OrderIntent, venue_order_id: str) -> None:
        stored = self.executions.get(intent.opportunity_id)
        if stored is not None and venue_order_id:
            stored.venue_ids[intent.client_order_id] = venue_order_id

    def mark_done(self, result: LegResult) -> None:
        stored = self.executions.get(result.intent.opportunity_id)
        if stored is not None:
            stored.results[result.intent.client_order_id] = result

    def finish(self, opportunity_id: str) -> None:
        """The execution was reported: forget it (its parked orders stay in
        ``unresolved`` / ``pending_hedges``)."""
        if self.executions.pop(opportunity_id, None) is not None:
            self.finished += 1
            if self.journal is not None:
                self.journal.finish(opportunity_id)

    def take_over(self) -> list[StoredExecution]:
        """A new incarnation starts: every execution a previous one left unfinished."""
        self.incarnations += 1
        left = list(self.executions.values())
        for stored in left:
            stored.resumed += 1
        self.resumed += len(left)
        return left

    def statistics(self) -> dict[str, Any]:
        return {
            "open_executions": len(self.executions),
            "begun": self.begun,
            "finished": self.finished,
            "resumed": self.resumed,
            "incarnations": self.incarnations,
            "naked_legs": len(self.owed),
            "naked_shares": sum(o.left for o in self.owed.values()),
        }
