"""Schedules are a pure function of the seed, replay from JSON and shrink; the report's
replay command carries the exact schedule; the config scenario's cases; log parsing."""

from __future__ import annotations

import datetime
import shlex

import attrs
import pytest

from arbtree.chaos import config_faults
from arbtree.chaos.checkers import Violation
from arbtree.chaos.database import Postgres
from arbtree.chaos.harness import FaultOutcome, RunResult, shrink
from arbtree.chaos.nemeses import NEMESES
from arbtree.chaos.report import failure_text, replay_command, table
from arbtree.chaos.scenarios import ALL, SCENARIOS, resolve
from arbtree.chaos.schedule import WARMUP_S, Schedule, draw_schedule, shrink_candidates
from arbtree.chaos.system import state_changes


def test_a_schedule_is_a_pure_function_of_the_seed() -> None:
    names = SCENARIOS["mixed"].nemeses
    a = draw_schedule(names, 7, 30.0)
    assert a == draw_schedule(names, 7, 30.0)
    assert a != draw_schedule(names, 8, 30.0)
    assert a.faults
    assert all(WARMUP_S <= f.at_s < 30.0 for f in a.faults)
    ends = [f.at_s + f.duration_s for f in a.faults]
    assert all(
        end <= nxt.at_s for end, nxt in zip(ends, a.faults[1:], strict=False)
    )  # one at a time
    assert Schedule.from_json(a.to_json()) == a
    assert draw_schedule((), 7, 30.0).faults == ()


def test_an_unknown_nemesis_in_a_replayed_schedule_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown nemesis 'meteor'"):
        Schedule.from_json('{"faults":[{"at_s":1,"nemesis":"meteor","duration_s":1,"params":{}}]}')


def test_shrinking_drops_each_fault_then_halves_each() -> None:
    schedule = draw_schedule(("net_ws_latency", "venue_rest_500"), 3, 20.0)
    n = len(schedule.faults)
    candidates = list(shrink_candidates(schedule))
    assert [len(c.faults) for c in candidates[:n]] == [n - 1] * n
    halved = candidates[n:]
    assert halved
    for c in halved:
        assert sum(f.duration_s for f in c.faults) < sum(f.duration_s for f in schedule.faults)


def test_there_are_at_least_twenty_named_faults_in_every_category() -> None:
    assert len(NEMESES) >= 20
    categories = {n.category for n in NEMESES.values()}
    assert categories == {"network", "venue", "actor", "storage", "process"}
    assert [s.name for s in resolve("all")] == list(ALL)
    assert resolve("only-db_pause")[0].nemeses == ("db_pause",)
    with pytest.raises(KeyError, match="unknown scenario"):
        resolve("nope")


def result(violations: tuple[Violation, ...] = ()) -> RunResult:
    schedule = draw_schedule(("venue_rest_500",), 1, 10.0)
    return RunResult(
        scenario="venue",
        seed=1,
        duration_s=10.0,
        schedule=schedule,
        faults=(FaultOutcome("venue_rest_500", 3.0, 2.0, True, "sim rest_500", 0.5),),
        violations=violations,
        checked=("yes_equals_no",),
        wall_s=20.0,
        run_dir="/tmp/x",
    )


def test_the_replay_command_carries_the_exact_schedule() -> None:
    r = result(
        (Violation("orders_terminal", "1 orders not terminal", {"orders": [("c", "sent")]}),)
    )
    argv = shlex.split(replay_command(r))
    assert argv[:6] == ["arbtree", "chaos", "--scenario", "venue", "--seed", "1"]
    assert Schedule.from_json(argv[argv.index("--schedule") + 1]) == r.schedule
    text = failure_text(r)
    assert "invariant orders_terminal: 1 orders not terminal" in text
    assert "('c', 'sent')" in text
    rows = table([r, result()]).splitlines()
    assert rows[1].split()[:4] == ["venue", "2", "2", "2"]
    assert "FAIL: orders_terminal" in rows[1]


def test_config_cases_edit_one_numeric_key() -> None:
    text = (
        '[run]\nseed = 1\nshutdown_deadline_s = 30.0\n[trading.fund.limits]\nx = "50"\nname = "a"\n'
    )
    keys = config_faults.numeric_keys(text)
    assert keys == [("run", "shutdown_deadline_s", 2), ("trading.fund.limits", "x", 4)]
    case = config_faults.ConfigCase("trading.fund.limits", "x", "nan", 4)
    assert 'x = "nan"' in config_faults.with_value(text, case)
    case = config_faults.ConfigCase("run", "shutdown_deadline_s", "-1", 2)
    assert "shutdown_deadline_s = -1\n" in config_faults.with_value(text, case)
    drawn = config_faults.draw_cases(5, text)
    assert drawn == config_faults.draw_cases(5, text)
    assert {c.value for c in drawn} <= set(config_faults.BAD_VALUES)


def test_trading_state_changes_are_read_from_the_log() -> None:
    log = (
        "2026-12-08T00:50:15.202Z WARNING [r] arbtree.trading.control: trading state active "
        "-> halted by reconciliation: hold\n"
        "2026-12-08T00:50:15.500Z INFO  [r] arbtree.trading.control: trading state halted "
        "-> active by reconciliation: released\n"
        "2026-12-08T00:50:16.000Z INFO  [r] arbtree.other: trading state nonsense\n"
    )
    (at1, to1, by1, why1), (at2, to2, _, why2) = state_changes(log)
    assert (to1, to2) == ("halted", "active")
    assert (by1, why1, why2) == ("reconciliation", "hold", "released")
    assert at2 - at1 == pytest.approx(0.298, abs=1e-6)
    utc = datetime.datetime(2026, 12, 8, 0, 50, 15, 202000, tzinfo=datetime.UTC)
    assert at1 == pytest.approx(utc.timestamp(), abs=1e-3)


def test_postgres_upstream_and_dsn() -> None:
    embedded = Postgres(uri="postgresql://postgres:@/postgres?host=/tmp/pg/data")
    assert embedded.upstream == "/tmp/pg/data/.s.PGSQL.5432"
    assert embedded.dsn_via(4000, "s1") == (
        "postgresql://postgres@127.0.0.1:4000/postgres?options=-csearch_path%3Ds1"
    )
    server = Postgres(uri="postgresql://postgres@127.0.0.1:5432/test")
    assert server.upstream == ("127.0.0.1", 5432)
    assert server.processes() == []  # never signals a server it does not own


async def test_shrinking_keeps_only_the_fault_that_still_fails() -> None:
    schedule = draw_schedule(SCENARIOS["venue"].nemeses, 4, 40.0)
    culprit = schedule.faults[1].nemesis
    reruns: list[Schedule] = []

    async def rerun(candidate: Schedule) -> RunResult:
        reruns.append(candidate)
        failing = any(f.nemesis == culprit for f in candidate.faults)
        found = (Violation("orders_terminal", "stuck"),) if failing else ()
        return attrs.evolve(result(found), schedule=candidate)

    first = attrs.evolve(result((Violation("orders_terminal", "stuck"),)), schedule=schedule)
    best = await shrink(first, rerun, max_runs=50)
    assert [f.nemesis for f in best.schedule.faults] == [culprit]
    assert best.schedule.faults[0].duration_s <= 1.0  # halved while it still failed
    assert not best.passed
    capped = await shrink(first, rerun, max_runs=2)
    assert len(reruns) <= 50 + 2
    assert len(capped.schedule.faults) >= len(schedule.faults) - 2
