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
    for venue in venues:
        account = accounts.get(venue)
        if account is None:
            if accounts:
                problems.append(f"{venue}: no account report from the venue")
            continue
        ours = ledger.cash.get(venue, 0)
        if abs(ours - account.cash) > tolerance:
            problems.append(
                f"{venue} cash: checkpoint {format_units(ours)} vs venue "
                f"{format_units(account.cash)}"
            )
        mine = {i.key(): p.size for i, p in ledger.positions.items() if i.venue is venue and p.size}
        if account.positions is None:
            if mine:
                problems.append(
                    f"{venue} positions: checkpoint {_fmt_positions(mine)} but the venue "
                    "did not report positions (a missing report is not flat)"
                )
            continue
        theirs = {k: s for k, s in account.positions.items() if s}
        if mine != theirs:
            problems.append(
                f"{venue} positions: checkpoint {_fmt_positions(mine)} vs venue "
                f"{_fmt_positions(theirs)}"
            )
        unknown = sorted(set(account.open_orders) - set(checkpoint.open_orders))
        if unknown:
            problems.append(f"{venue}: open orders unknown to the checkpoint {unknown[:5]}")
    return ledger, problems


def _fmt_positions(positions: Mapping[str, int]) -> str:
    if not positions:
        return "{flat}"
    return "{" + ", ".join(f"{k}={format_units(v)}" for k, v in sorted(positions.items())) + "}"
