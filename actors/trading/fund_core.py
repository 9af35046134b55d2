"""The fund manager's synchronous heart, testable without an actor.

:class:`FundCore` owns the books (a :class:`~actors.trading.ledger.Ledger`): pre-trade
checks, reservations, intents with deterministic client order ids, outcome accounting
and start-up reconciliation. The actor around it is :mod:`actors.trading.fund_manager`.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from actors.trading.checks import (
    Approval,
    Limits,
    Rejection,
    RejectReason,
    VenueRules,
    check_opportunity,
)
from actors.trading.control import TradingControl
from actors.trading.fees import FeeBook
from actors.trading.fund_journal import FundJournal
from actors.trading.fund_stats import fund_statistics
from actors.trading.ids import leg_order_id
from actors.trading.ladder import Hold
from actors.trading.ledger import Ledger, OrderPhase, PositionState, TrackedOrder
from actors.trading.messages import (
    ExecutionOutcome,
    ExecutionReport,
    ExecutionRequest,
    ExecutorOutcomeMsg,
    OrderFinal,
    RetireOrders,
    UnwindStarted,
)
from actors.trading.reconciliation import compare_with_venues, reconcile_books
from actors.trading.retention import RetiredIds, retire_due
from actors.trading.sink import RecordSink
from actors.trading.venue_clients import AccountSnapshot
from protocols.config.trading import ExecutorConfig, RetentionConfig
from protocols.fixed import format_units
from protocols.messages import (
    Decision,
    Fill,
    FillRecord,
    FillStatus,
    FundCheckpointRecord,
    InstrumentId,
    Opportunity,
    OpportunityLeg,
    OpportunityRecord,
    OrderAck,
    OrderAmbiguous,
    OrderIntent,
    OrderRecord,
    OrderReject,
    OrderState,
    Outcome,
    Side,
    TimeInForce,
    Venue,
)

log = logging.getLogger("arbtree.trading.fund_manager")


def wall_ms_now() -> int:
    return time.time_ns() // 1_000_000


def utc_day(wall_ms: int) -> int:
    return wall_ms // 86_400_000


def venue_rules(cfg: ExecutorConfig) -> dict[Venue, VenueRules]:
    rules: dict[Venue, VenueRules] = {}
    if cfg.polymarket.enabled:
        rules[Venue.POLYMARKET] = attrs.evolve(
            VenueRules.from_config(cfg.polymarket), fee_in_shares=True
        )
    if cfg.kalshi.enabled:
        rules[Venue.KALSHI] = VenueRules.from_config(cfg.kalshi)
    return rules


@attrs.define(eq=False)
class FundCore:
    """Synchronous fund state and decisions; one instance per fund-manager incarnation."""

    limits: Limits
    rules: dict[Venue, VenueRules]
    control: TradingControl
    time_in_force: TimeInForce = TimeInForce.FOK
    sink: RecordSink | None = None
    clock_ns: Callable[[], int] = time.monotonic_ns
    wall_ms: Callable[[], int] = wall_ms_now
    ledger: Ledger = attrs.field(factory=Ledger)
    fee_book: FeeBook = attrs.field(factory=FeeBook)
    rejects: Counter[str] = attrs.field(factory=Counter)
    accepted: int = 0
    # Accepted opportunity id -> how many of its orders the books still track; the id is
    # forgotten with the last of them (a replay that late is stale anyway).
    seen_opportunities: dict[str, int] = attrs.field(factory=dict)
    # (venue, fill id) of every fill applied, deduplicated or FAILED: indexed by its order
    # (TrackedOrder.fill_keys) and dropped with it, else queued in ``orderless_fills``.
    seen_fills: set[tuple[Venue, str]] = attrs.field(factory=set)
    fills_duplicate: int = 0
    # Polymarket trades reported FAILED (settlement failed): how many, how many were
    # reversed out of the books, how many had never been booked (nothing to reverse).
    fills_failed: int = 0
    fills_reversed: int = 0
    fills_failed_unbooked: int = 0
    failed_fills: set[tuple[Venue, str]] = attrs.field(factory=set)
    outcomes: Counter[str] = attrs.field(factory=Counter)
    shutting_down: bool = False
    day: int = -1
    # Opportunities approved at a smaller size than detected, by the limit that bound.
    clipped: Counter[str] = attrs.field(factory=Counter)
    clipped_size_original: int = 0
    clipped_size_approved: int = 0
    last_clips: deque[dict[str, str]] = attrs.field(factory=lambda: deque(maxlen=16))
    # Retention (docs/trading.md, "Retention"): DONE orders in the order they became DONE,
    # fill keys of no tracked order in the order first seen (with the fill's client id);
    # ``retire`` drops what is due from the front, O(retired).
    retention: RetentionConfig = attrs.field(factory=RetentionConfig)
    done_queue: deque[tuple[int, str]] = attrs.field(factory=deque)
    orderless_fills: deque[tuple[int, tuple[Venue, str], str]] = attrs.field(factory=deque)
    retired: RetiredIds = attrs.field(
        default=attrs.Factory(
            lambda self: RetiredIds(self.retention.remember_retired), takes_self=True
        )
    )
    retired_orders: int = 0
    retired_fills: int = 0
    retired_early: int = 0  # retired before retain_done_s: more than max_done_orders kept
    early_sweeps: int = 0
    # Reports about a retired order, by kind (fill, failed, ack, reject, final, ambiguous).
    late_after_retire: Counter[str] = attrs.field(factory=Counter)

    def __attrs_post_init__(self) -> None:
        for reason in RejectReason:
            self.rejects[reason.value] = 0
        self.day = utc_day(self.wall_ms())

    # ------------------------------------------------------------ decisions

    def decide(self, opp: Opportunity) -> ExecutionRequest | Rejection:
        """Check one opportunity; on success reserve funds and build the intents."""
        now = self.clock_ns()
        result: Approval | Rejection
        if self.shutting_down:
            result = Rejection(RejectReason.SHUTTING_DOWN, "shutdown in progress")
        elif Hold.RECONCILIATION in self.control.ladder.holds:
            result = Rejection(
                RejectReason.NOT_RECONCILED, self.control.ladder.holds[Hold.RECONCILIATION]
            )
        elif opp.opportunity_id in self.seen_opportunities:
            result = Rejection(RejectReason.DUPLICATE, opp.opportunity_id)
        else:
            result = check_opportunity(
                opp,
                ledger=self.ledger,
                ladder=self.control.ladder,
                limits=self.limits,
                rules=self.rules,
                now_ns=now,
            )
        if isinstance(result, Rejection):
            self.rejects[result.reason.value] += 1
            self._record(
                OpportunityRecord(
                    opportunity=opp,
                    decision=Decision.REJECTED,
                    reject_reason=f"{result.reason.value}: {result.detail}",
                    decided_ns=now,
                    wall_ms=self.wall_ms(),
                )
            )
            return result
        self.seen_opportunities[opp.opportunity_id] = len(result.plans)
        self._learn_pair(opp.legs)
        if result.clipped:
            self._note_clip(opp, result)
        intents: list[OrderIntent] = []
        for plan in result.plans:
            coid = leg_order_id(opp.opportunity_id, plan.index)
            leg = plan.leg
            self.ledger.reserve(
                client_order_id=coid,
                opportunity_id=opp.opportunity_id,
                instrument=leg.instrument,
                side=leg.side,
                limit_price=leg.limit_price,
                size=leg.size,
                amount=plan.reserve,
            )
            intent = OrderIntent(
                client_order_id=coid,
                opportunity_id=opp.opportunity_id,
                leg_index=plan.index,
                instrument=leg.instrument,
                side=leg.side,
                limit_price=leg.limit_price,
                size=leg.size,
                reserved=plan.reserve,
                time_in_force=self.time_in_force,
                recv_ns=opp.recv_ns,
                detect_ns=opp.detect_ns,
                intent_ns=now,
                trigger_recv_ns=opp.trigger_recv_ns,
            )
            intents.append(intent)
            self._order_update(coid, OrderState.PENDING, "", "")
        self.accepted += 1
        self._record(
            OpportunityRecord(
                opportunity=opp,
                decision=Decision.ACCEPTED,
                reject_reason="",
                decided_ns=now,
                wall_ms=self.wall_ms(),
            )
        )
        return ExecutionRequest(opportunity_id=opp.opportunity_id, intents=tuple(intents))

    def _learn_pair(self, legs: Sequence[OpportunityLeg | OrderIntent]) -> None:
        """Two legs bought together are a YES + NO pair: $1 a share at resolution."""
        if len(legs) == 2:
            self.ledger.link(legs[0].instrument, legs[1].instrument)
        if len(legs) == 2 and all(leg.side is Side.BUY for leg in legs):
            self.ledger.pair(legs[0].instrument, legs[1].instrument)

    def _note_clip(self, opp: Opportunity, approval: Approval) -> None:
        binding = approval.binding.value if approval.binding is not None else "?"
        self.clipped[binding] += 1
        self.clipped_size_original += approval.original
        self.clipped_size_approved += approval.size
        self.last_clips.append(
            {
                "opportunity_id": opp.opportunity_id,
                "original_size": format_units(approval.original),
                "approved_size": format_units(approval.size),
                "binding": binding,
                "original_edge": format_units(opp.expected_edge),
                "approved_edge": format_units(approval.edge),
            }
        )
        log.info(
            "opportunity %s clipped %s -> %s shares by %s (edge %s -> %s)",
            opp.opportunity_id,
            format_units(approval.original),
            format_units(approval.size),
            binding,
            format_units(opp.expected_edge),
            format_units(approval.edge),
        )

    # ------------------------------------------------------------- outcomes

    def on_outcome(self, msg: ExecutorOutcomeMsg) -> None:
        ledger = self.ledger
        if isinstance(msg, Fill):
            self.on_fill(msg)
        elif isinstance(msg, OrderAck):
            if msg.client_order_id not in ledger.orders:
                self._untracked("ack", msg.client_order_id, msg.venue_order_id)
            ledger.mark_state(msg.client_order_id, msg.state, msg.venue_order_id)
            self._order_update(msg.client_order_id, msg.state, "ack", msg.venue_order_id)
        elif isinstance(msg, OrderReject):
            self._release(msg.client_order_id, OrderState.REJECTED, "reject")
            self.outcomes[f"reject:{msg.reason}"] += 1
            self._order_update(msg.client_order_id, OrderState.REJECTED, msg.reason, "")
        elif isinstance(msg, OrderAmbiguous):
            if msg.client_order_id not in ledger.orders:
                self._untracked("ambiguous", msg.client_order_id, "")
            ledger.mark_ambiguous(msg.client_order_id)
            self.outcomes["ambiguous"] += 1
            self._order_update(msg.client_order_id, OrderState.AMBIGUOUS, msg.reason, "")
        elif isinstance(msg, OrderFinal):
            self._release(msg.client_order_id, msg.state, "final")
            self._order_update(msg.client_order_id, msg.state, msg.reason, "")
        elif isinstance(msg, UnwindStarted):
            it = msg.intent
            if it.client_order_id not in ledger.orders:
                ledger.reserve_intent(it, 0)
                opp_id = it.opportunity_id
                self.seen_opportunities[opp_id] = self.seen_opportunities.get(opp_id, 0) + 1
                self._order_update(it.client_order_id, OrderState.PENDING, "unwind", "")
        elif isinstance(msg, ExecutionReport):
            self.outcomes[f"execution:{msg.outcome.value}"] += 1
            if msg.outcome is ExecutionOutcome.NAKED:
                self.control.reduce(f"naked leg: {msg.detail}", "executor")
            elif msg.outcome is ExecutionOutcome.AMBIGUOUS:
                self.control.reduce(f"unresolved order: {msg.detail}", "executor")

    def _release(self, coid: str, state: OrderState, kind: str) -> None:
        """Terminal: release what is still reserved; a newly DONE order joins the retention
        queue (its records go ``retain_done_s`` later)."""
        order = self.ledger.orders.get(coid)
        if order is None:
            self._untracked(kind, coid, "")
        elif order.phase is not OrderPhase.DONE:
            self.ledger.release(coid, state)
            self.done_queue.append((self.clock_ns(), coid))

    def _index_fill(self, key: tuple[Venue, str], order: TrackedOrder | None, coid: str) -> None:
        """Remember a fill key for deduplication, kept as long as its order is."""
        self.seen_fills.add(key)
        if order is not None:
            order.fill_keys.append(key)
        else:
            self.orderless_fills.append((self.clock_ns(), key, coid))

    def on_fill(self, fill: Fill) -> None:
        key = (fill.instrument.venue, fill.fill_id)
        if fill.status is FillStatus.FAILED:
            self._on_failed(fill, key)
            return
        if key in self.seen_fills:
            self.fills_duplicate += 1
            return
        order = self.ledger.orders.get(fill.client_order_id)
        if order is None:
            retired = self.retired.match(fill.client_order_id, fill.venue_order_id)
            if retired:
                self._late_fill(fill, key, retired)
                return
        self._index_fill(key, order, fill.client_order_id)
        self._maybe_roll_day()
        self.fee_book.learn(fill)
        cost = self.fee_book.cost(fill)  # the venue's own fee; Polymarket buys pay in shares
        self.ledger.apply_fill(fill, cost.fee, cost.fee_shares, self.day)
        if order is None:
            log.warning(
                "%s fill %s (%s %s of %s) for order %s, which these books never tracked (an "
                "earlier incarnation's, not ours, or retired and no longer remembered): "
                "booked without an order",
                fill.instrument.venue,
                fill.fill_id,
                fill.side,
                format_units(fill.size),
                fill.instrument.key(),
                fill.client_order_id or fill.venue_order_id or "?",
            )
        self._record(
            FillRecord(
                fill=fill,
                wall_ms=self.wall_ms(),
                fee=cost.fee,
                fee_shares=cost.fee_shares,
                fee_estimated=cost.estimated,
            )
        )
        self._check_daily_loss()

    def _on_failed(self, fill: Fill, key: tuple[Venue, str]) -> None:
        """A trade that failed settlement after it was MATCHED (Polymarket): the venue
        undid it, so the books undo it too, exactly once per fill id. A venue failing
        settlement is a reason to stop opening: the ladder goes REDUCING."""
        if key in self.failed_fills:
            self.fills_duplicate += 1
            return
        self.failed_fills.add(key)
        order = self.ledger.orders.get(fill.client_order_id)
        retired = ""
        if order is None:
            retired = self.retired.match(fill.client_order_id, fill.venue_order_id)
            if retired:
                self.late_after_retire["failed"] += 1
        if key not in self.seen_fills:  # a late MATCHED/CONFIRMED of this id is not booked
            self._index_fill(key, order, fill.client_order_id)
        self.fills_failed += 1
        self._maybe_roll_day()
        self._record(FillRecord(fill=fill, wall_ms=self.wall_ms(), fee=0))  # failed: undone
        booked = self.ledger.reverse_fill(fill.instrument.venue, fill.fill_id, self.day)
        if booked is None:
            self.fills_failed_unbooked += 1
            if retired:
                log.warning(
                    "%s trade %s reported FAILED for order %s, retired from the books "
                    "(terminal for more than retain_done_s): its booking is gone, nothing "
                    "reversed; the books may disagree with the venue until reconciliation",
                    fill.instrument.venue,
                    fill.fill_id,
                    retired,
                )
            else:
                log.warning(
                    "%s trade %s (order %s) reported FAILED but was never booked by that "
                    "id; nothing reversed",
                    fill.instrument.venue,
                    fill.fill_id,
                    fill.client_order_id or fill.venue_order_id,
                )
        else:
            self.fills_reversed += 1
            log.warning(
                "%s trade %s (order %s) FAILED after MATCHED: reversed %s shares of %s, "
                "cash %s, fee %s",
                fill.instrument.venue,
                fill.fill_id,
                booked.client_order_id,
                format_units(booked.size_delta),
                fill.instrument.key(),
                format_units(booked.outflow),
                format_units(booked.fee),
            )
            self._check_daily_loss()  # reversing a profitable sell can add to today's loss
        self.control.reduce(
            f"{fill.instrument.venue} trade {fill.fill_id} failed settlement", "fund_manager"
        )

    def _late_fill(self, fill: Fill, key: tuple[Venue, str], retired: str) -> None:
        """An execution report for an order retired from the books. Its fill keys and
        watermarks are gone, so whether this fill was already booked (under this id or a
        REST-derived one) cannot be told: it is not booked (never a double count), but
        recorded, counted, logged, and the ladder goes REDUCING, since the books may now
        disagree with the venue until start-up reconciliation compares them."""
        self._index_fill(key, None, fill.client_order_id)  # a repeat is a plain duplicate
        self.late_after_retire["fill"] += 1
        self._record(FillRecord(fill=fill, wall_ms=self.wall_ms()))
        log.warning(
            "%s fill %s (%s %s of %s at %s, %s) for order %s, retired from the books "
            "(terminal for more than retain_done_s): not booked; the books may disagree "
            "with the venue until reconciliation",
            fill.instrument.venue,
            fill.fill_id,
            fill.side,
            format_units(fill.size),
            fill.instrument.key(),
            format_units(fill.price),
            fill.status,
            retired,
        )
        self.control.reduce(
            f"{fill.instrument.venue} fill {fill.fill_id} for retired order {retired} not booked",
            "fund_manager",
        )

    def _untracked(self, kind: str, coid: str, venue_order_id: str) -> None:
        """An order report for an order the books do not track: nothing to change. If it
        is a retired one, count it and log it (sampled: the 1st, 2nd, 4th, 8th...)."""
        retired = self.retired.match(coid, venue_order_id)
        if not retired:
            return
        self.late_after_retire[kind] += 1
        n = sum(self.late_after_retire.values())
        if n & (n - 1) == 0:
            log.warning(
                "%s for order %s, retired from the books: ignored (%d reports about "
                "retired orders so far)",
                kind,
                retired,
                n,
            )

    # ------------------------------------------------------------- retention

    def retire(self, now_ns: int | None = None) -> RetireOrders | None:
        """Drop what is due (see :func:`retire_due`); returns what the executor must drop
        in turn (None: nothing retired)."""
        return retire_due(self, self.clock_ns() if now_ns is None else now_ns)

    def _check_daily_loss(self) -> None:
        limit = self.limits.daily_loss_limit
        if self.ledger.daily_loss() >= limit:
            self.control.halt(
                f"daily loss {format_units(self.ledger.daily_loss())} >= limit "
                f"{format_units(limit)}",
                "fund_manager",
            )

    def _maybe_roll_day(self) -> None:
        day = utc_day(self.wall_ms())
        if day != self.day:
            self.day = day
            self.ledger.roll_day()

    # -------------------------------------------------------- reconciliation

    def replay_request(self, req: ExecutionRequest) -> None:
        """Reserve an accepted request's legs again (a rebuild from the fund journal)."""
        self.seen_opportunities[req.opportunity_id] = len(req.intents)
        self._learn_pair(req.intents)
        for it in req.intents:
            self.ledger.reserve_intent(it, it.reserved)
        self.accepted += 1

    def reconcile_rebuilt(
        self, journal: FundJournal, accounts: Mapping[Venue, AccountSnapshot], tolerance: int
    ) -> list[str] | None:
        """Books rebuilt from the journal (base + everything since) against the venues;
        None when the journal has no base (a fresh process) or could not be replayed
        (logged): then the checkpoint is used, as after a process restart."""
        self.day = utc_day(self.wall_ms())
        try:
            rebuilt = journal.rebuild(self)
        except Exception:  # a bug must not crash every incarnation: fall back, loudly
            log.exception("the books could not be rebuilt from the fund journal")
            return None
        if not rebuilt:
            return None
        problems = compare_with_venues(
            self.ledger,
            set(self.ledger.live),
            accounts,
            tolerance,
            venues=tuple(self.rules),
            source="books",
        )
        if not problems:
            self._check_daily_loss()
        return problems

    def adopt_venue(self, accounts: Mapping[Venue, AccountSnapshot]) -> list[str]:
        """Take the venues' cash and positions as the books (an operator's explicit
        command, when reconciliation cannot agree). Reservations of live orders stay;
        free cash becomes the venue's cash minus them. A position's size becomes the
        venue's, its cost scaled to the new size (a size the books never held gets a cost
        of 0). ``capital`` moves by the difference. Returns every change, in words."""
        led = self.ledger
        changes: list[str] = []
        for venue in self.rules:
            account = accounts.get(venue)
            if account is None:
                continue
            ours = led.cash.get(venue, 0) + led.reserved.get(venue, 0)
            if ours != account.cash:
                changes.append(f"{venue} cash {format_units(ours)} -> {format_units(account.cash)}")
                led.cash[venue] = account.cash - led.reserved.get(venue, 0)
            theirs = dict(account.positions or {})
            for instrument, pos in list(led.positions.items()):
                if instrument.venue is not venue:
                    continue
                size = theirs.pop(instrument.key(), 0)
                if size != pos.size:
                    changes.append(
                        f"{instrument.key()} {format_units(pos.size)} -> {format_units(size)}"
                    )
                    pos.cost = pos.cost * size // pos.size if pos.size else 0
                    pos.size = size
                    led.refresh(instrument)
            for key, size in theirs.items():
                if not size:
                    continue
                _, symbol, outcome = key.split(":", 2)
                instrument = InstrumentId(venue=venue, symbol=symbol, outcome=Outcome(outcome))
                led.positions[instrument] = PositionState(size=size, cost=0)
                led.refresh(instrument)
                changes.append(f"{key} 0 -> {format_units(size)} (cost unknown: 0)")
        before = led.capital
        led.capital = led.conservation_value()
        if led.capital != before:
            changes.append(
                f"capital {format_units(before)} -> {format_units(led.capital)} "
                f"({format_units(led.capital - before)})"
            )
        return changes

    def reconcile(
        self,
        checkpoint: FundCheckpointRecord | None,
        accounts: Mapping[Venue, AccountSnapshot],
        paper_balances: Mapping[Venue, int],
        tolerance: int,
    ) -> list[str]:
        """Build the ledger from the checkpoint and/or the venues; returns every
        disagreement (empty = agreed). See :func:`reconcile_books`."""
        if checkpoint is not None:
            self.day = utc_day(self.wall_ms())
        self.ledger, problems = reconcile_books(
            checkpoint,
            accounts,
            paper_balances,
            tolerance,
            venues=tuple(self.rules),
            today=self.day,
        )
        if checkpoint is not None and not problems:
            self._check_daily_loss()  # a restart within the day keeps the limit's verdict
        return problems

    # ----------------------------------------------------------- statistics

    def statistics(self) -> dict[str, Any]:
        return fund_statistics(self)

    def checkpoint(self) -> FundCheckpointRecord:
        self._maybe_roll_day()  # the daily counters must belong to the day recorded
        return self.ledger.checkpoint(self.clock_ns(), self.wall_ms(), loss_day=self.day)

    # --------------------------------------------------------------- records

    def _record(self, record: Any) -> None:
        if self.sink is not None:
            self.sink(record)

    def _order_update(self, coid: str, state: OrderState, reason: str, venue_id: str) -> None:
        """Record the ledger's order ``coid`` (reserved first, so it is always there) at
        ``state``."""
        order = self.ledger.orders.get(coid)
        if self.sink is None or order is None:
            return
        self.sink(
            OrderRecord(
                client_order_id=coid,
                venue_order_id=venue_id or order.venue_order_id,
                opportunity_id=order.opportunity_id,
                instrument=order.instrument,
                side=order.side,
                limit_price=order.limit_price,
                size=order.size,
                filled_size=order.filled,
                state=state,
                reason=reason,
                updated_ns=self.clock_ns(),
                wall_ms=self.wall_ms(),
            )
        )
