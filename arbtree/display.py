"""How a running ``arbtree run`` shows its status: the live panel on a terminal
(``arbtree.panel``), else a status line (``arbtree.status``) in the log every interval."""

from __future__ import annotations

import logging

import trio

from arbtree.panel import open_panel
from arbtree.status import StatusSource, status_line

log = logging.getLogger("arbtree.status")


async def run_status_display(source: StatusSource, panel: bool, interval_s: float) -> None:
    """Refresh the panel twice a second on a terminal; else log a line every interval.

    The panel is drawn by its own thread (:func:`arbtree.panel.open_panel`): this task
    only samples, so a terminal that stops reading (Ctrl-S, a stalled ssh session) never
    holds up the actors that share this thread."""
    if not panel:
        while True:
            await trio.sleep(interval_s)
            log.info("%s", status_line(source.sample()))
    with open_panel(source.sample()) as show:
        while True:
            await trio.sleep(0.5)
            show(source.sample())
