"""The shutdown phases arbtree declares to the supervision runtime."""

from __future__ import annotations

from actors.shutdown_phases import PHASES, new_shutdown


def test_default_phases_in_order() -> None:
    assert [p.name for p in PHASES] == [
        "halt-trading",
        "cancel-open-orders",
        "drain-executor",
        "checkpoint",
        "stop-feeds",
        "flush-storage",
        "close",
    ]
    assert new_shutdown().phases == PHASES
