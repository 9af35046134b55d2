"""Gather a run's :class:`~arbtree.chaos.history.History` once it has drained and stopped.

The database is read directly (not through the proxy: the checkers must see what is
durable, whatever the network faults did), the venue through the sim's control API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import trio

from arbtree.chaos.database import run_sql
from arbtree.chaos.history import (
    DbFill,
    DbOrder,
    History,
    StateChange,
    TreeEvent,
    VenueMarket,
    VenueOrder,
)
from arbtree.chaos.system import RunSystem, state_changes


async def venue_part(system: RunSystem) -> dict[str, Any]:
    r = await system.sim_action("/state")
    r.raise_for_status()
    state = r.json()
    orders = tuple(
        VenueOrder(
            venue=o["venue"],
            order_id=o["order_id"],
            client_order_id=o["client_order_id"],
            instrument=o["instrument"],
            market=o["market"],
            outcome=o["outcome"],
            side=o["side"],
            size=o["size"],
            filled=o["filled"],
            status=o["status"],
            fee_shares=o.get("fee_shares", 0),
            failed=o.get("failed", 0),
        )
        for o in state["orders"]
    )
    markets = tuple(
        VenueMarket(
            index=m["index"],
            poly_yes=m["polymarket"]["yes"],
            poly_no=m["polymarket"]["no"],
            kalshi_yes=m["kalshi"]["yes"],
            kalshi_no=m["kalshi"]["no"],
        )
        for m in state["markets"]
    )
    accounts = state["accounts"]
    return {
        "venue_orders": orders,
        "venue_markets": markets,
        "venue_cash": {v: a["cash"] for v, a in accounts.items()},
        "venue_positions": {v: a["positions"] for v, a in accounts.items()},
    }


def _db_part(uri: str, schema: str) -> dict[str, Any]:
    q = f'"{schema}"'
    orders = run_sql(
        uri,
        f"SELECT o.client_order_id, o.venue_order_id, o.instrument, o.size, o.filled_size, "
        f"o.state, (SELECT extract(epoch FROM min(e.at)) FROM {q}.order_events e "
        f"WHERE e.client_order_id = o.client_order_id) AS sent_at "
        f"FROM {q}.orders o",
    )
    fills = run_sql(
        uri,
        f"SELECT venue, fill_id, client_order_id, venue_order_id, size, status FROM {q}.fills",
    )
    events = run_sql(
        uri, f"SELECT kind, path, detail, extract(epoch FROM at) AS at FROM {q}.supervision_events"
    )
    return {
        "db_orders": tuple(
            DbOrder(
                client_order_id=r["client_order_id"],
                venue_order_id=r["venue_order_id"],
                instrument=r["instrument"],
                size=r["size"],
                filled_size=r["filled_size"],
                state=r["state"],
                sent_at=None if r["sent_at"] is None else float(r["sent_at"]),
            )
            for r in orders
        ),
        "db_fills": tuple(
            DbFill(
                venue=r["venue"],
                fill_id=r["fill_id"],
                client_order_id=r["client_order_id"],
                venue_order_id=r["venue_order_id"],
                size=r["size"],
                status=r["status"],
            )
            for r in fills
        ),
        "tree_events": tuple(
            TreeEvent(kind=r["kind"], path=r["path"], at=float(r["at"]), detail=r["detail"])
            for r in sorted(events, key=lambda r: r["at"])
        ),
    }


async def record_history(
    system: RunSystem, *, expect_exit: int = 0, escalation_expected: bool = False
) -> History:
    parts = await venue_part(system)
    parts.update(await trio.to_thread.run_sync(_db_part, system.postgres.uri, system.schema))
    summaries = []
    for n in range(1, system.incarnation + 1):
        path = system.summary_path(n)
        if path.exists():
            summaries.append(msgspec.json.decode(path.read_bytes()))
    log_text = system.bot_log().read_text(errors="replace") if system.bot_log().exists() else ""
    return History(
        **parts,
        state_changes=tuple(
            StateChange(at=at, to=to, by=by, why=why) for at, to, by, why in state_changes(log_text)
        ),
        summaries=tuple(summaries),
        exit_codes=tuple(system.exit_codes),
        killed=system.killed,
        expect_exit=expect_exit,
        escalation_expected=escalation_expected,
        mailbox_peaks=dict(system.mailbox_peaks),
        rss_kb=tuple(system.rss_kb),
    )


def save_history(path: Path, history: History) -> None:
    """The whole history as JSON beside the run's logs: the evidence behind a report."""
    path.write_bytes(msgspec.json.format(msgspec.json.encode(history)))
