"""Placing one order safely: :class:`OrderRunner`.

It places an order through its venue's gate (ladder, circuit breaker, token bucket),
retries only transport errors that provably never reached the venue, turns a
possibly-sent request into AMBIGUOUS and resolves it by lookup (client order id) before
any resend, and converts what the venue reports into acks, fills (deduplicated by a
per-order filled-size watermark) and a final state. :meth:`OrderRunner.ready_now` and
:meth:`OrderRunner.written` are the first attempt's synchronous part, so the executor can
write every leg of an execution, back to back, in the step that received it. A leg that
resolves filled after its execution ended is unwound (``actors.trading.unwind``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

import attrs
import trio

from actors.trading.breaker import BreakerState, CircuitBreaker
from actors.trading.control import TradingControl
from actors.trading.execution_store import ExecutionStore, OrderProgress, OwedUnwind, StoredOrder
from actors.trading.fill_tracker import FillTracker
from actors.trading.ids import unwind_order_id
from actors.trading.ladder import OrderPurpose
from actors.trading.legs import LegResult as LegResult  # re-exported for two_leg
from actors.trading.legs import PendingHedge as PendingHedge
from actors.trading.legs import UnresolvedOrder
from actors.trading.messages import ExecutorOutcomeMsg, OrderFinal
from actors.trading.rate_limit import TokenBucket
from actors.trading.retry import RelookupPolicy, RetryPolicy
from actors.trading.unwind import ExecutionSettings, unwind
from actors.trading.venue_clients import Ambiguous, NotSent, OrderStatus, RateLimited, VenueClient
from protocols.fixed import PRICE_ONE
from protocols.messages import (
    InstrumentId,
    OrderAck,
    OrderAmbiguous,
    OrderIntent,
    OrderReject,
    OrderState,
    Side,
    TimeInForce,
    Venue,
)

log = logging.getLogger("arbtree.trading.executor")

Emit = Callable[[ExecutorOutcomeMsg], Awaitable[None]]

TERMINAL = frozenset(
    {OrderState.FILLED, OrderState.CANCELLED, OrderState.REJECTED, OrderState.EXPIRED}
)


@attrs.define(eq=False)
class VenueGate:
    client: VenueClient
    bucket: TokenBucket
    breaker: CircuitBreaker
    rate_limited_open_s: float = 1.0
    tick: int = 10_000
    min_size: int = 0
    size_step: int = 1


class Unresolved(Exception):
    """Lookups failed too: the order's outcome is still unknown."""


class Writable(Protocol):
    """A request readied on a connection (``http_transport.ReadyRequest``)."""

    def write(self) -> object: ...


@attrs.frozen
class ReadyOrder:
    """An order :meth:`OrderRunner.ready_now` readied: gates passed, token taken, bytes
    built on an idle connection; ``request.write()`` puts it on the socket."""

    intent: OrderIntent
    gate: VenueGate
    request: Writable


@attrs.frozen
class SentNow:
    """An order written from the executor's step: awaiting ``reply`` gives the venue's
    answer (or raises what ``VenueClient.place`` would). It must be passed to
    :meth:`OrderRunner.place`, which awaits it: the request holds a pooled connection."""

    reply: Callable[[], Awaitable[OrderStatus | OrderReject]]


@attrs.define(eq=False)
class OrderRunner:
    gates: Mapping[Venue, VenueGate]
    emit: Emit
    retry: RetryPolicy
    tracker: FillTracker = attrs.field(factory=FillTracker)
    lookup_attempts: int = 5
    # The ladder's gate, asked before every send (each retry and resend included).
    control: TradingControl | None = None
    # Is this venue's user channel connected? Then its fills (with the venue's real fee)
    # are awaited up to ``fill_wait_s`` after a REST ack before a REST-derived fill is used.
    channel_live: Callable[[Venue], bool] = lambda venue: False
    fill_wait_s: float = 0.25
    # client order id -> (intent, venue order id) for orders that may rest (cancel on halt)
    resting: dict[str, tuple[OrderIntent, str]] = attrs.field(factory=dict)
    counters: dict[str, int] = attrs.field(factory=dict)
    # AMBIGUOUS orders no lookup could resolve yet, by client order id (see relookup_loop).
    relookup: RelookupPolicy = attrs.field(factory=RelookupPolicy)
    unresolved: dict[str, UnresolvedOrder] = attrs.field(factory=dict)
    # Unresolved legs whose partners were flattened (execute_legs): hedged on resolution.
    pending_hedges: dict[str, PendingHedge] = attrs.field(factory=dict)
    # What outlives this runner's executor (see actors.trading.execution_store): each order
    # is marked SENT there before it is written and DONE when its result is known.
    store: ExecutionStore = attrs.field(factory=ExecutionStore)
    _parked: trio.Event = attrs.field(factory=trio.Event)
    _owed_changed: trio.Event = attrs.field(factory=trio.Event)

    @classmethod
    def over(cls, store: ExecutionStore, **kwargs: Any) -> OrderRunner:
        """A runner whose tracker, resting orders, parked orders and owed hedges are the
        store's: a new executor incarnation carries on where the last one stopped."""
        return cls(
            tracker=store.tracker,
            resting=store.resting,
            unresolved=store.unresolved,
            pending_hedges=store.pending_hedges,
            counters=store.counters,
            store=store,
            **kwargs,
        )

    def _count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    async def reject(self, intent: OrderIntent, reason: str, code: str, retryable: bool) -> None:
        await self.emit(
            OrderReject(
                client_order_id=intent.client_order_id,
                instrument=intent.instrument,
                reason=reason,
                venue_code=code,
                retryable=retryable,
                ack_ns=time.monotonic_ns(),
            )
        )

    def ready_now(
        self, intent: OrderIntent, purpose: OrderPurpose = OrderPurpose.OPEN
    ) -> ReadyOrder | None:
        """:meth:`place`'s first attempt up to the write, in the caller's own step (no
        schedule point), for when every gate passes as it stands: trading permits
        ``purpose``, the breaker is closed, the bucket holds a token (taken here) and the
        client has an idle connection (``ready_place``). Otherwise ``None``, nothing done,
        and :meth:`place` takes its usual path. Never raises: an error building the
        request is met again by :meth:`place`, which reports it. What it returns must be
        written (``ready.request.write()``) and passed to :meth:`written` in the same step."""
        gate = self.gates.get(intent.instrument.venue)
        if gate is None:
            return None
        ready_place = getattr(gate.client, "ready_place", None)
        control = self.control
        if (
            ready_place is None
            or (control is not None and not control.permits(purpose))
            or gate.breaker.state is not BreakerState.CLOSED
            or gate.bucket.tokens < 1
        ):
            return None
        try:
            request = ready_place(intent)
        except Exception as exc:
            log.debug("order %s not sent from the executor's step: %r", intent.client_order_id, exc)
            return None
        if request is None:
            return None
        gate.bucket.reserve()  # a token is there (checked above); no schedule point since
        self.store.mark_sent(intent, trio.current_time())  # written next
        return ReadyOrder(intent, gate, request)

    def written(self, ready: ReadyOrder, started: object) -> SentNow:
        """Book an order :meth:`ready_now` readied and ``ready.write()`` wrote (``started``):
        its venue id linked, its counters, and how :meth:`place` gets the reply."""
        intent, client = ready.intent, ready.gate.client
        # The venue's id (Polymarket: the order hash) is linked after the write, off the
        # order's way out, and still before any fill can be read: nothing else has run.
        expected = getattr(client, "expected_order_id", None)
        if expected is not None:
            try:
                venue_id = str(expected(intent))
                self.tracker.link(intent.client_order_id, venue_id)
                self.store.mark_venue_id(intent, venue_id)
            except Exception as exc:  # the REST reply links it instead (see _accepted)
                log.warning(
                    "order %s: its venue id could not be computed: %r", intent.client_order_id, exc
                )
        self._count("sent")
        self._count("sent_now")
        finish = client.finish_place  # type: ignore[attr-defined]
        return SentNow(lambda: finish(intent, started))

    async def place(
        self,
        intent: OrderIntent,
        purpose: OrderPurpose = OrderPurpose.OPEN,
        sent: SentNow | None = None,
    ) -> LegResult:
        """Place one order to a known outcome (or give up as unresolved).

        ``purpose`` is checked at the ladder's gate before every send: an ``OPEN`` order is
        refused unless ACTIVE, an ``UNWIND`` (reduce-only) always goes out. ``sent``: the
        first attempt :meth:`ready_now` readied and was written (its gates were passed then)."""
        result = await self._place(intent, purpose, sent)
        if result.resolved and result.state in TERMINAL:
            self._forget(intent)
        self.store.mark_done(result)
        return result

    def _forget(self, intent: OrderIntent) -> None:
        """A final order is neither resent nor looked up again: the client may drop what
        it kept for that (``forget``, e.g. Polymarket's memoized signed body)."""
        forget = getattr(self.gates[intent.instrument.venue].client, "forget", None)
        if forget is not None:
            forget(intent.client_order_id)

    async def _place(
        self, intent: OrderIntent, purpose: OrderPurpose, sent: SentNow | None
    ) -> LegResult:
        gate = self.gates[intent.instrument.venue]
        attempts = max(1, self.retry.attempts)
        last = "not sent"
        for attempt in range(attempts):
            written, sent = sent, None
            if written is None:
                refused = await self._pass_gate(intent, purpose, gate)
                if refused is not None:
                    return refused
            try:
                result = await (gate.client.place(intent) if written is None else written.reply())
            except NotSent as exc:
                gate.breaker.record_failure("transport")
                self._count("transport_retry")
                last = f"transport: {exc}"
                if attempt + 1 < attempts:
                    await trio.sleep(self.retry.delay(attempt))
                    continue
                await self.reject(intent, "transport_error", str(exc), True)
                return LegResult(intent, 0, 0, OrderState.REJECTED, True, "transport_error")
            except RateLimited as exc:
                self._count("rate_limited")
                gate.bucket.drain()
                gate.breaker.trip(
                    exc.retry_after_s
                    if exc.retry_after_s is not None
                    else gate.rate_limited_open_s,
                    "429 from venue",
                )
                await self.reject(intent, "rate_limited", str(exc), True)
                return LegResult(intent, 0, 0, OrderState.REJECTED, True, "rate_limited")
            except Ambiguous as exc:
                gate.breaker.record_failure("ambiguous")
                self._count("ambiguous")
                await self.emit(
                    OrderAmbiguous(
                        client_order_id=intent.client_order_id,
                        instrument=intent.instrument,
                        reason=str(exc),
                        at_ns=time.monotonic_ns(),
                    )
                )
                try:
                    found = await self.resolve(intent)
                except Unresolved as unresolved:
                    self._park(intent, str(unresolved))
                    return LegResult(intent, 0, 0, OrderState.AMBIGUOUS, False, str(unresolved))
                if found is None:
                    self._count("ambiguous_not_found")
                    last = f"ambiguous ({exc}); venue does not know the order"
                    if attempt + 1 < attempts:
                        await trio.sleep(self.retry.delay(attempt))
                        continue  # resend with the same client order id
                    await self.reject(intent, "not_placed", last, True)
                    return LegResult(intent, 0, 0, OrderState.REJECTED, True, "not_placed")
                self._count("ambiguous_resolved")
                return await self._accepted(intent, found)
            gate.breaker.record_success()
            if isinstance(result, OrderReject):
                await self.emit(result)
                return LegResult(intent, 0, 0, OrderState.REJECTED, True, result.reason)
            return await self._accepted(intent, result)
        await self.reject(intent, "transport_error", last, True)
        return LegResult(intent, 0, 0, OrderState.REJECTED, True, "transport_error")

    async def _pass_gate(
        self, intent: OrderIntent, purpose: OrderPurpose, gate: VenueGate
    ) -> LegResult | None:
        """Ladder, breaker, bucket, before each send: a refusal is reported and returned;
        ``None`` means send (a token is taken, the expected venue id linked)."""
        control = self.control
        if control is not None and not control.permits(purpose):
            self._count("gate_refused")
            why = f"trading_{control.state.label}"
            await self.reject(intent, why, control.ladder.reason, False)
            return LegResult(intent, 0, 0, OrderState.REJECTED, True, why)
        if purpose is OrderPurpose.OPEN:
            if not gate.breaker.allow():
                self._count("breaker_refused")
                await self.reject(intent, "breaker_open", gate.breaker.last_reason, True)
                return LegResult(intent, 0, 0, OrderState.REJECTED, True, "breaker_open")
            await gate.bucket.acquire()
        else:
            # Risk-reducing orders pass an open breaker and never wait for a token: one
            # is taken (into debt if need be), so the next opens wait for it instead.
            if gate.breaker.state is not BreakerState.CLOSED:
                self._count("unwind_past_breaker")
            gate.bucket.reserve()
        expected = getattr(gate.client, "expected_order_id", None)
        if expected is not None:  # link first: channel fills may beat the REST reply
            venue_id = str(expected(intent))
            self.tracker.link(intent.client_order_id, venue_id)
            self.store.mark_venue_id(intent, venue_id)
        self.store.mark_sent(intent, trio.current_time())
        self._count("sent")
        return None

    async def resolve(self, intent: OrderIntent) -> OrderStatus | None:
        """Lookup by client order id; ``None`` = the venue definitively does not know it."""
        gate = self.gates[intent.instrument.venue]
        error = ""
        for i in range(max(1, self.lookup_attempts)):
            try:
                return await gate.client.lookup(intent.client_order_id, intent.instrument)
            except (NotSent, Ambiguous, RateLimited) as exc:
                error = str(exc)
                await trio.sleep(self.retry.delay(min(i, 3)))
        raise Unresolved(f"lookup failed {self.lookup_attempts} times: {error}")

    async def recover(self, order: StoredOrder, settle_s: float) -> LegResult:
        """Bring an order an earlier executor incarnation left behind to a known outcome
        (or park it for re-lookup); never resent. PREPARED: certainly never written, so
        rejected here (the fund manager releases its reservation). SENT, or written with
        no result: looked up by client order id; while the venue does not know it, it is
        asked again until ``settle_s`` after it was written (a request still on the wire
        may yet arrive), and only then counts as never placed."""
        intent = order.intent
        coid = intent.client_order_id
        self.pending_hedges.pop(coid, None)  # the resumed execution hedges afresh
        if order.result is not None and order.result.resolved:
            return order.result
        if order.progress is OrderProgress.PREPARED:
            self._count("recovered_unsent")
            await self.reject(intent, "executor_restarted", "never sent", False)
            result = LegResult(intent, 0, 0, OrderState.REJECTED, True, "executor_restarted")
            self.store.mark_done(result)
            return result
        recall = getattr(self.gates[intent.instrument.venue].client, "recall", None)
        if recall is not None and order.venue_order_id:
            recall(coid, order.venue_order_id)  # Polymarket looks orders up by their hash
        while True:
            try:
                status = await self.resolve(intent)
            except Unresolved as exc:
                if coid not in self.unresolved:
                    self._park(intent, str(exc))
                result = LegResult(intent, 0, 0, OrderState.AMBIGUOUS, False, str(exc))
                self.store.mark_done(result)
                return result
            settled = order.sent_at + settle_s
            if status is None and trio.current_time() < settled:
                await trio.sleep_until(settled)
                continue
            break
        self.unresolved.pop(coid, None)  # resolved here: the re-lookup timer lets it go
        if status is None:
            self._count("recovered_not_placed")
            await self.reject(intent, "not_placed", "unknown to the venue after a restart", False)
            result = LegResult(intent, 0, 0, OrderState.REJECTED, True, "not_placed")
        else:
            self._count("recovered")
            result = await self._accepted(intent, status)
        if result.state in TERMINAL:
            self._forget(intent)
        self.store.mark_done(result)
        return result

    # ------------------------------------------------------------ owed unwinds

    def owe_unwind(
        self, leg: LegResult, left: int, control: TradingControl, settings: ExecutionSettings
    ) -> None:
        """``left`` shares of ``leg`` could not be traded back in time: retry until flat."""
        coid = leg.intent.client_order_id
        if left < self.gates[leg.intent.instrument.venue].min_size:
            self._count("naked_dust")  # below the venue's minimum: no order can trade it
            return
        now = trio.current_time()
        owed = self.store.owed.get(coid)
        if owed is None:
            self.store.owed[coid] = OwedUnwind(
                leg, left, control, settings, since=now, due=now + self.relookup.delay(0)
            )
            self._count("unwinds_owed")
        else:
            owed.left = left
        self._owed_changed.set()

    async def unwind_loop(self) -> None:
        """Forever: retry every owed unwind when it is due, each on its own backoff (the
        re-lookup policy's), until its leg is flat. Never blocked by the ladder, the
        breaker or the rate limiter (reduce-only orders pass them all)."""
        while True:
            now = trio.current_time()
            for owed in [o for o in self.store.owed.values() if o.due <= now and not o.busy]:
                await self.retry_owed(owed)
            next_due = min((o.due for o in self.store.owed.values()), default=math.inf)
            self._owed_changed = trio.Event()
            with trio.move_on_at(next_due):
                await self._owed_changed.wait()

    async def retry_owed(self, owed: OwedUnwind, *, any_price: bool = False) -> int:
        """One more unwind of an owed leg (within ``max_leg_delay``); ``any_price``: at the
        venue's widest limit (an operator's flatten). Returns what is still unhedged."""
        coid = owed.leg.intent.client_order_id
        if owed.busy or self._unwinds_unresolved(coid):
            # An unwind order of this leg whose outcome is unknown may yet have traded:
            # another one could overshoot. Its re-lookup decides first.
            owed.due = trio.current_time() + self.relookup.delay(owed.tries)
            return owed.left
        owed.busy = True
        settings = owed.settings
        if any_price:
            settings = attrs.evolve(settings, unwind_max_slippage=PRICE_ONE)
        try:
            self._count("unwind_retries")
            deadline = trio.current_time() + settings.max_leg_delay_s
            left = await unwind(owed.leg, owed.left, self, owed.control, settings, deadline)
        finally:
            owed.busy = False
        owed.tries += 1
        step = max(1, self.gates[owed.leg.intent.instrument.venue].size_step)
        if left < step:
            self.store.owed.pop(coid, None)
            self._count("unwinds_recovered")
            log.warning(
                "naked leg %s is flat after %d unwind retries (%.1f s)",
                coid,
                owed.tries,
                trio.current_time() - owed.since,
            )
        else:
            owed.left = left
            owed.due = trio.current_time() + self.relookup.delay(owed.tries)
            if owed.tries & (owed.tries - 1) == 0:  # 1, 2, 4, 8...
                log.error(
                    "naked leg %s: %d shares still unhedged after %d unwind retries",
                    coid,
                    left,
                    owed.tries,
                )
        return left

    def _unwinds_unresolved(self, leg_coid: str) -> bool:
        made = self.store.unwind_attempts.get(leg_coid, 0)
        return any(unwind_order_id(leg_coid, i) in self.unresolved for i in range(made))

    async def flatten(
        self,
        positions: Sequence[tuple[InstrumentId, int, int]] = (),
        control: TradingControl | None = None,
        settings: ExecutionSettings | None = None,
    ) -> dict[str, int]:
        """Unwind every owed leg now, at any price, and ``positions`` (instrument, shares
        held beyond their hedge, average price) beyond what is already owed for them;
        returns every leg it unwound with what is still unhedged (0: flat)."""
        self._count("flattens")
        owed_by_instrument: dict[InstrumentId, int] = {}
        for owed in self.store.owed.values():
            inst = owed.leg.intent.instrument
            owed_by_instrument[inst] = owed_by_instrument.get(inst, 0) + owed.left
        ctl = control or self.control or TradingControl()
        for instrument, shares, avg_price in positions:
            gate = self.gates.get(instrument.venue)
            if gate is None:
                continue
            step = max(1, gate.size_step)
            size = (shares - owed_by_instrument.get(instrument, 0)) // step * step
            if size <= 0 or size < gate.min_size:
                continue
            parent = f"flatten|{instrument.key()}"
            intent = OrderIntent(
                client_order_id=parent,
                opportunity_id="flatten",
                leg_index=0,
                instrument=instrument,
                side=Side.BUY,  # held long: the unwind sells
                limit_price=avg_price,
                size=size,
                reserved=0,
                time_in_force=TimeInForce.IOC,
                recv_ns=0,
                detect_ns=0,
                intent_ns=time.monotonic_ns(),
            )
            leg = LegResult(intent, size, avg_price, OrderState.FILLED, True, received=size)
            self.owe_unwind(leg, size, ctl, settings or ExecutionSettings())
        left: dict[str, int] = {}
        for coid, owed in list(self.store.owed.items()):
            await self.retry_owed(owed, any_price=True)
            still = self.store.owed.get(coid)
            left[coid] = still.left if still is not None else 0
        return left

    def _park(self, intent: OrderIntent, error: str) -> None:
        """Hand an order no lookup could resolve to the re-lookup timer."""
        now = trio.current_time()
        self.unresolved[intent.client_order_id] = UnresolvedOrder(
            intent=intent, since=now, due=now + self.relookup.delay(0), last_error=error
        )
        self._count("unresolved")
        self._parked.set()

    async def relookup_loop(self) -> None:
        """Forever: look every unresolved order up again when it is due, each on its own
        backoff, until the venue answers. Lookups only: an order is never resent from
        here (the opportunity is long gone); what the venue says is emitted exactly as a
        resolution in ``place`` would emit it, so the fund manager books or releases the
        reservation once."""
        while True:
            now = trio.current_time()
            for entry in [e for e in self.unresolved.values() if e.due <= now]:
                await self.relookup_once(entry)
            next_due = min((e.due for e in self.unresolved.values()), default=math.inf)
            self._parked = trio.Event()
            with trio.move_on_at(next_due):
                await self._parked.wait()

    async def relookup_once(self, entry: UnresolvedOrder) -> bool:
        """One re-lookup of one parked order; True when it was resolved."""
        intent = entry.intent
        coid = intent.client_order_id
        entry.attempts += 1
        self._count("relookup_attempts")
        try:
            status = await self.gates[intent.instrument.venue].client.lookup(
                coid, intent.instrument
            )
        except Exception as exc:  # a read: whatever went wrong, asking again is safe
            self._count("relookup_failed")
            entry.last_error = f"{type(exc).__name__}: {exc}"
            entry.due = trio.current_time() + self.relookup.delay(entry.attempts)
            if entry.attempts & (entry.attempts - 1) == 0:  # 1, 2, 4, 8...: not every time
                log.warning(
                    "ambiguous order %s still unresolved after %d re-lookups: %s",
                    coid,
                    entry.attempts,
                    entry.last_error,
                )
            return False
        if self.unresolved.pop(coid, None) is None:
            return False  # resolved meanwhile by another path
        waited = trio.current_time() - entry.since
        if status is None:
            self._count("relookup_not_found")
            log.warning(
                "ambiguous order %s: the venue does not know it (re-lookup %d, %.1f s "
                "later); reservation released, not resent",
                coid,
                entry.attempts,
                waited,
            )
            await self.reject(intent, "not_placed", "unknown to the venue on re-lookup", False)
            self.pending_hedges.pop(coid, None)  # nothing was bought: nothing to hedge
            self._forget(intent)
            return True
        self._count("relookup_resolved")
        log.warning(
            "ambiguous order %s resolved by re-lookup %d (%.1f s later): %s, filled %d",
            coid,
            entry.attempts,
            waited,
            status.state,
            status.filled_size,
        )
        result = await self._accepted(intent, status)
        if result.state in TERMINAL:
            self._forget(intent)
        self.store.mark_done(result)  # an execution being resumed reads it
        self._unwind_resolved(result)
        await self._hedge_resolved(result)
        return True

    def _unwind_resolved(self, result: LegResult) -> None:
        """An unwind order resolved late: what it sold is no longer owed by its leg."""
        parent = self.store.unwind_parent.get(result.intent.client_order_id)
        owed = self.store.owed.get(parent) if parent is not None else None
        if owed is None or result.filled <= 0:
            return
        owed.left -= result.filled
        step = max(1, self.gates[owed.leg.intent.instrument.venue].size_step)
        if owed.left < step:
            del self.store.owed[owed.leg.intent.client_order_id]
            self._count("unwinds_recovered")
            log.warning(
                "naked leg %s is flat: a late-resolved unwind order sold the rest",
                owed.leg.intent.client_order_id,
            )

    async def _hedge_resolved(self, result: LegResult) -> None:
        """A leg resolved after its execution ended: unwind what it holds beyond what its
        partners still hold (they were flattened when the execution ended ambiguous)."""
        pending = self.pending_hedges.pop(result.intent.client_order_id, None)
        if pending is None:
            return
        step = max(1, self.gates[result.intent.instrument.venue].size_step)
        excess = (result.received - pending.partners_left) // step * step
        if excess <= 0:
            return
        self._count("resolution_unwinds")
        deadline = trio.current_time() + pending.settings.max_leg_delay_s
        left = await unwind(result, excess, self, pending.control, pending.settings, deadline)
        if left >= step:
            self.owe_unwind(result, left, pending.control, pending.settings)
            self._count("resolution_naked")
            log.error(
                "order %s resolved filled after its execution; %d shares could not be"
                " unwound within max_leg_delay",
                result.intent.client_order_id,
                left,
            )

    async def _accepted(self, intent: OrderIntent, status: OrderStatus) -> LegResult:
        coid = intent.client_order_id
        self.tracker.link(coid, status.venue_order_id)
        tracker = self.tracker
        # The user channel is the source of truth for executions (docs/protocols.md): one fill
        # per level at its exact price and fee, where REST gives an order's average price
        # (Kalshi: rounded) and, on Polymarket, no fee at all.
        if status.filled_size > tracker.emitted.get(coid, 0) and self.channel_live(
            intent.instrument.venue
        ):
            self._count("channel_wait")
            with trio.move_on_after(self.fill_wait_s) as waited:
                await tracker.wait_delivered(coid, status.filled_size)
            if waited.cancelled_caught:
                self._count("channel_wait_timeout")
        await self.emit(
            OrderAck(
                client_order_id=intent.client_order_id,
                venue_order_id=status.venue_order_id,
                instrument=intent.instrument,
                state=status.state,
                filled_size=status.filled_size,
                venue_ts_ms=0,
                ack_ns=time.monotonic_ns(),
            )
        )
        fill = self.tracker.from_status(intent, status)
        if fill is not None:
            await self.emit(fill)
        state = status.state
        if state in (OrderState.OPEN, OrderState.PARTIALLY_FILLED):
            if intent.time_in_force is TimeInForce.GTC:
                self.resting[intent.client_order_id] = (intent, status.venue_order_id)
            else:  # FOK/IOC never rest: whatever did not fill is dead
                state = (
                    OrderState.FILLED
                    if status.filled_size >= intent.size
                    else (OrderState.CANCELLED)
                )
        if state in TERMINAL:
            await self.emit(
                OrderFinal(
                    client_order_id=intent.client_order_id,
                    state=state,
                    filled_size=status.filled_size,
                    reason="venue",
                    at_ns=time.monotonic_ns(),
                )
            )
        received = min(tracker.net.get(coid, 0), status.filled_size)
        return LegResult(
            intent,
            status.filled_size,
            status.avg_price or intent.limit_price,
            state,
            True,
            received=received,
        )
