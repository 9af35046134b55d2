"""Run the real assembled tree (``arbtree.runner.run_app``) in-process and observe it.

The observer runs beside the tree (``run_app(observe=...)``) and samples the trading
invariants every ``SAMPLE_S`` from the statistics and books the actors keep; scheduled
scenario steps (inject a fault, halt) are actions at chosen points of the run, never
sleeps that wait for something to settle.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import attrs
import msgspec
import trio

from actors.sim.matching import Order as SimOrder
from actors.trading.executor import Executor
from actors.trading.fund_manager import FundManager
from actors.trading.ledger import Ledger, OrderPhase
from arbtree.config import AppConfig, load_app_config
from arbtree.runner import Assembly, RunOptions, run_app
from arbtree.summary import RunSummary
from protocols.fixed import PRICE_ONE, parse_units
from protocols.messages import InstrumentId, Outcome, Side, Venue

SAMPLE_S = 0.05
NAKED_TOLERANCE_S = 0.25  # scheduling slack on 2 shared cores beyond max_leg_delay


def e2e_config(
    *,
    dsn: str,
    run_dir: Path,
    seed: int,
    duration_s: float,
    checkpoint_file: str = "",
) -> AppConfig:
    """The built-in paper setup with frequent, short windows and a given database."""
    base = load_app_config(None)
    replace = msgspec.structs.replace
    run_dir.mkdir(parents=True, exist_ok=True)
    trading = base.trading
    if checkpoint_file:
        trading = replace(trading, fund=replace(trading.fund, checkpoint_file=checkpoint_file))
    return replace(
        base,
        run=replace(
            base.run,
            seed=seed,
            duration_s=duration_s,
            run_dir=str(run_dir.absolute()),
            status_interval_s=duration_s,  # one status line, not a stream of them
            shutdown_deadline_s=10.0,
        ),
        sim=replace(base.sim, window_rate=1.0, window_duration_s=1.0),
        storage=replace(base.storage, dsn=dsn),
        trading=trading,
    )


def fund_manager(asm: Assembly) -> FundManager | None:
    """The running fund-manager incarnation (it publishes its statistics() on the handle)."""
    source = asm.trading.control.stats_sources.get("fund_manager")
    owner = getattr(source, "__self__", None)
    return owner if isinstance(owner, FundManager) else None


def executor(asm: Assembly) -> Executor | None:
    source = asm.trading.control.stats_sources.get("executor")
    owner = getattr(source, "__self__", None)
    return owner if isinstance(owner, Executor) else None


def ledger(asm: Assembly) -> Ledger:
    fm = fund_manager(asm)
    assert fm is not None, "the fund manager never started"
    assert fm.core is not None, "the fund manager never started"
    return fm.core.ledger


def sim_orders_for(asm: Assembly, coid: str, venue: Venue) -> list[SimOrder]:
    """The sim's orders for one client order id: Kalshi by its client_order_id field,
    Polymarket (no client id on the wire) by the venue order id (the signed order's hash)
    the fund manager's books got from the order's ack."""
    assert asm.sim is not None
    exchange = asm.sim.exchange
    if venue is Venue.KALSHI:
        return exchange.kalshi_by_client(coid)
    tracked = ledger(asm).orders.get(coid)
    if tracked is None or not tracked.venue_order_id:
        return []
    order = exchange.orders.get(tracked.venue_order_id)
    return [order] if order is not None else []


def sim_position_key(inst: InstrumentId) -> str:
    if inst.venue is Venue.KALSHI:
        return f"{inst.symbol}:{inst.outcome or Outcome.YES}"
    return inst.symbol


def fair_mark(asm: Assembly, inst: InstrumentId) -> int:
    """The sim's hidden fair price of an instrument at the end of the run (1e-6 USD)."""
    assert asm.sim is not None
    for m in asm.sim.markets:
        if inst.symbol in (m.yes_token, m.ticker):
            yes = inst.venue is Venue.POLYMARKET or inst.outcome is not Outcome.NO
            return m.fair if yes else PRICE_ONE - m.fair
        if inst.symbol == m.no_token:
            return PRICE_ONE - m.fair
    raise KeyError(inst.key())


def imbalances(book: Ledger) -> dict[str, int]:
    """Per opportunity: how far its legs' net fills (unwinds included) are apart, beyond
    the shares a venue took as its fee (Polymarket buys: the fee is paid in shares, so an
    unwind that sells what is really held leaves that many shares "unsold" in fill terms).
    """
    net: dict[str, dict[InstrumentId, int]] = {}
    legs: dict[str, set[InstrumentId]] = {}
    allowance: dict[str, int] = {}
    for coid, order in book.orders.items():
        opp = order.opportunity_id
        signed = order.filled if order.side is Side.BUY else -order.filled
        per = net.setdefault(opp, {})
        per[order.instrument] = per.get(order.instrument, 0) + signed
        if not coid.startswith("unw-"):
            legs.setdefault(opp, set()).add(order.instrument)
        if order.instrument.venue is Venue.POLYMARKET and order.side is Side.BUY and order.fees:
            # fee shares = fee / fill price; the fill price is at most 0.1 below the limit
            price = max(10_000, order.limit_price - 100_000)
            allowance[opp] = allowance.get(opp, 0) + -(-order.fees * PRICE_ONE // price)
    out: dict[str, int] = {}
    for opp, instruments in legs.items():
        sizes = [net[opp].get(i, 0) for i in instruments]
        if len(sizes) >= 2 and max(sizes) - min(sizes) > allowance.get(opp, 0):
            out[opp] = max(sizes) - min(sizes)
    return out


@attrs.define
class Observation:
    """What the observer saw; ``asm`` stays readable after the run (sim, ledger, books)."""

    asm: Assembly | None = None
    summary: RunSummary | None = None
    wall_s: float = 0.0
    samples: int = 0
    violations: list[str] = attrs.field(factory=list)
    naked: list[str] = attrs.field(factory=list)
    max_exposure_total: int = 0
    naked_seen: dict[str, float] = attrs.field(factory=dict)
    drop_injected_at_ms: int | None = None
    halt_ms: int | None = None
    halt_coids: frozenset[str] = frozenset()
    detections_at_halt: int = 0

    def violate(self, message: str) -> None:
        if message not in self.violations:
            self.violations.append(message)


async def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll a condition every few ms, failing after ``timeout_s``."""
    with trio.fail_after(timeout_s):
        while not predicate():  # noqa: ASYNC110 - state owned by other actors, no event
            await trio.sleep(0.01)
    del what


def trading_ready(asm: Assembly) -> bool:
    return (
        fund_manager(asm) is not None
        and executor(asm) is not None
        and "reconciliation" not in asm.trading.control.ladder.holds
    )


def sample(obs: Observation, asm: Assembly, now: float) -> None:
    """One invariant check against the live books (I1, I2, I5, I7 of the research notes)."""
    fm = fund_manager(asm)
    if fm is None or fm.core is None:
        return
    obs.samples += 1
    stats = fm.statistics()
    if not stats.get("conserved", True):
        obs.violate(f"cash not conserved at t={now:.3f}: {stats}")
    book = fm.core.ledger
    if not book.index_consistent():
        obs.violate(f"exposure index disagrees with the books at t={now:.3f}: {book.exposure}")
    limits = asm.config.trading.fund.limits
    per_instrument = parse_units(limits.max_exposure_per_instrument)
    per_venue = parse_units(limits.max_exposure_per_venue)
    total_limit = parse_units(limits.max_exposure_total)
    exposures = book.exposures()
    total = sum(exposures.values())
    obs.max_exposure_total = max(obs.max_exposure_total, total)
    if total > total_limit:
        obs.violate(f"total exposure {total} > limit {total_limit}")
    venues: Counter[Venue] = Counter()
    for inst, amount in exposures.items():
        venues[inst.venue] += amount
        if amount > per_instrument:
            obs.violate(f"{inst.key()} exposure {amount} > limit {per_instrument}")
    for venue, amount in venues.items():
        if amount > per_venue:
            obs.violate(f"{venue} exposure {amount} > limit {per_venue}")
    naked = imbalances(book)
    delay = asm.config.trading.executor.max_leg_delay_s + NAKED_TOLERANCE_S
    for opp in naked:
        first = obs.naked_seen.setdefault(opp, now)
        if now - first > delay:
            message = f"opportunity {opp} naked for more than {delay:g} s: {naked[opp]}"
            if message not in obs.naked:
                obs.naked.append(message)
    for opp in list(obs.naked_seen):
        if opp not in naked:
            del obs.naked_seen[opp]
    if asm.sim is not None:
        seen = Counter(o.client_order_id for o in asm.sim.exchange.orders.values())
        dupes = {c: n for c, n in seen.items() if c and n > 1}
        if dupes:
            obs.violate(f"the sim received duplicate client order ids: {dupes}")


Scenario = Callable[[Observation, Assembly], Awaitable[None]]


async def sampler(obs: Observation, asm: Assembly) -> None:
    while True:
        sample(obs, asm, trio.current_time())
        await trio.sleep(SAMPLE_S)


def run_observed(config: AppConfig, scenario: Scenario | None = None) -> Observation:
    """``run_app`` under ``trio.run`` with the sampler and an optional scenario task."""
    obs = Observation()

    async def observe(asm: Assembly) -> None:
        obs.asm = asm
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sampler, obs, asm)
            if scenario is not None:
                nursery.start_soon(scenario, obs, asm)

    async def main() -> None:
        started = trio.current_time()
        obs.summary = await run_app(config, RunOptions(), "e2e", observe=observe)
        obs.wall_s = trio.current_time() - started
        if obs.asm is not None:  # one last look at the final books
            sample(obs, obs.asm, trio.current_time())

    trio.run(main)
    return obs


def halt_now(obs: Observation, asm: Assembly, reason: str) -> None:
    """Halt through the trading handle, noting the sim's clock and what was already in."""
    assert asm.sim is not None
    obs.halt_ms = asm.sim.now_ms()
    obs.halt_coids = frozenset(ledger(asm).orders)
    obs.detections_at_halt = len(asm.detections)
    asm.trading.halt(reason)


def open_orders(book: Ledger) -> list[str]:
    return [c for c, o in book.orders.items() if o.phase is not OrderPhase.DONE]
