"""The daily loss limit counts a hedged pair (YES + NO bought together: $1 a share at
resolution) at its payout: its fees are not a loss, a naked leg's fees are, and a pair
unwound at a loss is one. Survives a checkpoint and a rebuild from the fund journal."""

from __future__ import annotations

from actors.trading.fund_core import FundCore
from actors.trading.fund_journal import FundJournal
from actors.trading.ladder import TradingState
from actors.trading.messages import ExecutionRequest, OrderFinal
from protocols.fixed import CASH_ONE
from protocols.messages import OrderState, Side
from tests.trading.day_helpers import NOON, WallClock, fill, fresh_core
from tests.trading.helpers import KALSHI, POLY, core, opp

LIMIT = CASH_ONE // 10  # $0.10: less than the pair's fees


def hedged_pair() -> tuple[FundCore, ExecutionRequest]:
    """10 YES at 0.45 (Polymarket) + 10 NO at 0.50 (Kalshi): pays 10.00 for 9.50, fees
    0.20 + 0.10 (Kalshi's in cash; Polymarket's given in cash here for round figures)."""
    c = core(daily_loss_limit=LIMIT)
    req = c.decide(opp(p1=450_000, p2=500_000))
    assert isinstance(req, ExecutionRequest)
    return c, req


def test_a_hedged_pair_pays_its_fees_without_halting() -> None:
    c, req = hedged_pair()
    c.on_outcome(fill(req.intents[0].client_order_id, Side.BUY, 450_000, 0, "p", POLY))
    c.on_outcome(fill(req.intents[1].client_order_id, Side.BUY, 500_000, 300_000, "k", KALSHI))
    assert c.ledger.day_fees == 300_000  # > the 0.10 limit: the old rule halted here
    assert c.ledger.locked_total == 10 * CASH_ONE - 4_500_000 - 5_000_000  # 0.50
    assert c.ledger.daily_loss() == 300_000 - 500_000
    assert c.control.state is TradingState.ACTIVE
    assert c.ledger.conserved()


def test_a_naked_legs_fees_count_and_an_unwind_at_a_loss_counts() -> None:
    c, req = hedged_pair()
    c.on_outcome(fill(req.intents[1].client_order_id, Side.BUY, 500_000, 50_000, "k", KALSHI))
    assert c.ledger.locked_total == 0  # one leg alone locks nothing in
    assert c.ledger.daily_loss() == 50_000
    assert c.control.state is TradingState.ACTIVE
    c.on_outcome(fill("unwind-k", Side.SELL, 490_000, 10_000, "u", KALSHI))  # -0.10
    assert c.ledger.daily_loss() == 60_000 + 100_000
    assert c.control.state is TradingState.HALTED
    assert "daily loss 0.16 >= limit 0.1" in c.control.ladder.reason


def test_the_pairs_value_survives_a_checkpoint_and_a_journal_rebuild() -> None:
    clock = WallClock(NOON)
    c, req = hedged_pair()
    c.wall_ms = clock
    c.day = NOON // 86_400_000
    c.on_outcome(fill(req.intents[0].client_order_id, Side.BUY, 450_000, 0, "p", POLY))
    c.on_outcome(fill(req.intents[1].client_order_id, Side.BUY, 500_000, 300_000, "k", KALSHI))
    loss = c.ledger.daily_loss()
    # A new process from the checkpoint: the day's locked-in value travels as realized.
    after = fresh_core(clock, daily_loss_limit=LIMIT)
    assert after.reconcile(c.checkpoint(), {}, {}, 0) == []
    assert after.ledger.daily_loss() == loss
    assert after.control.state is TradingState.ACTIVE
    # The same process: the journal's base, then the events since.
    journal = FundJournal()
    base = core(daily_loss_limit=LIMIT)
    base.wall_ms, base.day = clock, NOON // 86_400_000
    journal.mark(base, base.checkpoint())
    req2 = base.decide(opp(p1=450_000, p2=500_000))
    assert isinstance(req2, ExecutionRequest)
    journal.record(req2)
    for msg in (
        fill(req2.intents[0].client_order_id, Side.BUY, 450_000, 0, "p2", POLY),
        fill(req2.intents[1].client_order_id, Side.BUY, 500_000, 300_000, "k2", KALSHI),
    ):
        base.on_outcome(msg)
        journal.record(msg)
    rebuilt = fresh_core(clock, daily_loss_limit=LIMIT)
    assert journal.rebuild(rebuilt)
    assert rebuilt.ledger.daily_loss() == base.ledger.daily_loss() == -200_000
    assert rebuilt.ledger.conserved()


def test_the_locked_in_edge_survives_a_journal_rebuild() -> None:
    """A pair booked before the journal's base and one after: the rebuilt books report
    the run's locked-in edge, not only what the events since the base locked in."""
    c, req = hedged_pair()
    c.on_outcome(fill(req.intents[0].client_order_id, Side.BUY, 450_000, 0, "p", POLY))
    c.on_outcome(fill(req.intents[1].client_order_id, Side.BUY, 500_000, 300_000, "k", KALSHI))
    for it in req.intents:
        c.on_outcome(
            OrderFinal(
                client_order_id=it.client_order_id,
                state=OrderState.FILLED,
                filled_size=it.size,
                reason="",
                at_ns=0,
            )
        )
    journal = FundJournal()
    journal.mark(c, c.checkpoint())
    req2 = c.decide(opp(p1=450_000, p2=500_000))
    assert isinstance(req2, ExecutionRequest)
    journal.record(req2)
    for msg in (
        fill(req2.intents[0].client_order_id, Side.BUY, 450_000, 0, "p2", POLY),
        fill(req2.intents[1].client_order_id, Side.BUY, 500_000, 300_000, "k2", KALSHI),
    ):
        c.on_outcome(msg)
        journal.record(msg)
    before = c.ledger.outcome.totals()
    assert before.locked_edge > 0
    rebuilt = fresh_core(WallClock(NOON), daily_loss_limit=LIMIT)
    assert journal.rebuild(rebuilt)
    assert rebuilt.ledger.outcome.totals() == before
