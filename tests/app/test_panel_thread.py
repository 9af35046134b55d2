"""The live panel is drawn by its own thread: showing a status never waits for the
terminal, and the last status shown is the one left on screen."""

from __future__ import annotations

import io
from collections.abc import Iterator

import attrs
import pytest
from rich.console import Console

from arbtree.panel import PanelThread, open_panel
from arbtree.status import FeedLine, Status
from tests.gated_io import FAILSAFE_S, GatedStream, gated_stream


@pytest.fixture
def terminal() -> Iterator[GatedStream]:
    with gated_stream() as term:
        yield term


def _status(elapsed_s: float) -> Status:
    return Status(
        elapsed_s=elapsed_s,
        feeds=(FeedLine("kalshi", True, 10, 5.0, 0, 0),),
        books_total=2,
        books_stale=0,
        opportunities=0,
        accepted=0,
        rejected=0,
        orders={},
        fills=0,
        realized_pnl="0",
        fees="0",
        trading_state="active",
        trading_reason="",
        restarts=0,
        storage_mode="database",
        storage_backlog=0,
        shutdown_phase=None,
    )


def _console(term: io.StringIO) -> Console:
    return Console(file=term, force_terminal=True, width=100, color_system=None)


def test_show_returns_while_the_terminal_is_blocked(terminal: GatedStream) -> None:
    panel = PanelThread(_status(0), _console(terminal))
    panel.start()
    assert terminal.entered.wait(FAILSAFE_S)  # the thread is stuck writing the first frame
    for t in range(1, 200):
        panel.show(_status(t))
    assert not terminal.gate.is_set()  # every show returned; the failsafe freed nothing
    terminal.gate.set()
    assert panel.stop()
    # statuses shown while it was blocked were skipped, not queued: the latest is drawn
    assert panel.drawn < 199
    assert "t=   199s" in terminal.getvalue().rsplit("arbtree", 1)[-1]


def test_stop_gives_up_on_a_terminal_that_never_reads(terminal: GatedStream) -> None:
    panel = PanelThread(_status(0), _console(terminal), stop_wait_s=0.01)
    panel.start()
    assert terminal.entered.wait(FAILSAFE_S)
    assert panel.stop() is False  # returned after its wait; the daemon thread is left
    terminal.gate.set()


def test_open_panel_draws_the_last_status_shown_on_exit() -> None:
    term = io.StringIO()
    with open_panel(_status(0), _console(term)) as show:
        show(attrs.evolve(_status(5), trading_state="halted", trading_reason="kill switch"))
    last = term.getvalue().rsplit("arbtree", 1)[-1]
    assert "t=     5s" in last
    assert "HALTED  kill switch" in last
