"""Start-up reconciliation: the fund manager's books against what the venues report.

Pure: the fund manager calls it with its last checkpoint and the venues' account
snapshots, and keeps trading HALTED (fail closed) while the returned list of
disagreements is not empty; each says what disagreed, in units a person reads.
"""

from __future__ import annotations

from collections.abc import Mapping

from actors.trading.ledger import Ledger
from actors.trading.venue_clients import AccountSnapshot
from protocols.fixed import format_units
from protocols.messages import FundCheckpointRecord, Venue


def reconcile_books(
    checkpoint: FundCheckpointRecord | None,
    accounts: Mapping[Venue, AccountSnapshot],
    paper_balances: Mapping[Venue, int],
    tolerance: int,
    *,
    venues: tuple[Venue, ...],
    today: int,
) -> tuple[Ledger, list[str]]:
    """The books rebuilt from the checkpoint (or, without one, from the venues' balances,
    or the paper balances) and every disagreement with what the venues report (empty =
    agreed). A missing venue report is not "flat"."""
    problems: list[str] = []
    if checkpoint is None:
        if accounts:
            balances = {v: a.cash for v, a in accounts.items()}
            problems.extend(
                f"{v}: no account report from the venue" for v in venues if v not in accounts
            )
            ledger = Ledger.with_balances(balances)
            for snapshot in accounts.values():
                if snapshot.open_orders:
                    problems.append(
                        f"{snapshot.venue}: {len(snapshot.open_orders)} open orders unknown "
                        f"to us ({', '.join(snapshot.open_orders[:5])})"
                    )
                if snapshot.positions and any(snapshot.positions.values()):
                    problems.append(
                        f"{snapshot.venue}: positions without a checkpoint "
                        f"({_fmt_positions(snapshot.positions)})"
                    )
        else:
            ledger = Ledger.with_balances(dict(paper_balances))
        return ledger, problems
    ledger = Ledger.from_checkpoint(checkpoint, today=today)
    problems = compare_with_venues(
        ledger, set(checkpoint.open_orders), accounts, tolerance, venues=venues
    )
    return ledger, problems


def compare_with_venues(
    ledger: Ledger,
    known_orders: set[str],
    accounts: Mapping[Venue, AccountSnapshot],
    tolerance: int,
    *,
    venues: tuple[Venue, ...],
    source: str = "checkpoint",
) -> list[str]:
    """Every disagreement between ``ledger`` and the venues' reports: cash (free plus
    reserved: the venue's figure includes what our orders hold), positions, and resting
    orders not in ``known_orders``. A missing venue report is not "flat"."""
    problems: list[str] = []
    for venue in venues:
        account = accounts.get(venue)
        if account is None:
            if accounts:
                problems.append(f"{venue}: no account report from the venue")
            continue
        ours = ledger.cash.get(venue, 0) + ledger.reserved.get(venue, 0)
        unit = CASH_REPORTED_IN.get(venue, 1)
        if abs(ours - ours % unit - account.cash) > tolerance:  # at the venue's precision
            problems.append(
                f"{venue} cash: {source} {format_units(ours)} vs venue {format_units(account.cash)}"
            )
        mine = {i.key(): p.size for i, p in ledger.positions.items() if i.venue is venue and p.size}
        if venue is Venue.KALSHI:
            mine = net_kalshi_positions(mine)
        if account.positions is None:
            if mine:
                problems.append(
                    f"{venue} positions: {source} {_fmt_positions(mine)} but the venue "
                    "did not report positions (a missing report is not flat)"
                )
            continue
        theirs = {k: s for k, s in account.positions.items() if s}
        if mine != theirs:
            problems.append(
                f"{venue} positions: {source} {_fmt_positions(mine)} vs venue "
                f"{_fmt_positions(theirs)}"
            )
        unknown = sorted(set(account.open_orders) - known_orders)
        if unknown:
            problems.append(f"{venue}: open orders unknown to the {source} {unknown[:5]}")
    return problems


# A venue's cash report is rounded down to this unit (1e-6 USD): Kalshi reports cents.
CASH_REPORTED_IN: dict[Venue, int] = {Venue.KALSHI: 10_000}


def net_kalshi_positions(positions: Mapping[str, int]) -> dict[str, int]:
    """Kalshi reports one signed position per market (YES positive, NO negative); books
    that hold both sides of a ticker are compared as that net."""
    net: dict[str, int] = {}
    for key, size in positions.items():
        symbol, _, outcome = key.split(":", 1)[1].rpartition(":")
        net[symbol] = net.get(symbol, 0) + (size if outcome == "yes" else -size)
    return {
        f"{Venue.KALSHI}:{symbol}:{'yes' if size > 0 else 'no'}": abs(size)
        for symbol, size in net.items()
        if size
    }


def _fmt_positions(positions: Mapping[str, int]) -> str:
    if not positions:
        return "{flat}"
    return "{" + ", ".join(f"{k}={format_units(v)}" for k, v in sorted(positions.items())) + "}"
