"""The run's readiness checks and the watchdog's storage signal read the real states."""

from __future__ import annotations

from typing import Any

from actors.storage.sink import StorageSink
from actors.trading.control import TradingControl
from actors.trading.ladder import Hold, TradingState
from actors.trading_tree import TradingHandles
from arbtree.runner import _storage_ready, _trading_ready
from supervision import Mailbox


def test_storage_is_ready_only_while_writing_straight_to_postgres() -> None:
    sink = StorageSink(Mailbox[Any]("storage", 4))
    assert sink.writable
    assert _storage_ready(sink) == (True, "")
    sink.stats.mode = "spilling"  # what the writer sets when the database is down
    assert not sink.writable
    ok, reason = _storage_ready(sink)
    assert not ok
    assert "spilling" in reason


def test_trading_is_ready_once_reconciliation_released_its_hold() -> None:
    control = TradingControl.starting_in(TradingState.ACTIVE)
    handles = TradingHandles(
        control, Mailbox[Any]("i", 4), Mailbox[Any]("o", 4), Mailbox[Any]("f", 4), None
    )
    control.ladder.hold(Hold.RECONCILIATION, "kalshi cash: checkpoint 9000 vs venue 10000")
    ok, reason = _trading_ready(handles)
    assert not ok
    assert "kalshi cash" in reason
    control.ladder.release_hold(Hold.RECONCILIATION)
    assert _trading_ready(handles) == (True, "")
