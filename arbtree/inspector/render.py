"""Rich renderables for a supervision-tree snapshot; pure functions of the snapshot(s).

Everything here takes snapshots (and the previous one, for rates) and returns rich
objects, so it renders the same in the live inspector, in ``--once`` text and in tests
(``Console(record=True)``).
"""

from __future__ import annotations

import io
import time

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from protocols.tree import LifecycleState, MailboxStats, NodeKind, NodeSnapshot, TreeSnapshot

__all__ = [
    "STATE_STYLES",
    "Rates",
    "compute_rates",
    "format_duration",
    "mailbox_bar",
    "render_details",
    "render_header",
    "render_screen",
    "render_text",
    "render_tree",
]

STATE_STYLES: dict[LifecycleState, str] = {
    LifecycleState.STARTING: "cyan",
    LifecycleState.RUNNING: "green",
    LifecycleState.DEGRADED: "yellow",
    LifecycleState.STOPPING: "magenta",
    LifecycleState.STOPPED: "dim",
    LifecycleState.BACKOFF: "bold yellow",
    LifecycleState.FAILED: "bold red",
}

TRADING_STYLES = {"active": "bold green", "reducing": "bold yellow", "halted": "bold red"}

Rates = dict[str, float]  # node path -> messages received per second (all its mailboxes)


def compute_rates(prev: TreeSnapshot | None, cur: TreeSnapshot) -> Rates:
    """Messages/s per node from the ``received`` counters of two consecutive snapshots.

    A counter that went down (the mailbox was replaced) or a node absent from ``prev``
    gives no rate rather than a negative or made-up one.
    """
    if prev is None:
        return {}
    dt = cur.taken_at - prev.taken_at
    if dt <= 0:
        return {}
    before = {(n.path, mb.name): mb.received for n in prev.nodes for mb in n.mailboxes}
    rates: Rates = {}
    for node in cur.nodes:
        if not node.mailboxes:
            continue
        total = 0
        complete = True
        for mb in node.mailboxes:
            old = before.get((node.path, mb.name))
            if old is None or mb.received < old:
                complete = False
                break
            total += mb.received - old
        if complete:
            rates[node.path] = total / dt
    return rates


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 0:
        return f"-{format_duration(-seconds)}"
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def format_rate(rate: float | None) -> str:
    if rate is None:
        return "-"
    if rate >= 10_000:
        return f"{rate / 1000:.0f}k/s"
    if rate >= 100:
        return f"{rate:.0f}/s"
    return f"{rate:.1f}/s"


def mailbox_bar(mb: MailboxStats, width: int = 10) -> Text:
    """``[####|     ] 40/100 pk 55 drop 3``: fill now, ``|`` at the peak, drops in red."""
    text = Text()
    if mb.capacity > 0:
        fill = min(width, round(width * mb.depth / mb.capacity))
        peak_at = min(width - 1, max(0, round(width * mb.peak / mb.capacity) - 1))
        ratio = mb.depth / mb.capacity
        style = "red" if ratio >= 0.9 else "yellow" if ratio >= 0.5 else "green"
        text.append("[")
        for i in range(width):
            if i < fill:
                text.append("#", style=style)
            elif i == peak_at and mb.peak > mb.depth:
                text.append("|", style="bright_black")
            else:
                text.append(" ")
        text.append("] ")
        text.append(f"{mb.depth}/{mb.capacity}")
    else:
        text.append(f"{mb.depth}/unbounded")
    text.append(f" pk {mb.peak}", style="bright_black")
    if mb.dropped:
        text.append(f" drop {mb.dropped}", style="red")
    if mb.coalesced:
        text.append(f" coal {mb.coalesced}", style="bright_black")
    if mb.direct:
        text.append(f" direct {mb.direct}/{mb.received}", style="bright_black")
    return text


def _state_text(node: NodeSnapshot) -> Text:
    return Text(node.state.value, style=STATE_STYLES.get(node.state, ""))


def _name_text(node: NodeSnapshot, root: str, selected: bool) -> Text:
    depth = node.path.count("/") - root.count("/")
    name = node.path.rsplit("/", 1)[-1]
    marker = "> " if selected else "  "
    text = Text(marker + "  " * depth)
    style = "bold" if node.kind is NodeKind.SUPERVISOR else ""
    if selected:
        style = (style + " reverse").strip()
    text.append(name, style=style)
    return text


def _failure_summary(node: NodeSnapshot, limit: int = 48) -> str:
    failure = node.last_failure
    if failure is None:
        return node.degraded_reason or ""
    summary = f"{failure.type.rsplit('.', 1)[-1]}: {failure.message}"
    return summary if len(summary) <= limit else summary[: limit - 1] + "…"


def render_header(snap: TreeSnapshot, *, source: str = "", now: float | None = None) -> Text:
    now = time.time() if now is None else now
    text = Text()
    text.append("tree ", style="bold")
    text.append(snap.root)
    if source:
        text.append(f"  @ {source}", style="bright_black")
    trading = snap.extra.get("trading_state")
    text.append("   trading: ")
    if trading is None:
        text.append("unknown", style="bright_black")
    else:
        text.append(trading.upper(), style=TRADING_STYLES.get(trading.lower(), "bold"))
    if snap.shutdown_phase:
        text.append("   SHUTDOWN: ", style="bold red")
        text.append(snap.shutdown_phase, style="bold red")
    others = {k: v for k, v in snap.extra.items() if k not in ("trading_state", "edge")}
    for key, value in sorted(others.items()):
        text.append(f"   {key}: {value}", style="bright_black")
    age = now - snap.taken_at
    text.append(f"   snapshot {format_duration(max(age, 0.0))} old", style="bright_black")
    edge = snap.extra.get("edge")
    if edge is not None:  # what the trades locked in (arbtree.edge), on its own line
        text.append("\nedge ", style="bold")
        text.append(edge)
    return text


def render_tree(
    snap: TreeSnapshot, rates: Rates | None = None, *, selected: str | None = None
) -> Table:
    """One row per node, indented by depth, in the snapshot's depth-first order."""
    rates = rates or {}
    table = Table(expand=False, box=None, pad_edge=False, header_style="bold")
    name_width = (
        max(
            (2 + 2 * (n.path.count("/") - snap.root.count("/")) + len(n.path.rsplit("/", 1)[-1]))
            for n in snap.nodes
        )
        if snap.nodes
        else 4
    )
    # On a narrow terminal the identity columns keep their width; the others shrink.
    table.add_column("node", no_wrap=True, min_width=name_width)
    table.add_column("state", no_wrap=True, min_width=8)
    table.add_column("strategy", no_wrap=True)
    table.add_column("restarts", justify="right", no_wrap=True, min_width=6)
    table.add_column("uptime", justify="right", no_wrap=True)
    table.add_column("hb age", justify="right", no_wrap=True)
    table.add_column("mailbox", no_wrap=True)
    table.add_column("msg/s", justify="right", no_wrap=True)
    table.add_column("last failure", no_wrap=True, overflow="ellipsis")
    for node in snap.nodes:
        strategy = node.strategy or node.restart or ""
        restarts = f"{node.restarts_total} ({node.restarts_in_window})"
        mailbox: RenderableType
        if node.mailboxes:
            mailbox = Text("\n").join(mailbox_bar(mb) for mb in node.mailboxes)
        else:
            mailbox = Text("")
        hb_style = ""
        if node.heartbeat_age_s is not None and node.heartbeat_age_s > 5:
            hb_style = "yellow"
        table.add_row(
            _name_text(node, snap.root, node.path == selected),
            _state_text(node),
            strategy,
            Text(restarts, style="red" if node.restarts_in_window else ""),
            format_duration(node.uptime_s),
            Text(format_duration(node.heartbeat_age_s), style=hb_style),
            mailbox,
            format_rate(rates.get(node.path)) if node.mailboxes else "",
            Text(_failure_summary(node), style="red" if node.last_failure else "yellow"),
        )
    return table


def render_details(node: NodeSnapshot, rates: Rates | None = None) -> Panel:
    """Everything known about one node: identity, counters, mailboxes, last traceback."""
    rates = rates or {}
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("path", node.path)
    facts.add_row("kind", node.kind.value)
    facts.add_row("state", _state_text(node))
    if node.strategy:
        facts.add_row("strategy", node.strategy)
    if node.restart:
        facts.add_row("restart", node.restart)
    facts.add_row("restarts", f"{node.restarts_total} total, {node.restarts_in_window} in window")
    facts.add_row("uptime", format_duration(node.uptime_s))
    facts.add_row("heartbeat age", format_duration(node.heartbeat_age_s))
    if node.degraded_reason:
        facts.add_row("degraded", Text(node.degraded_reason, style="yellow"))
    if node.children:
        facts.add_row("children", ", ".join(c.rsplit("/", 1)[-1] for c in node.children))
    parts: list[RenderableType] = [facts]
    if node.mailboxes:
        boxes = Table(box=None, header_style="bold", pad_edge=False)
        for col in ("mailbox", "policy", "depth", "capacity", "peak", "sent", "received"):
            boxes.add_column(col, justify="left" if col in ("mailbox", "policy") else "right")
        boxes.add_column("dropped", justify="right")
        boxes.add_column("coalesced", justify="right")
        boxes.add_column("direct", justify="right")
        boxes.add_column("queued", justify="right")
        for mb in node.mailboxes:
            boxes.add_row(
                mb.name,
                mb.policy,
                str(mb.depth),
                str(mb.capacity),
                str(mb.peak),
                str(mb.sent),
                str(mb.received),
                Text(str(mb.dropped), style="red" if mb.dropped else ""),
                str(mb.coalesced),
                str(mb.direct),
                str(mb.received - mb.direct),
            )
        parts += [Text(""), boxes, Text(f"rate: {format_rate(rates.get(node.path))}")]
    failure = node.last_failure
    if failure is not None:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(failure.at))
        parts += [
            Text(""),
            Text(f"last failure at {when}: {failure.type}: {failure.message}", style="bold red"),
            Text(failure.traceback.rstrip() or "(no traceback)", style="red"),
        ]
    return Panel(Group(*parts), title=node.path, title_align="left")


def render_screen(
    snap: TreeSnapshot,
    prev: TreeSnapshot | None = None,
    *,
    selected: str | None = None,
    details: bool = False,
    source: str = "",
    footer: RenderableType | None = None,
    now: float | None = None,
) -> Group:
    rates = compute_rates(prev, snap)
    parts: list[RenderableType] = [
        render_header(snap, source=source, now=now),
        Text(""),
        render_tree(snap, rates, selected=selected),
    ]
    if details and selected is not None:
        node = next((n for n in snap.nodes if n.path == selected), None)
        if node is not None:
            parts += [Text(""), render_details(node, rates)]
    if footer is not None:
        parts += [Text(""), footer]
    return Group(*parts)


def render_text(
    snap: TreeSnapshot,
    prev: TreeSnapshot | None = None,
    *,
    width: int = 160,
    source: str = "",
    now: float | None = None,
) -> str:
    """Plain text (no colour codes) of the tree plus the failed nodes' last failures."""
    console = Console(
        file=io.StringIO(), width=width, color_system=None, force_terminal=False, record=True
    )
    console.print(render_screen(snap, prev, source=source, now=now))
    failed = [n for n in snap.nodes if n.last_failure is not None]
    if failed:
        console.print()
        console.print("last failures:")
        for node in failed:
            assert node.last_failure is not None
            f = node.last_failure
            console.print(f"  {node.path}: {f.type}: {f.message}")
            last = f.traceback.strip().splitlines()
            if last:
                console.print(f"    {last[-1]}")
    return console.export_text()
