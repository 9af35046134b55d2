"""What one chaos run recorded, in the plain form the checkers read.

Gathered after the system has been healed and drained (``arbtree.chaos.record``): the
venue's own state from the sim's control API, the rows the bot wrote to PostgreSQL, the
summary JSON of every bot process that finished, the trading-state transitions from the
bot's logs, and each process's exit code. Frozen and JSON-able, so a failing history is
saved in the report as evidence.
"""

from __future__ import annotations

import msgspec

TERMINAL_STATES = frozenset({"filled", "cancelled", "rejected", "expired"})


class VenueOrder(msgspec.Struct, frozen=True, kw_only=True):
    venue: str
    order_id: str
    client_order_id: str  # Kalshi's; "" on Polymarket (its id is the signed order's hash)
    instrument: str
    market: int
    outcome: str
    side: str
    size: int
    filled: int
    status: str
    fee_shares: int = 0  # Polymarket buys: shares kept by the venue as the taker fee
    failed: int = 0  # of ``filled``: trades that settled FAILED (no shares, no cash moved)

    @property
    def settled(self) -> int:
        """What the venue really executed for this order."""
        return self.filled - self.failed


class VenueMarket(msgspec.Struct, frozen=True, kw_only=True):
    """Per-market positions at the venue (1e-6 shares)."""

    index: int
    poly_yes: int
    poly_no: int
    kalshi_yes: int
    kalshi_no: int

    @property
    def yes(self) -> int:
        return self.poly_yes + self.kalshi_yes

    @property
    def no(self) -> int:
        return self.poly_no + self.kalshi_no


class DbOrder(msgspec.Struct, frozen=True, kw_only=True):
    client_order_id: str
    venue_order_id: str
    instrument: str
    size: int
    filled_size: int
    state: str
    # Wall epoch s of its first recorded event (pending or sent: when the executor took it
    # to send; the send itself is not recorded separately on the hot path).
    sent_at: float | None = None


class DbFill(msgspec.Struct, frozen=True, kw_only=True):
    venue: str
    fill_id: str
    client_order_id: str
    venue_order_id: str
    size: int
    status: str


class TreeEvent(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    path: str
    at: float  # wall epoch s
    detail: str = ""


class StateChange(msgspec.Struct, frozen=True, kw_only=True):
    """A trading-state transition from the bot's log (wall epoch s)."""

    at: float
    to: str
    by: str = ""  # the ladder's source ("watchdog", "reconciliation", "operator", ...)
    why: str = ""


class History(msgspec.Struct, frozen=True, kw_only=True):
    venue_orders: tuple[VenueOrder, ...] = ()
    venue_markets: tuple[VenueMarket, ...] = ()
    venue_cash: dict[str, int] = msgspec.field(default_factory=dict)
    venue_positions: dict[str, dict[str, int]] = msgspec.field(default_factory=dict)
    db_orders: tuple[DbOrder, ...] = ()
    db_fills: tuple[DbFill, ...] = ()
    tree_events: tuple[TreeEvent, ...] = ()
    state_changes: tuple[StateChange, ...] = ()
    summaries: tuple[dict[str, object], ...] = ()  # one per bot process that finished
    exit_codes: tuple[int, ...] = ()  # every bot process, in order (-9: killed by SIGKILL)
    killed: bool = False  # a bot process was SIGKILLed (no summary for it)
    expect_exit: int = 0  # the exit code the last bot process must end with
    # The schedule crashed actors beyond their supervisor's intensity on purpose: the
    # watchdog's restart ladder escalating (latched until an operator resumes) is the
    # configured answer, not a failure to resume.
    escalation_expected: bool = False
    mailbox_peaks: dict[str, tuple[int, int]] = msgspec.field(default_factory=dict)
    rss_kb: tuple[int, ...] = ()  # the bot's RSS, sampled every second
