"""Every invariant checker passes a consistent history and names the violation in a broken one."""

from __future__ import annotations

import msgspec
import pytest

from arbtree.chaos import checkers
from arbtree.chaos.history import (
    DbFill,
    DbOrder,
    History,
    StateChange,
    TreeEvent,
    VenueMarket,
    VenueOrder,
)

S = 1_000_000  # one share
PHASES = [{"phase": p, "timed_out": False} for p in checkers.SHUTDOWN_PHASES]


def good() -> History:
    """Two hedged legs of one execution, booked once each, a clean end."""
    return History(
        venue_orders=(
            VenueOrder(
                venue="kalshi",
                order_id="k1",
                client_order_id="leg-1",
                instrument="KX",
                market=0,
                outcome="no",
                side="buy",
                size=10 * S,
                filled=10 * S,
                status="matched",
            ),
            VenueOrder(
                venue="polymarket",
                order_id="0xp1",
                client_order_id="",
                instrument="tok-yes",
                market=0,
                outcome="yes",
                side="buy",
                size=10 * S,
                filled=10 * S,
                status="matched",
            ),
        ),
        venue_markets=(
            VenueMarket(index=0, poly_yes=10 * S, poly_no=0, kalshi_yes=0, kalshi_no=10 * S),
        ),
        venue_cash={"kalshi": 9_000 * S, "polymarket": 9_000 * S},
        venue_positions={"kalshi": {"KX:no": 10 * S}, "polymarket": {"tok-yes": 10 * S}},
        db_orders=(
            DbOrder(
                client_order_id="leg-1",
                venue_order_id="k1",
                instrument="kalshi:KX:no",
                size=10 * S,
                filled_size=10 * S,
                state="filled",
                sent_at=100.0,
            ),
            DbOrder(
                client_order_id="leg-0",
                venue_order_id="0xp1",
                instrument="polymarket:tok-yes",
                size=10 * S,
                filled_size=10 * S,
                state="filled",
                sent_at=100.0,
            ),
        ),
        db_fills=(
            DbFill(
                venue="kalshi",
                fill_id="t1",
                client_order_id="leg-1",
                venue_order_id="k1",
                size=10 * S,
                status="matched",
            ),
            DbFill(
                venue="polymarket",
                fill_id="t2",
                client_order_id="leg-0",
                venue_order_id="0xp1",
                size=4 * S,
                status="confirmed",
            ),
            DbFill(
                venue="polymarket",
                fill_id="t3",
                client_order_id="leg-0",
                venue_order_id="0xp1",
                size=6 * S,
                status="confirmed",
            ),
        ),
        tree_events=(
            TreeEvent(kind="started", path="arbtree/trading/executor", at=1.0),
            TreeEvent(kind="failed", path="arbtree/trading/executor", at=50.0),
            TreeEvent(kind="started", path="arbtree/trading/executor", at=50.5),
        ),
        state_changes=(
            StateChange(at=10.0, to="halted"),
            StateChange(at=11.0, to="active"),
        ),
        summaries=({"fills": 3, "trading_state": "active", "shutdown": {"phases": PHASES}},),
        exit_codes=(0,),
    )


def names(h: History) -> set[str]:
    return {v.invariant for v in checkers.check_all(h)}


def test_a_consistent_history_passes_every_checker() -> None:
    assert checkers.check_all(good()) == []


def evolve(h: History, **changes: object) -> History:
    return msgspec.structs.replace(h, **changes)


def test_yes_equals_no() -> None:
    naked = (VenueMarket(index=3, poly_yes=150 * S, poly_no=0, kalshi_yes=0, kalshi_no=0),)
    (v,) = checkers.yes_equals_no(evolve(good(), venue_markets=naked))
    assert v.evidence["market"] == 3
    assert "150 YES vs 0 NO" in v.message
    h = good()
    fee = msgspec.structs.replace(h.venue_orders[1], fee_shares=4 * S)
    short = (VenueMarket(index=0, poly_yes=6 * S, poly_no=0, kalshi_yes=0, kalshi_no=10 * S),)
    assert checkers.yes_equals_no(evolve(h, venue_markets=short)) != []
    explained = evolve(h, venue_markets=short, venue_orders=(h.venue_orders[0], fee))
    assert checkers.yes_equals_no(explained) == []  # the venue kept 4 shares as its fee


def test_orders_terminal() -> None:
    h = good()
    stuck = msgspec.structs.replace(h.db_orders[0], state="ambiguous")
    (v,) = checkers.orders_terminal(evolve(h, db_orders=(stuck, h.db_orders[1])))
    assert v.evidence["orders"] == [("leg-1", "ambiguous")]


def test_fill_has_order() -> None:
    h = good()
    (v,) = checkers.fill_has_order(evolve(h, db_orders=h.db_orders[1:]))
    assert v.evidence["fills"] == [("kalshi", "t1", "leg-1")]


def test_unique_client_order_ids() -> None:
    h = good()
    again = msgspec.structs.replace(h.venue_orders[0], order_id="k2")
    (v,) = checkers.unique_client_order_ids(evolve(h, venue_orders=(*h.venue_orders, again)))
    assert v.evidence["duplicates"] == {"leg-1": 2}


def test_venue_orders_in_db() -> None:
    h = good()
    (v,) = checkers.venue_orders_in_db(evolve(h, db_orders=h.db_orders[:1]))
    assert v.evidence["orders"] == [("polymarket", "0xp1", "", 10 * S)]


def test_fills_persisted_once_finds_lost_and_doubled_fills() -> None:
    h = good()
    (lost,) = checkers.fills_persisted_once(evolve(h, db_fills=h.db_fills[:2]))
    assert "lost" in lost.message
    assert lost.evidence["coid"] == "leg-0"
    twice = (*h.db_fills, msgspec.structs.replace(h.db_fills[0], fill_id="t1:rest:10"))
    (double,) = checkers.fills_persisted_once(evolve(h, db_fills=twice))
    assert "booked twice" in double.message
    assert double.evidence["coid"] == "leg-1"


def test_a_failed_settlement_is_not_a_lost_fill() -> None:
    h = good()
    failed = msgspec.structs.replace(h.venue_orders[1], failed=10 * S)  # trade settled FAILED
    gone = tuple(f for f in h.db_fills if f.client_order_id != "leg-0")
    assert (
        checkers.fills_persisted_once(
            evolve(h, venue_orders=(h.venue_orders[0], failed), db_fills=gone)
        )
        == []
    )
    (v,) = checkers.fills_persisted_once(evolve(h, venue_orders=(h.venue_orders[0], failed)))
    assert "booked twice" in v.message  # the bot kept fills the venue says never settled


def test_order_rows_match_fills() -> None:
    h = good()
    wrong = msgspec.structs.replace(h.db_orders[0], filled_size=0)
    (v,) = checkers.order_rows_match_fills(evolve(h, db_orders=(wrong, h.db_orders[1])))
    assert v.evidence["orders"] == [("leg-1", 0, 10 * S)]


def test_summary_matches_db() -> None:
    h = evolve(
        good(), summaries=({"fills": 0, "trading_state": "active", "shutdown": {"phases": PHASES}},)
    )
    (v,) = checkers.summary_matches_db(h)
    assert v.evidence == {"summary_fills": 0, "db_fills": 3}
    assert checkers.summary_matches_db(evolve(h, killed=True)) == []  # no whole-run summary


def test_no_negative_balance() -> None:
    h = evolve(good(), venue_cash={"kalshi": -1}, venue_positions={"polymarket": {"tok": -5 * S}})
    found = checkers.no_negative_balance(h)
    assert [v.message for v in found] == ["kalshi cash -1e-06", "polymarket position tok is -5"]


def test_nothing_sent_while_halted() -> None:
    h = good()
    late = msgspec.structs.replace(h.db_orders[0], sent_at=10.5)
    raced = msgspec.structs.replace(h.db_orders[1], sent_at=10.01)  # within the grace
    unwind = msgspec.structs.replace(h.db_orders[0], client_order_id="unw-1", sent_at=10.6)
    (v,) = checkers.nothing_sent_while_halted(evolve(h, db_orders=(late, raced, unwind)))
    assert v.evidence["coid"] == "leg-1"
    forever = evolve(h, state_changes=(StateChange(at=50.0, to="halted"),))
    sent = msgspec.structs.replace(h.db_orders[0], sent_at=99.0)
    assert len(checkers.nothing_sent_while_halted(evolve(forever, db_orders=(sent,)))) == 1


def test_actors_recovered() -> None:
    h = good()
    dead = (*h.tree_events, TreeEvent(kind="failed", path="arbtree/feeds/kalshi", at=60.0))
    (v,) = checkers.actors_recovered(evolve(h, tree_events=dead))
    assert v.evidence["paths"] == ["arbtree/feeds/kalshi"]
    verdict = TreeEvent(kind="failed", path="feeds", at=62.0, detail="watchdog degrade: stale")
    assert checkers.actors_recovered(evolve(h, tree_events=(*h.tree_events, verdict))) == []
    gave_up = (*dead, TreeEvent(kind="gave_up", path="arbtree/feeds", at=61.0))
    assert checkers.actors_recovered(evolve(h, tree_events=gave_up)) == []


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"exit_codes": (0, 1)}, "exited 1, expected 0"),
        ({"exit_codes": ()}, "exited never"),
        (
            {"summaries": ({"fills": 3, "shutdown": {"phases": list(reversed(PHASES))}},)},
            "shutdown phases",
        ),
        (
            {
                "summaries": (
                    {"fills": 3, "shutdown": {"phases": [{"phase": "close", "timed_out": True}]}},
                )
            },
            "timed out: ['close']",
        ),
    ],
)
def test_clean_exit(changes: dict[str, object], words: str) -> None:
    (v,) = checkers.clean_exit(evolve(good(), **changes))
    assert words in v.message


def test_stops_clean() -> None:
    (v,) = checkers.stops_clean(evolve(good(), exit_codes=(0, -9, 1, 0)))
    assert v.evidence == {"exit_codes": [0, -9, 1, 0]}
    assert checkers.stops_clean(evolve(good(), exit_codes=(-9, 0))) == []  # SIGKILL is no stop


def test_mailboxes_within_capacity() -> None:
    h = evolve(good(), mailbox_peaks={"trading.opportunities": (64, 64), "books": (70, 64)})
    (v,) = checkers.mailboxes_within_capacity(h)
    assert v.evidence == {"peak_capacity": {"books": (70, 64)}}


def test_rss_bounded() -> None:
    assert checkers.rss_bounded(evolve(good(), rss_kb=(100_000, 150_000, 180_000))) == []
    (leak,) = checkers.rss_bounded(evolve(good(), rss_kb=(100_000, 150_000, 250_000)))
    assert leak.evidence["last_kb"] == 250_000
    (huge,) = checkers.rss_bounded(evolve(good(), rss_kb=(900_000, 1_200_000, 900_000)))
    assert huge.evidence["peak_kb"] == 1_200_000


def test_trading_resumed() -> None:
    h = evolve(
        good(), summaries=({"fills": 3, "trading_state": "halted", "shutdown": {"phases": PHASES}},)
    )
    (v,) = checkers.trading_resumed(h)
    assert v.evidence["trading_state"] == "halted"
    assert checkers.trading_resumed(evolve(h, expect_exit=2)) == []
    # A restart storm on purpose: the watchdog's restart ladder latching HALTED is the
    # configured answer; halted for another reason, or with no storm scheduled, is not.
    ladder = StateChange(at=20.0, to="halted", by="watchdog", why="12 restarts in 60 s")
    storm = evolve(h, state_changes=(*h.state_changes, ladder), escalation_expected=True)
    assert checkers.trading_resumed(storm) == []
    (v,) = checkers.trading_resumed(evolve(storm, escalation_expected=False))
    assert v.evidence["last_escalation"] == "12 restarts in 60 s"
    other = StateChange(at=20.0, to="halted", by="reconciliation", why="cash differs")
    assert len(checkers.trading_resumed(evolve(storm, state_changes=(other,)))) == 1
    # A later re-assertion of the same state (a reconciliation's hold) is not its cause.
    again = StateChange(at=21.0, to="halted", by="reconciliation", why="hold released")
    assert checkers.trading_resumed(evolve(storm, state_changes=(ladder, again))) == []


def test_every_checker_is_tested_here() -> None:
    tested = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    untested = set(checkers.CHECKERS) - {t.split("_finds_")[0] for t in tested}
    assert untested == set()
    assert names(good()) == set()
