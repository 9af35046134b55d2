"""Fund manager core: every reject reason, reservations, conservation, ladder, reconciliation."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.trading.checks import Rejection, RejectReason
from actors.trading.ladder import HISTORY_KEPT, Hold, LadderChange, TradingLadder, TradingState
from actors.trading.ledger import OrderPhase
from actors.trading.messages import ExecutionRequest, OrderFinal
from actors.trading.venue_clients import AccountSnapshot
from protocols.fixed import CASH_ONE, SIZE_ONE
from protocols.messages import (
    Fill,
    FillStatus,
    FundCheckpointRecord,
    Liquidity,
    OpportunityLeg,
    OrderIntent,
    OrderReject,
    OrderState,
    Position,
    Side,
    Venue,
    VenueBalance,
)
from tests.trading.helpers import KALSHI, NOW, POLY, core, opp


def reason(result: object) -> RejectReason:
    assert isinstance(result, Rejection), result
    return result.reason


def fill(coid: str, inst, side: Side, price: int, size: int, fee: int, fid: str) -> Fill:  # type: ignore[no-untyped-def]
    return Fill(
        fill_id=fid,
        venue_order_id="v",
        client_order_id=coid,
        instrument=inst,
        side=side,
        price=price,
        size=size,
        fee=fee,
        liquidity=Liquidity.TAKER,
        status=FillStatus.MATCHED,
        venue_ts_ms=0,
        recv_ns=0,
    )


def test_accept_reserves_and_builds_grouped_intents() -> None:
    c = core()
    result = c.decide(opp(oid="o1"))
    assert isinstance(result, ExecutionRequest)
    assert [i.leg_index for i in result.intents] == [0, 1]
    assert len({i.client_order_id for i in result.intents}) == 2
    # Deterministic ids: the same opportunity id maps to the same client order ids.
    again = core().decide(opp(oid="o1"))
    assert isinstance(again, ExecutionRequest)
    assert [i.client_order_id for i in again.intents] == [i.client_order_id for i in result.intents]
    assert c.ledger.reserved[Venue.POLYMARKET] == 4_500_000
    assert c.ledger.reserved[Venue.KALSHI] == 5_000_000 + 180_000  # fee 0.07*10*.25 -> 0.18
    assert c.ledger.conserved()


def test_intents_carry_the_opportunity_timestamps() -> None:
    """The trigger tick's receive time rides to the executor, which stops the
    tick-to-order clock when the request is on the socket."""
    trigger = NOW - 123_456  # the newest quote, a little before detection
    o = msgspec.structs.replace(opp(oid="t1"), trigger_recv_ns=trigger)
    result = core().decide(o)
    assert isinstance(result, ExecutionRequest)
    for it in result.intents:
        assert (it.trigger_recv_ns, it.detect_ns, it.recv_ns) == (trigger, o.detect_ns, o.recv_ns)


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda c: c.decide(opp(age_ns=600_000_000)), RejectReason.STALE),
        (lambda c: c.decide(opp(legs=())), RejectReason.INVALID),
        (lambda c: c.decide(opp(p1=455_000)), RejectReason.TICK_SIZE),
        (lambda c: c.decide(opp(size=2 * SIZE_ONE)), RejectReason.MIN_SIZE),
        (lambda c: c.decide(opp(size=300 * SIZE_ONE)), RejectReason.MAX_NOTIONAL),
        (
            lambda c: c.decide(
                opp(
                    legs=(
                        OpportunityLeg(
                            instrument=POLY, side=Side.SELL, limit_price=500_000, size=10 * SIZE_ONE
                        ),
                    )
                )
            ),
            RejectReason.INSUFFICIENT_POSITION,
        ),
    ],
)
def test_simple_reject_reasons(build, expected) -> None:  # type: ignore[no-untyped-def]
    c = core()
    assert reason(build(c)) is expected
    assert c.rejects[expected.value] == 1
    assert c.ledger.reserved[Venue.POLYMARKET] == 0


def test_duplicate_opportunity_rejected() -> None:
    c = core()
    assert isinstance(c.decide(opp(oid="same")), ExecutionRequest)
    assert reason(c.decide(opp(oid="same"))) is RejectReason.DUPLICATE


def test_balance_buffer() -> None:
    c = core(cash=9 * CASH_ONE)  # 9 - 5 buffer = 4 free < 4.5 needed
    assert reason(c.decide(opp())) is RejectReason.INSUFFICIENT_BALANCE


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        ({"max_exposure_per_instrument": 4 * CASH_ONE}, RejectReason.EXPOSURE_INSTRUMENT),
        ({"max_exposure_per_pair": 9 * CASH_ONE}, RejectReason.EXPOSURE_PAIR),
        ({"max_exposure_per_venue": 5 * CASH_ONE}, RejectReason.EXPOSURE_VENUE),
        ({"max_exposure_total": 9 * CASH_ONE}, RejectReason.EXPOSURE_TOTAL),
        ({"max_open_positions": 1}, RejectReason.MAX_OPEN_POSITIONS),
        ({"daily_loss_limit": 0}, RejectReason.DAILY_LOSS),
    ],
)
def test_limit_reject_reasons(limit: dict[str, int], expected: RejectReason) -> None:
    c = core(**limit)
    assert reason(c.decide(opp())) is expected
    assert c.ledger.conserved()


def test_every_reason_is_in_statistics() -> None:
    stats = core().statistics()
    assert set(stats["rejects"]) == {r.value for r in RejectReason}


def test_halted_rejects_everything_immediately_and_reducing_rejects_buys() -> None:
    c = core()
    c.control.halt("test")
    assert reason(c.decide(opp())) is RejectReason.TRADING_HALTED
    c2 = core()
    c2.control.reduce("test")
    assert reason(c2.decide(opp())) is RejectReason.TRADING_REDUCING


def test_ladder_is_latched_and_holds_block_resume() -> None:
    ladder = TradingLadder()
    assert ladder.escalate(TradingState.HALTED, "kill", "test")
    assert not ladder.escalate(TradingState.REDUCING, "lower", "test")  # never downgrades
    assert ladder.state is TradingState.HALTED
    ladder.hold(Hold.KILL_SWITCH, "file exists")
    ok, message = ladder.resume()
    assert not ok
    assert "kill_switch" in message
    ladder.release_hold(Hold.KILL_SWITCH)
    assert ladder.state is TradingState.HALTED  # still latched until an explicit resume
    assert ladder.resume() == (True, "resumed")
    assert ladder.state is TradingState.ACTIVE


def test_ladder_keeps_recent_changes_and_counts_all_of_them() -> None:
    seen: list[LadderChange] = []
    ladder = TradingLadder(listeners=[seen.append])
    flaps = HISTORY_KEPT + 50
    for i in range(flaps):  # a flapping source: halt, resume, halt, ...
        ladder.escalate(TradingState.HALTED, f"flap {i}", "watchdog")
        ladder.resume()
    assert ladder.changes == 2 * flaps
    assert len(seen) == 2 * flaps  # listeners (storage) still see every change
    assert len(ladder.history) == HISTORY_KEPT
    assert ladder.history[-1] == seen[-1]
    assert ladder.history[0] == seen[-HISTORY_KEPT]


def test_fills_and_releases_keep_conservation_and_dedupe() -> None:
    c = core()
    req = c.decide(opp())
    assert isinstance(req, ExecutionRequest)
    a, b = req.intents
    c.on_outcome(fill(a.client_order_id, POLY, Side.BUY, 440_000, 10 * SIZE_ONE, 0, "f1"))
    c.on_outcome(fill(a.client_order_id, POLY, Side.BUY, 440_000, 10 * SIZE_ONE, 0, "f1"))
    assert c.fills_duplicate == 1
    c.on_outcome(
        OrderFinal(
            client_order_id=a.client_order_id,
            state=OrderState.FILLED,
            filled_size=10 * SIZE_ONE,
            reason="",
            at_ns=0,
        )
    )
    c.on_outcome(
        OrderReject(
            client_order_id=b.client_order_id,
            instrument=KALSHI,
            reason="fok_not_filled",
            venue_code="",
            retryable=False,
            ack_ns=0,
        )
    )
    led = c.ledger
    assert led.reserved == {Venue.POLYMARKET: 0, Venue.KALSHI: 0}
    assert led.positions[POLY].size == 10 * SIZE_ONE
    assert led.positions[POLY].cost == 4_400_000
    assert led.conserved()


def test_daily_loss_limit_halts() -> None:
    c = core(daily_loss_limit=1 * CASH_ONE)
    req = c.decide(opp())
    assert isinstance(req, ExecutionRequest)
    coid = req.intents[0].client_order_id
    c.on_outcome(fill(coid, POLY, Side.BUY, 450_000, 10 * SIZE_ONE, 0, "b"))
    c.on_outcome(fill("unwind", POLY, Side.SELL, 300_000, 10 * SIZE_ONE, 0, "s"))
    assert c.ledger.daily_loss() == 1_500_000
    assert c.control.state is TradingState.HALTED
    assert "daily loss" in c.control.ladder.reason


_EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["opp", "fill", "partial", "reject", "final", "sell", "ambiguous"]),
        st.integers(min_value=1, max_value=40),  # size in shares
        st.integers(min_value=1, max_value=99),  # price in cents
        st.integers(min_value=0, max_value=30),  # fee in cents
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(_EVENTS)
def test_conservation_and_limits_under_random_events(events) -> None:  # type: ignore[no-untyped-def]
    c = core(
        cash=200 * CASH_ONE,
        max_exposure_per_instrument=60 * CASH_ONE,
        max_exposure_total=150 * CASH_ONE,
        max_exposure_per_pair=100 * CASH_ONE,
    )
    open_intents: list[OrderIntent] = []
    all_ids: list[str] = []
    fid = 0
    for kind, size, cents, fee_c in events:
        price, fee = cents * 10_000, fee_c * 10_000
        if kind == "opp":
            r = c.decide(opp(size=size * SIZE_ONE, p1=price, p2=price))
            if isinstance(r, ExecutionRequest):
                open_intents.extend(r.intents)
                all_ids.extend(i.client_order_id for i in r.intents)
                # Exposure never above the limits right after a reservation.
                exp = c.ledger.exposures()
                assert all(v <= c.limits.max_exposure_per_instrument for v in exp.values())
                assert sum(exp.values()) <= c.limits.max_exposure_total
        elif open_intents and kind in ("fill", "partial"):
            it = open_intents[0]
            qty = it.size if kind == "fill" else max(1, it.size // 2)
            fid += 1
            c.on_outcome(
                fill(
                    it.client_order_id, it.instrument, it.side, it.limit_price, qty, fee, f"f{fid}"
                )
            )
        elif open_intents and kind == "reject":
            it = open_intents.pop(0)
            c.on_outcome(
                OrderReject(
                    client_order_id=it.client_order_id,
                    instrument=it.instrument,
                    reason="x",
                    venue_code="",
                    retryable=False,
                    ack_ns=0,
                )
            )
        elif open_intents and kind == "final":
            it = open_intents.pop(0)
            c.on_outcome(
                OrderFinal(
                    client_order_id=it.client_order_id,
                    state=OrderState.CANCELLED,
                    filled_size=0,
                    reason="",
                    at_ns=0,
                )
            )
        elif kind == "sell":
            held = [(i, p) for i, p in c.ledger.positions.items() if p.size > 0]
            if held:
                inst, pos = held[0]
                fid += 1
                c.on_outcome(
                    fill(
                        f"unw-{fid}",
                        inst,
                        Side.SELL,
                        price,
                        min(pos.size, size * SIZE_ONE),
                        fee,
                        f"f{fid}",
                    )
                )
        assert c.ledger.conserved(), (kind, c.ledger)
        assert all(v >= 0 for v in c.ledger.reserved.values())
        # The open-order index the pre-trade checks read is exactly the orders not DONE.
        not_done = {k for k, o in c.ledger.orders.items() if o.phase is not OrderPhase.DONE}
        assert set(c.ledger.live) == not_done
        # The per-instrument exposure index equals one rebuilt from the books.
        assert c.ledger.index_consistent(), (kind, c.ledger.exposure)
    assert len(all_ids) == len(set(all_ids))


def _checkpoint(cash: int, positions: tuple[Position, ...] = ()) -> FundCheckpointRecord:
    return FundCheckpointRecord(
        balances=(
            VenueBalance(venue=Venue.POLYMARKET, cash=cash, reserved=0),
            VenueBalance(venue=Venue.KALSHI, cash=cash, reserved=0),
        ),
        positions=positions,
        open_orders=(),
        taken_ns=0,
        wall_ms=0,
    )


def test_reconciliation_agrees_and_disagrees_with_a_clear_message() -> None:
    c = core()
    accounts = {
        Venue.POLYMARKET: AccountSnapshot(Venue.POLYMARKET, 100 * CASH_ONE, (), None),
        Venue.KALSHI: AccountSnapshot(Venue.KALSHI, 100 * CASH_ONE, (), {}),
    }
    assert c.reconcile(_checkpoint(100 * CASH_ONE), accounts, {}, 0) == []
    accounts[Venue.KALSHI] = AccountSnapshot(
        Venue.KALSHI, 90 * CASH_ONE, ("x-1",), {KALSHI.key(): SIZE_ONE}
    )
    problems = c.reconcile(_checkpoint(100 * CASH_ONE), accounts, {}, 0)
    text = "; ".join(problems)
    assert "kalshi cash: checkpoint 100 vs venue 90" in text
    assert "kalshi positions" in text
    assert "x-1" in text


def test_reconciliation_missing_position_report_is_not_flat() -> None:
    c = core()
    pos = (Position(instrument=POLY, size=SIZE_ONE, cost=500_000, realized_pnl=0, updated_ns=0),)
    accounts = {
        Venue.POLYMARKET: AccountSnapshot(Venue.POLYMARKET, 100 * CASH_ONE, (), None),
        Venue.KALSHI: AccountSnapshot(Venue.KALSHI, 100 * CASH_ONE, (), {}),
    }
    problems = c.reconcile(_checkpoint(100 * CASH_ONE, pos), accounts, {}, 0)
    assert any("not flat" in p for p in problems)


def test_a_leg_with_an_open_order_waits_for_it() -> None:
    """Two strategies see one window: the second opportunity shares a leg with the first
    still in flight, so it would find that liquidity gone and unwind its other leg."""
    c = core()
    first = c.decide(opp())
    assert isinstance(first, ExecutionRequest)
    assert reason(c.decide(opp())) is RejectReason.LEG_IN_FLIGHT
    for intent in first.intents:
        c.ledger.release(intent.client_order_id, OrderState.CANCELLED)
    assert isinstance(c.decide(opp()), ExecutionRequest)


def test_age_counts_from_the_trigger_tick_not_a_quiet_books_older_quote() -> None:
    """One leg's book has not changed for 1.5 s (its feed is live): the opportunity was made
    by a tick just now, so it is not stale; made by a tick 0.6 s ago, it is."""
    c = core()
    quiet = msgspec.structs.replace(opp(age_ns=1_500_000_000), trigger_recv_ns=NOW)
    assert isinstance(c.decide(quiet), ExecutionRequest)
    late = msgspec.structs.replace(opp(age_ns=1_500_000_000), trigger_recv_ns=NOW - 600_000_000)
    rejected = c.decide(late)
    assert isinstance(rejected, Rejection)
    assert rejected.reason is RejectReason.STALE
