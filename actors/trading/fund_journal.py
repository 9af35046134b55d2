"""What a restarted fund manager rebuilds its books from: :class:`FundJournal`.

A checkpoint is up to ``checkpoint_interval_s`` old; a fund manager that restarts from it
alone has lost every trade since and disagrees with the venue for good. The journal is
created once by the wiring (like ``TradingControl``) and outlives every fund-manager
incarnation. It keeps the base (the last checkpoint any incarnation took, or the books as
a successful reconciliation left them, with the orders live at that moment and the fill
ids seen) and every event applied since: each accepted ``ExecutionRequest`` (its
reservations) and each executor outcome. A new incarnation rebuilds the books as
base + events, exactly what its predecessor held, before comparing them with the venues.

It lives in the process: after a process restart the database's checkpoint is the base
(see docs/running.md, "Recovering a halted run").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

import attrs

from actors.trading.control import TradingControl
from actors.trading.ledger import Ledger, TrackedOrder
from actors.trading.messages import ExecutionRequest, ExecutorOutcomeMsg
from actors.trading.outcome import OutcomeBook
from actors.trading.sink import RecordSink
from protocols.messages import FundCheckpointRecord, InstrumentId, Venue


class JournaledBooks(Protocol):
    """What the journal marks and rebuilds of the fund's books (``fund_core.FundCore``,
    which imports this module): the ledger and dedup state, the day, and the decisions
    it replays with the sink and the control swapped out."""

    ledger: Ledger
    seen_fills: set[tuple[Venue, str]]
    seen_opportunities: dict[str, int]
    day: int
    sink: RecordSink | None
    control: TradingControl

    def replay_request(self, req: ExecutionRequest) -> None: ...

    def on_outcome(self, msg: ExecutorOutcomeMsg) -> None: ...


JournalEvent = ExecutionRequest | ExecutorOutcomeMsg


@attrs.define(eq=False)
class FundJournal:
    checkpoint: FundCheckpointRecord | None = None
    live: list[TrackedOrder] = attrs.field(factory=list)  # copies, at the base
    seen_fills: set[tuple[Venue, str]] = attrs.field(factory=set)
    events: list[JournalEvent] = attrs.field(factory=list)
    complements: dict[InstrumentId, InstrumentId] = attrs.field(factory=dict)
    links: dict[InstrumentId, set[InstrumentId]] = attrs.field(factory=dict)
    # What the fills up to the base locked in (not in a checkpoint: the journal keeps it).
    outcome: OutcomeBook = attrs.field(factory=OutcomeBook)
    # The running incarnation's books' ``Ledger.unhedged`` with average prices.
    unhedged: Callable[[], list[tuple[InstrumentId, int, int]]] | None = None
    rebuilds: int = 0
    # The running incarnation's ``FundManager.adopt_venue`` (None while none runs).
    adopt: Callable[[str], Awaitable[tuple[bool, str]]] | None = None

    def mark(self, core: JournaledBooks, checkpoint: FundCheckpointRecord) -> None:
        """A new base: the books now (``checkpoint`` was just taken from ``core``)."""
        self.checkpoint = checkpoint
        self.live = [
            attrs.evolve(o, fill_keys=list(o.fill_keys)) for o in core.ledger.live.values()
        ]
        self.seen_fills = set(core.seen_fills)
        self.complements = dict(core.ledger.complements)
        self.links = {i: set(o) for i, o in core.ledger.links.items()}
        self.outcome = core.ledger.outcome.copy()
        self.events.clear()

    def record(self, event: JournalEvent) -> None:
        self.events.append(event)

    def rebuild(self, core: JournaledBooks) -> bool:
        """Give ``core`` the books its predecessor held: the base, its live orders
        reserved again, then every event since, applied with records and ladder changes
        muted (they happened already). False when there is no base yet."""
        cp = self.checkpoint
        if cp is None:
            return False
        ledger = Ledger.from_checkpoint(cp, today=core.day)
        # The base's day counters already hold what its pairs locked in (see
        # Ledger.checkpoint): the pairs come back with their base at today's value.
        ledger.complements = dict(self.complements)
        ledger.links = {i: set(o) for i, o in self.links.items()}
        for instrument in self.complements:
            ledger.refresh(instrument)
        ledger.day_locked_base = ledger.locked_total
        ledger.outcome = self.outcome.copy()
        for o in self.live:
            order = ledger.reserve(
                client_order_id=o.client_order_id,
                opportunity_id=o.opportunity_id,
                instrument=o.instrument,
                side=o.side,
                limit_price=o.limit_price,
                size=o.size,
                amount=o.reserved,
            )
            order.reserved_shares = o.reserved_shares
            order.filled, order.fees = o.filled, o.fees
            order.phase, order.state, order.venue_order_id = o.phase, o.state, o.venue_order_id
            order.fill_keys = list(o.fill_keys)
            ledger.refresh(o.instrument)
        core.ledger = ledger
        core.seen_fills = set(self.seen_fills)
        for o in self.live:
            core.seen_opportunities[o.opportunity_id] = (
                core.seen_opportunities.get(o.opportunity_id, 0) + 1
            )
        sink, control = core.sink, core.control
        core.sink, core.control = None, TradingControl()
        try:
            for event in self.events:
                if isinstance(event, ExecutionRequest):
                    core.replay_request(event)
                else:
                    core.on_outcome(event)
        finally:
            core.sink, core.control = sink, control
        self.rebuilds += 1
        return True
