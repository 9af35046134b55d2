"""The invariants, each a small function from a :class:`History` to its violations.

A checker names what it found (ids, sizes, times) in the violation's evidence, so a report
says which order or market broke which rule. The few that need something a run may not
have (one summary covering the whole run: none when the bot was SIGKILLed) check nothing
then; every checker has a test with a history that violates it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import attrs

from actors.shutdown_phases import PHASES
from arbtree.chaos.history import TERMINAL_STATES, History

UNWIND_PREFIX = "unw-"
WATCHDOG_DECISION = "watchdog "
SHUTDOWN_PHASES = tuple(p.name for p in PHASES)  # the order they must run in
HALT_GRACE_S = 0.05
RSS_LIMIT_KB = 1024 * 1024  # 1 GiB
RSS_GROWTH = 2.0  # an order sent this soon after a halt raced it, not ignored it


@attrs.frozen
class Violation:
    invariant: str
    message: str
    evidence: dict[str, Any] = attrs.field(factory=dict)


Checker = Callable[[History], list[Violation]]


def yes_equals_no(h: History) -> list[Violation]:
    """Per market, the venue holds as many YES shares as NO shares for us once every
    execution finished or unwound, give or take the shares Polymarket kept as buy fees
    (a venue rule the hedge cannot avoid; the sim counts them exactly per order)."""
    slack: dict[int, int] = defaultdict(int)
    for o in h.venue_orders:
        slack[o.market] += o.fee_shares
    return [
        Violation(
            "yes_equals_no",
            f"market {m.index}: {m.yes / 1e6:g} YES vs {m.no / 1e6:g} NO at the venue "
            f"(fees explain {slack[m.index] / 1e6:g})",
            {"market": m.index, "yes": m.yes, "no": m.no, "positions": attrs_of(m)},
        )
        for m in h.venue_markets
        if abs(m.yes - m.no) > slack[m.index]
    ]


def orders_terminal(h: History) -> list[Violation]:
    """Every order in the database ends filled, cancelled, rejected or expired."""
    stuck = [o for o in h.db_orders if o.state not in TERMINAL_STATES]
    if not stuck:
        return []
    return [
        Violation(
            "orders_terminal",
            f"{len(stuck)} orders not terminal in the database",
            {"orders": [(o.client_order_id, o.state) for o in stuck[:20]]},
        )
    ]


def fill_has_order(h: History) -> list[Violation]:
    """No fill booked in the database without its order row."""
    known = {o.client_order_id for o in h.db_orders}
    orphans = [f for f in h.db_fills if f.client_order_id not in known]
    if not orphans:
        return []
    return [
        Violation(
            "fill_has_order",
            f"{len(orphans)} fills without their order in the database",
            {"fills": [(f.venue, f.fill_id, f.client_order_id) for f in orphans[:20]]},
        )
    ]


def unique_client_order_ids(h: History) -> list[Violation]:
    """No client order id used twice at the venue (a resend that executed again)."""
    counts = Counter(o.client_order_id for o in h.venue_orders if o.client_order_id)
    dup = {coid: n for coid, n in counts.items() if n > 1}
    if not dup:
        return []
    return [
        Violation(
            "unique_client_order_ids",
            f"{len(dup)} client order ids used more than once at the venue",
            {"duplicates": dict(list(dup.items())[:20])},
        )
    ]


def _db_order_for(h: History) -> Callable[[str, str, str], str | None]:
    by_coid = {o.client_order_id for o in h.db_orders}
    by_venue_id = {o.venue_order_id: o.client_order_id for o in h.db_orders if o.venue_order_id}

    def find(venue: str, coid: str, order_id: str) -> str | None:
        if coid and coid in by_coid:
            return coid
        return by_venue_id.get(order_id)

    return find


def venue_orders_in_db(h: History) -> list[Violation]:
    """Every order the venue executed (settled anything) has its row in the database."""
    find = _db_order_for(h)
    missing = [
        o
        for o in h.venue_orders
        if o.settled > 0 and find(o.venue, o.client_order_id, o.order_id) is None
    ]
    if not missing:
        return []
    return [
        Violation(
            "venue_orders_in_db",
            f"{len(missing)} orders executed at the venue have no database row "
            f"(venue {sum(1 for o in h.venue_orders if o.settled)}, database {len(h.db_orders)})",
            {"orders": [(o.venue, o.order_id, o.client_order_id, o.settled) for o in missing[:20]]},
        )
    ]


def fills_persisted_once(h: History) -> list[Violation]:
    """Per venue order, the database's fills add up to exactly what the venue filled."""
    find = _db_order_for(h)
    booked: dict[str, int] = defaultdict(int)
    for f in h.db_fills:
        if f.status != "failed":
            booked[f.client_order_id] += f.size
    out = []
    for o in h.venue_orders:
        coid = find(o.venue, o.client_order_id, o.order_id)
        if coid is None:
            continue  # venue_orders_in_db reports it
        got = booked.get(coid, 0)
        if got != o.settled:
            what = "lost" if got < o.settled else "booked twice"
            out.append(
                Violation(
                    "fills_persisted_once",
                    f"{o.venue} order {o.order_id} ({coid}): venue filled {o.settled / 1e6:g}, "
                    f"database fills {got / 1e6:g} ({what})",
                    {
                        "venue": o.venue,
                        "order_id": o.order_id,
                        "coid": coid,
                        "venue_filled": o.settled,
                        "db": got,
                    },
                )
            )
    return out


def order_rows_match_fills(h: History) -> list[Violation]:
    """Each order row's ``filled_size`` equals the sum of its fill rows (database agrees
    with itself)."""
    sums: dict[str, int] = defaultdict(int)
    for f in h.db_fills:
        if f.status != "failed":
            sums[f.client_order_id] += f.size
    bad = [o for o in h.db_orders if o.filled_size != sums.get(o.client_order_id, 0)]
    if not bad:
        return []
    return [
        Violation(
            "order_rows_match_fills",
            f"{len(bad)} order rows disagree with their fills",
            {
                "orders": [
                    (o.client_order_id, o.filled_size, sums.get(o.client_order_id, 0))
                    for o in bad[:20]
                ]
            },
        )
    ]


def summary_matches_db(h: History) -> list[Violation]:
    """The run summary counts what the database holds (one uninterrupted bot process)."""
    if h.killed or len(h.summaries) != 1:
        return []
    summary = h.summaries[0]
    fills = summary.get("fills")
    live_fills = sum(1 for f in h.db_fills if f.status != "failed")
    if fills != live_fills:
        return [
            Violation(
                "summary_matches_db",
                f"summary says {fills} fills, the database holds {live_fills}",
                {"summary_fills": fills, "db_fills": live_fills},
            )
        ]
    return []


def no_negative_balance(h: History) -> list[Violation]:
    """The venue accounts never end below zero (cash or any position)."""
    out = []
    for venue, cash in h.venue_cash.items():
        if cash < 0:
            out.append(
                Violation("no_negative_balance", f"{venue} cash {cash / 1e6:g}", {"venue": venue})
            )
    for venue, positions in h.venue_positions.items():
        for instrument, size in positions.items():
            if size < 0:
                out.append(
                    Violation(
                        "no_negative_balance",
                        f"{venue} position {instrument} is {size / 1e6:g}",
                        {"venue": venue, "instrument": instrument, "size": size},
                    )
                )
    return out


def nothing_sent_while_halted(h: History) -> list[Violation]:
    """No opening order sent while trading was HALTED (unwinds and cancels may go)."""
    intervals: list[tuple[float, float]] = []
    start: float | None = None
    for change in sorted(h.state_changes, key=lambda c: c.at):
        if change.to == "halted" and start is None:
            start = change.at
        elif change.to != "halted" and start is not None:
            intervals.append((start, change.at))
            start = None
    if start is not None:
        intervals.append((start, float("inf")))
    out = []
    for o in h.db_orders:
        if o.sent_at is None or o.client_order_id.startswith(UNWIND_PREFIX):
            continue
        for lo, hi in intervals:
            if lo + HALT_GRACE_S < o.sent_at < hi:
                out.append(
                    Violation(
                        "nothing_sent_while_halted",
                        f"order {o.client_order_id} sent {o.sent_at - lo:.3f} s into a halt",
                        {"coid": o.client_order_id, "sent_at": o.sent_at, "halted_at": lo},
                    )
                )
    return out


def actors_recovered(h: History) -> list[Violation]:
    """Every actor that failed was started again (or its supervisor gave up, visibly)."""
    last_fail: dict[str, float] = {}
    last_start: dict[str, float] = {}
    gave_up = any(e.kind == "gave_up" for e in h.tree_events)
    for e in h.tree_events:
        if e.detail.startswith(WATCHDOG_DECISION):
            continue  # the watchdog's own verdicts (e.g. a stale feed), not an actor's exit
        if e.kind == "failed":
            last_fail[e.path] = e.at
        elif e.kind == "started":
            last_start[e.path] = e.at
    down = [p for p, at in last_fail.items() if last_start.get(p, -1.0) < at]
    if not down or gave_up:
        return []
    return [
        Violation(
            "actors_recovered",
            f"{len(down)} actors failed and never came back: {', '.join(sorted(down))}",
            {"paths": sorted(down)},
        )
    ]


def clean_exit(h: History) -> list[Violation]:
    """The last bot process exits as expected, having run its shutdown phases in order and
    each within its deadline."""
    out = []
    if not h.exit_codes or h.exit_codes[-1] != h.expect_exit:
        out.append(
            Violation(
                "clean_exit",
                f"the last bot process exited {h.exit_codes[-1] if h.exit_codes else 'never'}, "
                f"expected {h.expect_exit}",
                {"exit_codes": list(h.exit_codes)},
            )
        )
    if h.expect_exit == 0 and h.summaries:
        shutdown = h.summaries[-1].get("shutdown") or {}
        phases = shutdown.get("phases", []) if isinstance(shutdown, dict) else []
        names = tuple(p.get("phase") for p in phases)
        order = tuple(n for n in names if n in SHUTDOWN_PHASES)
        late = [p.get("phase") for p in phases if p.get("timed_out")]
        if order != tuple(n for n in SHUTDOWN_PHASES if n in names) or late or not names:
            out.append(
                Violation(
                    "clean_exit",
                    f"shutdown phases {list(names)}, timed out: {late}",
                    {"phases": list(names), "timed_out": late},
                )
            )
    return out


def stops_clean(h: History) -> list[Violation]:
    """Every bot process that was not SIGKILLed exited 0 (SIGTERM mid-run or mid-start-up
    included): a stop is a phased shutdown, never a crash."""
    bad = [(i, code) for i, code in enumerate(h.exit_codes) if code not in (0, -9)]
    if not bad:
        return []
    return [
        Violation(
            "stops_clean",
            f"{len(bad)} bot processes exited non-zero on a stop: {bad}",
            {"exit_codes": list(h.exit_codes)},
        )
    ]


def mailboxes_within_capacity(h: History) -> list[Violation]:
    """No mailbox ever held more than its capacity (sampled peaks)."""
    over = {name: pc for name, pc in h.mailbox_peaks.items() if pc[0] > pc[1]}
    if not over:
        return []
    return [
        Violation(
            "mailboxes_within_capacity",
            f"{len(over)} mailboxes above capacity: {sorted(over)}",
            {"peak_capacity": over},
        )
    ]


def rss_bounded(h: History) -> list[Violation]:
    """The bot's memory stays bounded: below RSS_LIMIT_KB, and the last sample within
    RSS_GROWTH of the first (no leak across faults and restarts)."""
    if not h.rss_kb:
        return []
    top, first, last = max(h.rss_kb), h.rss_kb[0], h.rss_kb[-1]
    if top <= RSS_LIMIT_KB and last <= first * RSS_GROWTH:
        return []
    return [
        Violation(
            "rss_bounded",
            f"RSS {first // 1024} MiB at the start, {last // 1024} at the end, peak {top // 1024}",
            {"first_kb": first, "last_kb": last, "peak_kb": top},
        )
    ]


def trading_resumed(h: History) -> list[Violation]:
    """After every fault healed, trading is ACTIVE again at the end (liveness). Where the
    schedule crashed actors beyond their supervisor's intensity on purpose, the watchdog's
    restart ladder escalating is the configured answer (latched until an operator resumes)."""
    if not h.summaries or h.expect_exit != 0:
        return []
    state = h.summaries[-1].get("trading_state")
    if state == "active":
        return []
    last = None  # the change that moved the ladder to where it stayed (not a re-assertion)
    current = "active"
    for change in sorted(h.state_changes, key=lambda c: c.at):
        if change.to != current and change.to in ("reducing", "halted"):
            last = change
        current = change.to
    if (
        h.escalation_expected
        and last is not None
        and last.by == "watchdog"
        and "restarts in" in last.why
    ):
        return []
    return [
        Violation(
            "trading_resumed",
            f"trading ended {state} after every fault was healed",
            {"trading_state": state, "last_escalation": last.why if last else None},
        )
    ]


def attrs_of(m: Any) -> dict[str, int]:
    return {
        "poly_yes": m.poly_yes,
        "poly_no": m.poly_no,
        "kalshi_yes": m.kalshi_yes,
        "kalshi_no": m.kalshi_no,
    }


CHECKERS: dict[str, Checker] = {
    "yes_equals_no": yes_equals_no,
    "orders_terminal": orders_terminal,
    "fill_has_order": fill_has_order,
    "unique_client_order_ids": unique_client_order_ids,
    "venue_orders_in_db": venue_orders_in_db,
    "fills_persisted_once": fills_persisted_once,
    "order_rows_match_fills": order_rows_match_fills,
    "summary_matches_db": summary_matches_db,
    "no_negative_balance": no_negative_balance,
    "nothing_sent_while_halted": nothing_sent_while_halted,
    "actors_recovered": actors_recovered,
    "clean_exit": clean_exit,
    "stops_clean": stops_clean,
    "trading_resumed": trading_resumed,
    "mailboxes_within_capacity": mailboxes_within_capacity,
    "rss_bounded": rss_bounded,
}


def check_all(h: History, names: tuple[str, ...] | None = None) -> list[Violation]:
    out: list[Violation] = []
    for name, checker in CHECKERS.items():
        if names is None or name in names:
            out.extend(checker(h))
    return out
