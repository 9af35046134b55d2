"""``arbtree chaos`` on the command line: the list, and refusals before anything starts."""

from __future__ import annotations

import pytest

from arbtree.cli import main


def test_list_names_every_scenario_and_nemesis(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chaos", "--list"]) == 0
    out = capsys.readouterr().out
    assert "scenarios (all = steady, network, venue, actor, storage, process, mixed, config)" in out
    nemeses = [line for line in out.splitlines() if line.startswith("  ") and "  network " in line]
    assert len(nemeses) >= 10
    assert "bot_sigkill_inflight" in out
    assert "db_restart" in out


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--scenario", "meteor"], "unknown scenario 'meteor'"),
        (["--seeds", "0"], "--seeds must be >= 1"),
        (["--duration", "nan"], "--duration"),
        (["--schedule", "{"], "JSON"),
        (
            ["--schedule", '{"faults":[{"at_s":1,"nemesis":"x","duration_s":1,"params":{}}]}'],
            "unknown nemesis 'x'",
        ),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chaos", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("arbtree chaos: ")
    assert words in err[0]
