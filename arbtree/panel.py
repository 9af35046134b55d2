"""The live status panel on a terminal, drawn by its own thread.

Every actor shares the Trio thread, so the panel must not draw there: a rich ``Table``
took milliseconds a refresh, and a terminal that stops reading (Ctrl-S, a stalled
ssh session) would block the write, and with it the feeds, the executor and the watchdog.
:func:`open_panel` gives the Trio side a ``show(status)`` that only stores the latest
status and wakes the drawing thread: it never waits. The thread draws the latest status
it finds (older ones are skipped, as the detector's mailbox coalesces) as fixed-width
styled text, a fraction of that: the thread still takes the GIL to draw, so that cost is
still shared with the actors, but never a wait on the terminal.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.live import Live
from rich.text import Text

if TYPE_CHECKING:
    from arbtree.status import Status

STATE_STYLE = {"active": "green", "reducing": "yellow", "halted": "bold red"}

_FEED_COLUMNS = ("feed", "state", "messages", "msg/s", "reconnects", "decode errors")
_FEED_WIDTHS = (12, 10, 14, 10, 11, 14)


def _cells(values: tuple[str, ...]) -> list[str]:
    """Cells padded to the feed columns: the first two left-aligned, the rest right."""
    return [
        v[:w].ljust(w) if i < 2 else v.rjust(w)
        for i, (v, w) in enumerate(zip(values, _FEED_WIDTHS, strict=True))
    ]


def render_panel(s: Status) -> Text:
    """The panel as styled text in fixed columns (no ``Table``: see the module doc)."""
    state = Text(s.trading_state.upper(), style=STATE_STYLE.get(s.trading_state, "white"))
    panel = Text.assemble(
        ("arbtree ", "bold"),
        f"t={s.elapsed_s:6.0f}s  trading ",
        state,
        f"  {s.trading_reason}" if s.trading_reason else "",
        f"  shutdown: {s.shutdown_phase}" if s.shutdown_phase else "",
        "\n\n",
        (" ".join(_cells(_FEED_COLUMNS)), "bold"),
    )
    for f in s.feeds:
        cells = _cells(
            (
                f.name,
                "connected" if f.connected else "down",
                f"{f.messages:,}",
                f"{f.rate:,.0f}",
                str(f.reconnects),
                str(f.decode_errors),
            )
        )
        panel.append(f"\n{cells[0]} ")
        panel.append(cells[1], "green" if f.connected else "red")
        panel.append(" " + " ".join(cells[2:]))
    orders = ", ".join(f"{k} {v}" for k, v in sorted(s.orders.items())) or "none"
    panel.append(
        f"\n\nbooks {s.books_total - s.books_stale}/{s.books_total} fresh   "
        f"opportunities {s.opportunities} (accepted {s.accepted}, rejected {s.rejected})   "
        f"orders {orders}\n"
        f"fills {s.fills}   realized PnL ${s.realized_pnl}  fees ${s.fees}   "
        f"restarts {s.restarts}  storage {s.storage_mode} (backlog {s.storage_backlog})\n"
    )
    if s.edge is not None:
        e = s.edge
        mark = f", at bids ${e.unhedged_mark_usd}" if e.unhedged_mark_usd else ""
        panel.append("locked-in edge ", "bold")
        panel.append(
            f"${e.locked_edge_usd}", "green" if not e.locked_edge_usd.startswith("-") else "red"
        )
        panel.append(
            f" on {e.hedged_pairs} hedged pairs   unhedged {e.unhedged_shares} shares "
            f"(cost ${e.unhedged_cost_usd}{mark})   unwinds {e.unwinds} "
            f"(${e.unwind_realized_usd})\n"
        )
    if s.naked_legs:
        panel.append(
            f"NAKED: {s.naked_legs} legs, {s.naked_shares} shares unhedged (unwinding; "
            "arbtree inspect --flatten)\n",
            "bold red",
        )
    panel.append("Ctrl-C: phased shutdown (twice: force)", "dim")
    return panel


class PanelThread:
    """Draws the latest status it was shown; :meth:`show` never blocks."""

    def __init__(
        self, first: Status, console: Console | None = None, *, stop_wait_s: float = 1.0
    ) -> None:
        self._latest: Status = first
        self._stop_wait_s = stop_wait_s  # how long stop() waits for a held-up terminal
        self._wake = threading.Event()
        self._stopping = False
        self.drawn = 0  # refreshes done, for tests and curiosity
        # No stdout/stderr redirection: it would route other threads' prints through the
        # lock this thread holds while a blocked terminal holds it.
        self._live = Live(
            render_panel(first),
            console=console,
            auto_refresh=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._thread = threading.Thread(target=self._run, name="arbtree-panel", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def show(self, status: Status) -> None:
        self._latest = status
        self._wake.set()

    def stop(self) -> bool:
        """Draw the last status shown and stop; False if the terminal held the thread up
        beyond ``stop_wait_s`` (it is a daemon and is left behind)."""
        self._stopping = True
        self._wake.set()
        self._thread.join(self._stop_wait_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        with self._live:
            while True:
                self._wake.wait()
                self._wake.clear()
                self._live.update(render_panel(self._latest), refresh=True)
                self.drawn += 1
                if self._stopping:
                    return


@contextmanager
def open_panel(first: Status, console: Console | None = None) -> Iterator[Callable[[Status], None]]:
    """Start the drawing thread; yield its ``show``; draw the last status and stop on exit."""
    panel = PanelThread(first, console)
    panel.start()
    try:
        yield panel.show
    finally:
        panel.stop()
