"""The live inspector: a full-screen view of the tree, driven by the snapshot stream.

Keys: ↑/↓ or k/j move, Enter (or space) opens/closes the node's details, ``r`` restarts
the selected node, ``h`` halts trading, ``u`` resumes trading, ``f`` flattens (unwinds
every naked leg and unhedged position at any price; each asks y/N first),
``q`` or Ctrl-C quits. The key handling is a pure state machine (:class:`InspectorState`)
so it is tested without a terminal.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import termios
import tty
from collections.abc import Iterator
from typing import Literal

import attrs
import trio
from rich.console import Console
from rich.live import Live
from rich.text import Text

from arbtree.inspector.client import AsyncControlClient, Endpoint, InspectorError
from arbtree.inspector.render import render_screen
from protocols.tree import TreeSnapshot

__all__ = ["Action", "InspectorState", "parse_keys", "run_live"]

Key = str  # "up", "down", "enter", "esc", "ctrl-c" or a single character

_ESCAPES = {"\x1b[A": "up", "\x1b[B": "down", "\x1bOA": "up", "\x1bOB": "down"}


def parse_keys(data: bytes) -> list[Key]:
    text = data.decode("utf-8", errors="ignore")
    keys: list[Key] = []
    i = 0
    while i < len(text):
        seq = text[i : i + 3]
        if seq in _ESCAPES:
            keys.append(_ESCAPES[seq])
            i += 3
            continue
        ch = text[i]
        if ch == "\x1b":
            # an unknown escape sequence: skip it whole
            if text[i + 1 : i + 2] in ("[", "O"):
                i += 3
            else:
                keys.append("esc")
                i += 1
            continue
        keys.append({"\r": "enter", "\n": "enter", " ": "enter", "\x03": "ctrl-c"}.get(ch, ch))
        i += 1
    return keys


@attrs.frozen
class Action:
    kind: Literal["quit", "restart", "halt", "resume", "flatten"]
    path: str | None = None


@attrs.define
class InspectorState:
    snap: TreeSnapshot | None = None
    prev: TreeSnapshot | None = None
    selected: str | None = None
    details: bool = False
    pending: Action | None = None  # waiting for y/N
    message: str = ""

    def push(self, snap: TreeSnapshot) -> None:
        self.prev, self.snap = self.snap, snap
        paths = [n.path for n in snap.nodes]
        if self.selected not in paths:
            self.selected = paths[0] if paths else None

    def _move(self, delta: int) -> None:
        if self.snap is None or not self.snap.nodes:
            return
        paths = [n.path for n in self.snap.nodes]
        index = paths.index(self.selected) if self.selected in paths else 0
        self.selected = paths[max(0, min(len(paths) - 1, index + delta))]

    def handle_key(self, key: Key) -> Action | None:
        """Apply one key; return the action to perform now, if any."""
        if key == "ctrl-c":
            return Action("quit")
        if self.pending is not None:
            action, self.pending = self.pending, None
            if key in ("y", "Y"):
                return action
            self.message = "cancelled"
            return None
        if key == "q":
            return Action("quit")
        if key in ("up", "k"):
            self._move(-1)
        elif key in ("down", "j"):
            self._move(1)
        elif key == "enter":
            self.details = not self.details
        elif key == "esc":
            self.details = False
        elif key == "r" and self.selected is not None:
            self.pending = Action("restart", self.selected)
        elif key == "h":
            self.pending = Action("halt")
        elif key == "u":
            self.pending = Action("resume")
        elif key == "f":
            self.pending = Action("flatten")
        return None

    def footer(self) -> Text:
        if self.pending is not None:
            what = {
                "restart": f"restart {self.pending.path}",
                "halt": "HALT trading",
                "resume": "resume trading",
                "flatten": "FLATTEN every unhedged position at any price",
            }.get(self.pending.kind, self.pending.kind)
            return Text(f"{what}? [y/N]", style="bold yellow")
        text = Text(
            "↑/↓ move  enter details  r restart  h halt  u resume  f flatten  q quit",
            style="bright_black",
        )
        if self.message:
            text.append(f"   {self.message}", style="bold")
        return text


@contextlib.contextmanager
def _raw_terminal(fd: int) -> Iterator[None]:
    old_attrs = termios.tcgetattr(fd)
    old_flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        tty.setcbreak(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, old_attrs)
        fcntl.fcntl(fd, fcntl.F_SETFL, old_flags)


async def run_live(endpoint: Endpoint, *, interval: float, console: Console | None = None) -> int:
    """Run the full-screen inspector until ``q``; returns the exit code."""
    console = console or Console()
    client = AsyncControlClient(endpoint)
    state = InspectorState(message="connecting…")
    error: list[InspectorError] = []
    fd = sys.stdin.fileno()

    def redraw(live: Live) -> None:
        if state.snap is None:
            live.update(Text(f"waiting for {endpoint.url} … ({state.message})"), refresh=True)
            return
        live.update(
            render_screen(
                state.snap,
                state.prev,
                selected=state.selected,
                details=state.details,
                source=endpoint.url,
                footer=state.footer(),
            ),
            refresh=True,
        )

    async def perform(action: Action, live: Live) -> None:
        body = {"path": action.path} if action.path else {}
        try:
            result = await client.action(action.kind, body)
            state.message = f"{action.kind}: ok {result.get('result', '')}".rstrip()
        except InspectorError as exc:
            state.message = f"{action.kind} failed: {exc}"
        redraw(live)

    with _raw_terminal(fd), Live(console=console, screen=True, auto_refresh=False) as live:
        async with trio.open_nursery() as nursery:

            async def pump() -> None:
                try:
                    async for snap in client.stream(interval):
                        if state.message == "connecting…":
                            state.message = ""
                        state.push(snap)
                        redraw(live)
                except InspectorError as exc:
                    error.append(exc)
                nursery.cancel_scope.cancel()

            async def keys() -> None:
                stdin = trio.lowlevel.FdStream(os.dup(fd))
                async with stdin:
                    while data := await stdin.receive_some(64):
                        for key in parse_keys(data):
                            action = state.handle_key(key)
                            if action is None:
                                continue
                            if action.kind == "quit":
                                nursery.cancel_scope.cancel()
                                return
                            nursery.start_soon(perform, action, live)
                        redraw(live)

            nursery.start_soon(pump)
            nursery.start_soon(keys)
            redraw(live)
    await client.aclose()
    if error:
        console.print(f"arbtree inspect: {error[0]}")
        return error[0].exit_code
    return 0
