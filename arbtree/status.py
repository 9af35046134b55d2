"""What a running ``arbtree run`` shows (``arbtree.display`` draws it): a live panel on a
terminal, status lines otherwise.

Everything is read from statistics the actors already keep (feed counters, the quote
cache's books, the trading control's sources, the storage sink, the tree snapshot), once
per refresh, never on the hot path.
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING, Any

import attrs
import trio

from actors.quote_cache import QuoteReader
from arbtree.edge import EdgeFigures, edge_figures
from protocols.fixed import format_units

if TYPE_CHECKING:
    from arbtree.assembly import Assembly


@attrs.frozen
class FeedLine:
    name: str
    connected: bool
    messages: int
    rate: float  # messages/s over the last few seconds
    reconnects: int
    decode_errors: int


@attrs.frozen
class Status:
    elapsed_s: float
    feeds: tuple[FeedLine, ...]
    books_total: int
    books_stale: int
    opportunities: int
    accepted: int
    rejected: int
    orders: dict[str, int]
    fills: int
    realized_pnl: str
    fees: str
    trading_state: str
    trading_reason: str
    restarts: int
    storage_mode: str
    storage_backlog: int
    shutdown_phase: str | None
    edge: EdgeFigures | None = None  # what the trades locked in (arbtree.edge)
    naked_legs: int = 0  # filled legs owed an unwind (retried until flat)
    naked_shares: str = "0"


@attrs.define(eq=False)
class StatusSource:
    """Samples the assembly; keeps the previous sample to turn counters into rates."""

    asm: Assembly
    rate_window_s: float = 5.0  # msg/s is averaged over this much history
    _started: float = attrs.field(init=False, factory=trio.current_time)
    _history: dict[str, collections.deque[tuple[float, int]]] = attrs.field(
        init=False, factory=dict
    )

    def _rate(self, name: str, now: float, count: int) -> float:
        history = self._history.setdefault(name, collections.deque([(self._started, 0)]))
        history.append((now, count))
        while len(history) > 2 and history[1][0] <= now - self.rate_window_s:
            history.popleft()
        then, before = history[0]
        return (count - before) / max(now - then, 1e-9)

    def sample(self) -> Status:
        asm = self.asm
        now = trio.current_time()
        feeds = [
            FeedLine(
                name=name,
                connected=st.connected,
                messages=st.updates,
                rate=self._rate(name, now, st.updates),
                reconnects=sum(st.reconnects.values()),
                decode_errors=st.decode_errors,
            )
            for name, st in asm.market.feed_stats.items()
        ]
        trading: dict[str, Any] = asm.trading.statistics()
        fund: dict[str, Any] = trading.get("fund_manager", {})
        executor: dict[str, Any] = trading.get("executor", {})
        tally: dict[str, Any] = trading.get("tally", {})  # across incarnations
        store: dict[str, Any] = trading.get("store", {})
        rejects: dict[str, int] = tally.get("opportunities_rejected", fund.get("rejects", {}))
        books = asm.market.reader.instruments()
        stale = stale_instruments(asm.market.reader)
        storage = asm.sink.statistics()
        restarts = 0
        phase = None
        if asm.tree is not None:
            snap = asm.tree.snapshot()
            restarts = sum(node.restarts_total for node in snap.nodes)
            phase = snap.shutdown_phase
        accepted = int(tally.get("opportunities_accepted", fund.get("accepted", 0)))
        return Status(
            elapsed_s=now - self._started,
            feeds=tuple(feeds),
            books_total=len(books),
            books_stale=len(stale),
            opportunities=accepted + sum(rejects.values()),
            accepted=accepted,
            rejected=sum(rejects.values()),
            orders=dict(executor.get("orders", {})),
            fills=int(tally.get("fills", fund.get("fills", 0))),
            realized_pnl=str(fund.get("realized_pnl", "0")),
            fees=str(fund.get("fees_paid", "0")),
            trading_state=str(trading.get("trading_state", "?")),
            trading_reason=str(trading.get("trading_reason", "")),
            restarts=restarts,
            storage_mode=storage.mode,
            storage_backlog=storage.backlog,
            shutdown_phase=phase,
            edge=edge_figures(fund, asm.market.reader),
            naked_legs=int(store.get("naked_legs", 0)),
            naked_shares=format_units(int(store.get("naked_shares", 0))),
        )


def stale_instruments(reader: QuoteReader) -> list[str]:
    """Instruments whose book is stale (gap, bad hash, too old); read at refresh time."""
    store = reader.store
    if store is None:
        return []
    return [book.instrument.key() for book in store.books.values() if book.stale_reason]


def status_line(s: Status) -> str:
    feeds = " ".join(f"{f.name}={'up' if f.connected else 'DOWN'}:{f.rate:.0f}/s" for f in s.feeds)
    orders = ",".join(f"{k}={v}" for k, v in sorted(s.orders.items())) or "none"
    return (
        f"t={s.elapsed_s:.0f}s state={s.trading_state} feeds[{feeds}] "
        f"books={s.books_total - s.books_stale}/{s.books_total} fresh "
        f"opps={s.opportunities} (accepted {s.accepted}, rejected {s.rejected}) "
        f"orders[{orders}] fills={s.fills} pnl={s.realized_pnl} fees={s.fees} "
        f"restarts={s.restarts} storage={s.storage_mode} backlog={s.storage_backlog}"
        f"{edge_words(s.edge)}"
        + (f" NAKED={s.naked_legs} legs/{s.naked_shares} shares" if s.naked_legs else "")
    )


def edge_words(e: EdgeFigures | None) -> str:
    """The status line's locked-in edge part ("" before the fund manager reports)."""
    if e is None:
        return ""
    mark = f" mark={e.unhedged_mark_usd}" if e.unhedged_mark_usd else ""
    return (
        f" locked={e.locked_edge_usd} hedged={e.hedged_pairs} "
        f"unhedged={e.unhedged_shares}(cost={e.unhedged_cost_usd}{mark}) "
        f"unwinds={e.unwinds}({e.unwind_realized_usd})"
    )
