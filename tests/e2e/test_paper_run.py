"""End-to-end: the whole tree in paper mode against the embedded sim and a real Postgres.

One run (module-scoped: about 10 s) is shared by most assertions. During it the observer
samples the invariants every 50 ms, makes the first Kalshi order after reconciliation
ambiguous (the sim executes it and drops the response), and halts trading through the
trading handle at a fixed point; the sim's exchange is the ground truth afterwards.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio

from actors.sim import FaultKind
from actors.sim import Venue as SimVenue
from actors.trading.ledger import OrderPhase
from arbtree.runner import Assembly
from arbtree.summary import windows_from_sim
from protocols.fixed import parse_units
from protocols.messages import (
    FundCheckpointRecord,
    InstrumentId,
    Venue,
    VenueBalance,
)
from tests.e2e.harness import (
    Observation,
    e2e_config,
    executor,
    fair_mark,
    fund_manager,
    halt_now,
    ledger,
    open_orders,
    run_observed,
    sim_orders_for,
    sim_position_key,
    trading_ready,
    wait_until,
)
from tests.postgres import dsn_with_schema

pytestmark = pytest.mark.slow

SEED = 7
DURATION_S = 10.0
HALT_AFTER_S = 6.5  # after trading is ready; leaves ~2 s of halted market data
SLACK_MS = 100


def _sql(dsn: str, sql: str, *args: Any) -> list[Any]:
    import asyncpg

    async def go() -> list[Any]:
        conn: Any = await asyncpg.connect(dsn, timeout=10)
        try:
            rows: list[Any] = await conn.fetch(sql, *args)
            return rows
        finally:
            await conn.close()

    return asyncio.run(go())


@pytest.fixture(scope="module")
def module_dsn(pg_dsn: str) -> Iterator[str]:
    """A fresh schema for the module's shared run (``db_dsn`` is per test)."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    _sql(pg_dsn, f'CREATE SCHEMA "{schema}"')
    try:
        yield dsn_with_schema(pg_dsn, schema)
    finally:
        _sql(pg_dsn, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


async def _scenario(obs: Observation, asm: Assembly) -> None:
    await wait_until(lambda: trading_ready(asm), 20.0, "trading reconciled")
    assert asm.sim is not None
    ready = trio.current_time()
    # The first Kalshi request from now on is an order: executed, then no response.
    asm.sim.faults.inject(FaultKind.REST_DROP_RESPONSE, venue=SimVenue.KALSHI, count=1)
    obs.drop_injected_at_ms = asm.sim.now_ms()
    ex = executor(asm)
    assert ex is not None
    assert ex.runner is not None
    counters = ex.runner.counters
    with trio.move_on_at(ready + HALT_AFTER_S / 2):
        await wait_until(lambda: bool(counters.get("ambiguous_resolved")), HALT_AFTER_S, "")
    # Then one Kalshi leg is refused (429) while its partner fills: an unwind is needed.
    asm.sim.faults.inject(FaultKind.REST_429, venue=SimVenue.KALSHI, count=1)
    await trio.sleep_until(ready + HALT_AFTER_S)  # a scheduled step of the scenario
    halt_now(obs, asm, "e2e: halted mid-run")


@pytest.fixture(scope="module")
def paper_run(module_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Observation:
    run_dir = tmp_path_factory.mktemp("paper-run")
    config = e2e_config(dsn=module_dsn, run_dir=run_dir, seed=SEED, duration_s=DURATION_S)
    obs = run_observed(config, _scenario)
    assert obs.asm is not None
    assert obs.summary is not None
    return obs


def _asm(obs: Observation) -> Assembly:
    assert obs.asm is not None
    return obs.asm


def _trades(asm: Assembly) -> dict[str, list[tuple[str, InstrumentId, int]]]:
    """Opportunities whose every (non-unwind) leg filled: opp -> [(coid, instrument, sim
    created_ms)] from the sim's orders for those legs."""
    book = ledger(asm)
    legs: dict[str, list[tuple[str, InstrumentId, int]]] = {}
    complete: dict[str, bool] = {}
    for coid, order in book.orders.items():
        if coid.startswith("unw-"):
            continue
        sims = sim_orders_for(asm, coid, order.instrument.venue)
        created = min((o.created_ms for o in sims), default=-1)
        legs.setdefault(order.opportunity_id, []).append((coid, order.instrument, created))
        complete[order.opportunity_id] = complete.get(order.opportunity_id, True) and bool(
            order.filled
        )
    return {opp: legs[opp] for opp, ok in complete.items() if ok and len(legs[opp]) >= 2}


# ------------------------------------------------------------------ the run itself


def test_run_traded_and_scored(paper_run: Observation) -> None:
    summary = paper_run.summary
    assert summary is not None
    assert all(n > 0 for n in summary.messages_per_feed.values()), summary.messages_per_feed
    assert summary.windows is not None
    assert summary.windows.injected > 0
    assert summary.fills > 0, "nothing traded: every other assertion would be vacuous"
    assert summary.restarts_per_actor == {}
    assert summary.shutdown is not None
    assert not summary.shutdown.forced


def test_watchdog_watched_the_tree_and_saw_storage_up(paper_run: Observation) -> None:
    """The watchdog reached the running tree (it once waited forever for it) and, with
    Postgres up all run, never took storage for down nor escalated the ladder."""
    watchdog: dict[str, object] = _asm(paper_run).trading.control.stats_sources["watchdog"]()
    checks = watchdog["checks"]
    assert isinstance(checks, int)
    assert checks >= 2
    decisions = watchdog["decisions"]
    assert isinstance(decisions, dict)
    assert not [kind for kind in decisions if kind.startswith("escalate")], decisions


# --------------------------------------------------------- PnL against ground truth


@pytest.mark.parametrize(
    "venue",
    [
        Venue.POLYMARKET,
        Venue.KALSHI,
    ],
)
def test_cash_per_venue_matches_sim(paper_run: Observation, venue: Venue) -> None:
    """Free + reserved cash in the ledger equals the sim account's cash within rounding."""
    asm = _asm(paper_run)
    assert asm.sim is not None
    book = ledger(asm)
    ex = asm.sim.exchange
    filled = [o for o in ex.orders.values() if o.venue == venue.value and o.filled]
    assert filled, f"nothing filled on {venue}"
    theirs = ex.poly.cash if venue is Venue.POLYMARKET else ex.kalshi.cash
    ours = book.cash.get(venue, 0) + book.reserved.get(venue, 0)
    tolerance = rounding_tolerance(asm, venue)
    assert abs(ours - theirs) <= tolerance, f"{venue}: ledger {ours} vs sim {theirs}"


def rounding_tolerance(asm: Assembly, venue: Venue | None = None) -> int:
    """What exact accounting may still differ by, per filled order at the sim: the
    average price is floored to 1e-6 USD, so its notional may be off by 1e-6 per whole
    share (+1 for the notional's own rounding); Kalshi fees round to the cent."""
    assert asm.sim is not None
    total = 0
    for o in asm.sim.exchange.orders.values():
        if o.filled and (venue is None or o.venue == venue.value):
            total += o.filled // 10**6 + 1 + (10_000 if o.venue == "kalshi" else 0)
    return total


def test_share_balances_match_sim(paper_run: Observation) -> None:
    asm = _asm(paper_run)
    assert asm.sim is not None
    book = ledger(asm)
    ex = asm.sim.exchange
    ours: dict[tuple[Venue, str], int] = {}
    for inst, pos in book.positions.items():
        if pos.size:
            ours[(inst.venue, sim_position_key(inst))] = pos.size
    theirs: dict[tuple[Venue, str], int] = {}
    for venue, acct in ((Venue.POLYMARKET, ex.poly), (Venue.KALSHI, ex.kalshi)):
        for key, size in acct.positions.items():
            if size:
                theirs[(venue, key)] = size
    assert ours == theirs


def test_pnl_matches_sim_within_fees_and_slippage(paper_run: Observation) -> None:
    """Realized PnL - fees + open positions at the sim's fair price (ledger) equals the
    change of the sim accounts' cash + their positions at the same price."""
    asm = _asm(paper_run)
    assert asm.sim is not None
    book = ledger(asm)
    ex = asm.sim.exchange
    start = asm.sim.config.starting_cash
    marks: dict[tuple[Venue, str], int] = {}
    ours = book.realized_pnl - book.fees_paid
    for inst, pos in book.positions.items():
        mark = fair_mark(asm, inst)
        marks[(inst.venue, sim_position_key(inst))] = mark
        ours += pos.size * mark // 10**6 - pos.cost
    theirs = ex.poly.cash + ex.kalshi.cash - 2 * start
    for venue, acct in ((Venue.POLYMARKET, ex.poly), (Venue.KALSHI, ex.kalshi)):
        for key, size in acct.positions.items():
            theirs += size * marks.get((venue, key), 0) // 10**6
    # Fees charged in shares on Polymarket are "within fees": bound them by the fees the
    # sim charged in total, plus the rounding of exact accounting.
    sim_fees = sum(o.taker_fees for o in ex.orders.values())
    tolerance = sim_fees + rounding_tolerance(asm)
    assert abs(ours - theirs) <= tolerance, f"ledger PnL {ours} vs sim {theirs}"


# ---------------------------------------------------------------- windows and trades


def test_executions_sharing_an_instrument_never_overlap(paper_run: Observation) -> None:
    """A window may be traded more than once (``trades_per_episode``), and two strategies
    may see one window, but an execution starts on an instrument only once the previous
    one's orders there are done (``leg_in_flight``): a leg never meets liquidity another
    execution already took."""
    asm = _asm(paper_run)
    assert asm.sim is not None
    book = ledger(asm)
    spans: dict[str, list[tuple[int, int]]] = {}  # instrument key -> (first sent, last done)
    per_opp: dict[str, list[tuple[InstrumentId, int, int]]] = {}
    for coid, order in book.orders.items():
        for s in sim_orders_for(asm, coid, order.instrument.venue):
            per_opp.setdefault(order.opportunity_id, []).append(
                (order.instrument, s.created_ms, s.updated_ms or s.created_ms)
            )
    for legs in per_opp.values():
        lo = min(c for _, c, _ in legs)
        hi = max(u for _, _, u in legs)
        for inst in {i for i, _, _ in legs}:
            spans.setdefault(inst.key(), []).append((lo, hi))
    assert len(per_opp) >= 2, "fewer than two executions: vacuous"
    for key, intervals in spans.items():
        intervals.sort()
        for (_, end), (start, _) in itertools.pairwise(intervals):
            assert start >= end, f"{key}: an execution started at {start} before {end}"
    windows = windows_from_sim(asm.sim.windows)
    traded = _trades(asm)
    repeated = [
        w.id
        for w in windows
        if sum(
            1
            for legs in traded.values()
            if {i.symbol for _, i, _ in legs} & w.instruments
            and w.start_ms - SLACK_MS <= min(c for _, _, c in legs) <= w.end_ms + SLACK_MS
        )
        > 1
    ]
    assert repeated, "no window was traded twice: trades_per_episode not exercised"


# ------------------------------------------------------------------------ invariants


def test_invariants_held_throughout(paper_run: Observation) -> None:
    """Sampled every 50 ms: conservation, exposure limits, naked legs, duplicate ids."""
    assert paper_run.samples >= DURATION_S / 0.05 / 4, paper_run.samples
    assert paper_run.violations == []
    asm = _asm(paper_run)
    fm = fund_manager(asm)
    assert fm is not None
    stats = fm.statistics()
    assert stats["conserved"] is True
    assert paper_run.max_exposure_total > 0, "exposure never moved: nothing was checked"


def test_no_naked_leg_beyond_max_leg_delay(paper_run: Observation) -> None:
    asm = _asm(paper_run)
    ex = executor(asm)
    assert ex is not None
    assert ex.runner is not None
    assert ex.runner.counters.get("rate_limited", 0) >= 1, "the 429 never hit a leg"
    assert paper_run.naked == []
    fm = fund_manager(asm)
    assert fm is not None
    outcomes: dict[str, int] = fm.statistics()["outcomes"]
    assert outcomes.get("execution:naked", 0) == 0, outcomes


def test_no_duplicate_orders_and_the_ledger_agrees(paper_run: Observation) -> None:
    """Every ledger order reached the sim at most once, the sim holds no order the ledger
    does not know, and filled sizes agree."""
    asm = _asm(paper_run)
    assert asm.sim is not None
    book = ledger(asm)
    matched: set[int] = set()
    for coid, order in book.orders.items():
        sims = sim_orders_for(asm, coid, order.instrument.venue)
        assert len(sims) <= 1, f"{coid}: {len(sims)} orders at the sim"
        for s in sims:
            matched.add(id(s))
            assert s.filled == order.filled, f"{coid}: ledger {order.filled} vs sim {s.filled}"
    strangers = [o.order_id for o in asm.sim.exchange.orders.values() if id(o) not in matched]
    assert strangers == [], "orders at the sim that the ledger does not know"
    assert open_orders(book) == []


# ------------------------------------------------------------------------ ambiguity


def test_dropped_response_resolved_without_duplicate(
    paper_run: Observation, module_dsn: str
) -> None:
    asm = _asm(paper_run)
    assert asm.sim is not None
    assert asm.sim.faults.rest == [], "the injected drop was never consumed by an order"
    ex = executor(asm)
    assert ex is not None
    assert ex.runner is not None
    counters = ex.runner.counters
    assert counters.get("ambiguous", 0) >= 1, counters
    assert counters.get("ambiguous_resolved", 0) + counters.get("ambiguous_not_found", 0) >= 1
    rows = _sql(
        module_dsn, "SELECT DISTINCT client_order_id FROM order_events WHERE state = 'ambiguous'"
    )
    coids = {r["client_order_id"] for r in rows}
    assert coids, "no ambiguous order was persisted"
    book = ledger(asm)
    for coid in coids:
        order = book.orders[coid]
        assert order.phase is OrderPhase.DONE, f"{coid} still {order.phase}"
        sims = sim_orders_for(asm, coid, order.instrument.venue)
        assert len(sims) == 1, f"{coid}: {len(sims)} orders at the sim"
        assert sims[0].filled == order.filled


def test_persisted_orders_agree_with_the_ledger(paper_run: Observation, module_dsn: str) -> None:
    book = ledger(_asm(paper_run))
    rows = _sql(module_dsn, "SELECT client_order_id, state, filled_size FROM orders")
    persisted = {r["client_order_id"]: (r["state"], r["filled_size"]) for r in rows}
    ours = {c: (str(o.state), o.filled) for c, o in book.orders.items()}
    assert persisted == ours


# --------------------------------------------------------------------------- HALTED


def test_the_trees_last_events_are_stored(paper_run: Observation, module_dsn: str) -> None:
    """The tree reports most of its shutdown after flush-storage (every actor's ``stopped``,
    the DB writer's own): the runner writes those once the tree has stopped."""
    rows = _sql(module_dsn, "SELECT path FROM supervision_events WHERE kind = 'stopped'")
    stopped = {row["path"] for row in rows}
    last = {
        "arbtree/trading/executor",
        "arbtree/storage/db_writer",
        "arbtree/storage",
        "arbtree/control",
    }
    assert last <= stopped
    assert paper_run.summary is not None
    assert paper_run.summary.storage["backlog"] == 0


def test_halt_stops_new_orders_at_once(paper_run: Observation) -> None:
    asm = _asm(paper_run)
    assert asm.sim is not None
    assert paper_run.halt_ms is not None
    summary = paper_run.summary
    assert summary is not None
    assert summary.trading_state == "halted"
    assert len(asm.detections) > paper_run.detections_at_halt, (
        "no opportunity after the halt: the halt was not exercised"
    )
    book = ledger(asm)
    late: list[str] = []
    for coid, order in book.orders.items():
        if coid.startswith("unw-"):
            continue  # risk-reducing unwinds are allowed under HALTED
        late.extend(
            f"{coid} at +{s.created_ms - paper_run.halt_ms} ms"
            for s in sim_orders_for(asm, coid, order.instrument.venue)
            if s.created_ms > paper_run.halt_ms
        )
    assert late == [], f"orders reached the sim after the halt: {late}"
    fm = fund_manager(asm)
    assert fm is not None
    assert fm.core is not None
    assert fm.core.rejects["trading_halted"] + sum(v for k, v in ex_refusals(asm).items()) > 0, (
        "nothing was refused after the halt"
    )


def ex_refusals(asm: Assembly) -> dict[str, int]:
    ex = executor(asm)
    assert ex is not None
    return {k: v for k, v in ex.executions.items() if k.startswith("refused")}


# ------------------------------------------------------------------- reconciliation


def test_reconciliation_mismatch_keeps_trading_halted(db_dsn: str, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    checkpoint = tmp_path / "checkpoint.json"
    record = FundCheckpointRecord(
        balances=(
            VenueBalance(venue=Venue.KALSHI, cash=parse_units("9000"), reserved=0),
            VenueBalance(venue=Venue.POLYMARKET, cash=parse_units("10000"), reserved=0),
        ),
        positions=(),
        open_orders=(),
        taken_ns=0,
        wall_ms=0,
    )
    checkpoint.write_bytes(msgspec.json.encode(record))
    config = e2e_config(
        dsn=db_dsn, run_dir=run_dir, seed=SEED + 1, duration_s=4.0, checkpoint_file=str(checkpoint)
    )
    obs = run_observed(config)
    asm = _asm(obs)
    assert asm.sim is not None
    assert obs.summary is not None
    assert obs.summary.trading_state == "halted"
    fm = fund_manager(asm)
    assert fm is not None
    assert fm.core is not None
    problems = " ".join(fm.last_reconcile_problems)
    assert "kalshi cash" in problems, problems
    assert "9000" in problems, problems
    assert "10000" in problems, problems
    assert "reconciliation" in asm.trading.control.ladder.holds
    assert "kalshi cash" in asm.trading.control.ladder.holds["reconciliation"]
    assert asm.detections, "no opportunity was detected: the refusal was not exercised"
    assert fm.core.rejects["not_reconciled"] > 0
    assert asm.sim.exchange.orders == {}, "an order reached the sim despite the mismatch"
    assert checkpoint.read_bytes() == msgspec.json.encode(record), "checkpoint overwritten"


# ------------------------------------------------------- locked-in edge vs the sim


def _sim_outcomes(asm: Assembly) -> dict[str, tuple[int, int, int, int]]:
    """Per opportunity, from the sim's own orders (what it matched, charged and kept as
    fee shares): (hedged pairs, locked edge, realized by unwinds, unwind orders filled).
    Only which opportunity an order belongs to comes from the ledger."""
    book = ledger(asm)
    # opp -> instrument -> [bought, bought cost, sold, sold proceeds]
    legs: dict[str, dict[InstrumentId, list[int]]] = {}
    unwinds: dict[str, int] = {}
    for coid, order in book.orders.items():
        for s in sim_orders_for(asm, coid, order.instrument.venue):
            if not s.filled:
                continue
            leg = legs.setdefault(order.opportunity_id, {}).setdefault(order.instrument, [0] * 4)
            cash_fee = s.taker_fees if s.venue == "kalshi" else 0
            if s.buy:
                leg[0] += s.filled - s.fee_shares
                leg[1] += s.taker_cost + cash_fee
            else:
                leg[2] += s.filled
                leg[3] += s.taker_cost - s.taker_fees
            if coid.startswith("unw-"):
                unwinds[order.opportunity_id] = unwinds.get(order.opportunity_id, 0) + 1
    out: dict[str, tuple[int, int, int, int]] = {}
    for opp, per in legs.items():
        held: dict[InstrumentId, tuple[int, int]] = {}  # shares, their cost
        realized = 0
        for inst, (bought, cost, sold, proceeds) in per.items():
            sold_cost = cost * sold // bought if sold else 0  # average cost
            realized += proceeds - sold_cost if sold else 0
            held[inst] = (bought - sold, cost - sold_cost)
        hedged = min(n for n, _ in held.values()) if len(held) >= 2 else 0
        hedged_cost = sum(c * hedged // n for n, c in held.values() if n)
        out[opp] = (hedged, hedged - hedged_cost, realized, unwinds.get(opp, 0))
    return out


def test_locked_edge_is_hedged_payout_minus_costs_and_fees_at_the_sim(
    paper_run: Observation,
) -> None:
    """To the micro-dollar: per opportunity and in total, the locked-in edge the books
    report equals $1 x the pairs both legs hold minus what the sim charged for them."""
    asm = _asm(paper_run)
    expected = _sim_outcomes(asm)
    assert any(h > 0 for h, _, _, _ in expected.values()), "no hedged pair: vacuous"
    outcome = ledger(asm).outcome
    ours = {
        o.opportunity_id: (o.hedged, o.locked_edge, o.realized, o.unwinds)
        for o in outcome.outcomes()
    }
    assert ours == expected
    summary = paper_run.summary
    assert summary is not None
    assert summary.edge is not None
    locked = sum(e for _, e, _, _ in expected.values())
    assert parse_units(summary.edge.locked_edge_usd) == locked
    assert parse_units(summary.edge.hedged_pairs) == sum(h for h, _, _, _ in expected.values())
    assert parse_units(summary.edge.unwind_realized_usd) == sum(
        r for _, _, r, _ in expected.values()
    )
    assert summary.edge.unwinds == sum(u for _, _, _, u in expected.values())
    assert summary.edge.unwinds >= 1, "the 429 leg was never unwound: vacuous"


def test_locked_edge_is_in_the_database_and_on_metrics(
    paper_run: Observation, module_dsn: str
) -> None:
    summary = paper_run.summary
    assert summary is not None
    assert summary.edge is not None
    rows = _sql(module_dsn, "SELECT * FROM trading_outcome_latest")
    assert len(rows) == 1
    row = rows[0]
    assert row["final"] is True
    assert row["locked_edge_usd"] == Decimal(summary.edge.locked_edge_usd)
    assert row["hedged_pairs"] == Decimal(summary.edge.hedged_pairs)
    assert row["unwinds"] == summary.edge.unwinds
    assert row["unwind_realized_usd"] == Decimal(summary.edge.unwind_realized_usd)
    exposition = _asm(paper_run).metrics.exposition().decode()
    locked = float(summary.edge.locked_edge_usd)
    assert f"arbtree_locked_edge_usd {locked!r}" in exposition
    assert f"arbtree_unwinds {float(summary.edge.unwinds)!r}" in exposition
    tree = _asm(paper_run).tree
    assert tree is not None
    header = tree.snapshot().extra["edge"]  # the inspector header's own line
    assert header.startswith("locked $"), header
    assert f"unwinds {summary.edge.unwinds} " in header


def test_capture_is_scored_on_what_was_traded(paper_run: Observation) -> None:
    """The summary sets the edge locked on the windows against what the limits left
    available, and says why the weakest windows fell short."""
    summary = paper_run.summary
    assert summary is not None
    assert summary.windows is not None
    assert summary.edge is not None
    capture = summary.windows.capture
    assert capture is not None
    available = parse_units(capture.available_edge_usd)
    locked = parse_units(capture.locked_edge_usd)
    assert available > 0
    assert 0 < locked <= parse_units(summary.edge.locked_edge_usd)
    assert capture.ratio == locked / available
    assert capture.lowest, "no window was scored"
    ratios = [c.ratio for c in capture.lowest]
    assert ratios == sorted(ratios)  # type: ignore[type-var]
    for c in capture.lowest:
        assert c.why or (c.ratio is not None and c.ratio >= 1.0), c
    # The halt leaves the last windows untraded: they must be among the explained ones.
    assert any(
        "rejected trading_halted" in c.why or c.why == "not detected" for c in capture.lowest
    )
