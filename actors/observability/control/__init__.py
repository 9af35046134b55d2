"""The control endpoint: metrics, health, the tree (and its live stream), and actions.

A small ASGI application (no framework) served by Hypercorn's Trio worker on loopback.

Reads are open to anyone who can reach the loopback port:

* ``GET /metrics`` — Prometheus text exposition;
* ``GET /health/live`` — 200 while the event loop answers;
* ``GET /health/ready`` — 200 or 503 with every check's result and the failed names;
* ``GET /tree`` — the current ``TreeSnapshot`` as JSON;
* ``GET /tree/stream?interval=S&count=N`` — newline-delimited JSON, one snapshot per
  interval (``count`` ends the stream after N snapshots).

Actions need ``Authorization: Bearer <token>``; the token is generated per run and written
to a file only the owner can read. A missing or wrong token gets 401, is logged (never the
token itself) and executes nothing:

* ``POST /actions/restart`` ``{"path": "arbtree/feeds/kalshi", "reason": "..."}``;
* ``POST /actions/halt`` / ``POST /actions/resume`` ``{"reason": "..."}`` — through the
  trading hook registered with :meth:`ControlPlane.set_trading_control`;
* ``POST /actions/shutdown`` ``{"reason": "...", "force": false}``.

The modules: :mod:`.plane` (:class:`ControlPlane`, :class:`TreeControl`), :mod:`.app`
(:class:`ControlApp`, the routes), :mod:`.asgi` (ASGI types and response writers),
:mod:`.server` (:func:`open_control_server`, :class:`ControlServer`, ``control.json``).
Every name below is re-exported here.
"""

from actors.observability.control.app import ControlApp
from actors.observability.control.plane import ControlPlane, TreeControl
from actors.observability.control.server import (
    CONTROL_FILE,
    TOKEN_FILE,
    ControlInfo,
    ControlServer,
    ControlServerHandle,
    open_control_server,
)

__all__ = [
    "CONTROL_FILE",
    "TOKEN_FILE",
    "ControlApp",
    "ControlInfo",
    "ControlPlane",
    "ControlServer",
    "ControlServerHandle",
    "TreeControl",
    "open_control_server",
]
