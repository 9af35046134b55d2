"""The run directory's execution journal: what a killed process leaves, a new one resumes."""

from __future__ import annotations

from pathlib import Path

import msgspec

from actors.trading.execution_journal import ExecutionJournal
from actors.trading.execution_store import ExecutionStore, OrderProgress
from actors.trading.messages import ExecutionRequest
from protocols.messages import InstrumentId, OrderIntent, Outcome, Side, TimeInForce, Venue


def _request(opp: str) -> ExecutionRequest:
    legs = (
        (InstrumentId(venue=Venue.KALSHI, symbol="KX-1", outcome=Outcome.YES), 41_000),
        (InstrumentId(venue=Venue.POLYMARKET, symbol="tok-no", outcome=Outcome.NO), 52_000),
    )
    return ExecutionRequest(
        opportunity_id=opp,
        intents=tuple(
            OrderIntent(
                client_order_id=f"{opp}-{i}",
                opportunity_id=opp,
                leg_index=i,
                instrument=inst,
                side=Side.BUY,
                limit_price=price,
                size=5_000_000,
                reserved=price * 5,
                time_in_force=TimeInForce.FOK,
                recv_ns=1,
                detect_ns=2,
                intent_ns=3,
            )
            for i, (inst, price) in enumerate(legs)
        ),
    )


def _killed_process(path: Path) -> None:
    """A process that began three executions, finished one, and died (no close)."""
    journal, unfinished = ExecutionJournal.open(path)
    assert unfinished == []
    store = ExecutionStore(journal=journal)
    for opp in ("o1", "o2", "o3"):
        store.begin(_request(opp))
    store.begin(_request("o2"))  # a second begin of one execution is not journaled again
    store.finish("o1")
    unwind = msgspec.structs.replace(
        _request("o3").intents[0], client_order_id="o3-0-u0", side=Side.SELL
    )
    store.add_unwind(unwind, "o3-0")
    assert journal.statistics().begun == 3
    assert journal.statistics().done == 1


def test_unfinished_executions_are_resumed_as_sent_by_the_next_process(tmp_path: Path) -> None:
    path = tmp_path / "executions.journal"
    _killed_process(path)

    journal, unfinished = ExecutionJournal.open(path)
    assert [r.opportunity_id for r in unfinished] == ["o2", "o3"]
    assert unfinished[0] == _request("o2")  # every leg's id, instrument, side, size, price
    store = ExecutionStore(journal=journal)
    store.adopt_unfinished(unfinished, 0.0)
    taken = store.take_over()
    assert [s.request.opportunity_id for s in taken] == ["o2", "o3"]
    # Any leg may have been written: looked up, never resent as PREPARED would be.
    assert {o.progress for s in taken for o in s.views()} == {OrderProgress.SENT}
    # The unwind order on the wire at the kill is known too (looked up, not resent).
    assert [o.intent.client_order_id for o in taken[1].unwinds_of("o3-0")] == ["o3-0-u0"]
    store.finish("o2")
    journal.close()

    # Compacted at start: only the unfinished were rewritten; o2 is done now.
    again, left = ExecutionJournal.open(path)
    assert [r.opportunity_id for r in left] == ["o3"]
    again.close()
    assert len(path.read_bytes().splitlines()) == 2  # o3 and its unwind
    assert [i.client_order_id for i, _ in again.unwinds["o3"]] == ["o3-0-u0"]


def test_a_torn_last_line_is_counted_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "executions.journal"
    _killed_process(path)
    with path.open("ab") as f:
        f.write(b'{"type":"b","request":{"opportun')
    journal, unfinished = ExecutionJournal.open(path)
    assert [r.opportunity_id for r in unfinished] == ["o2", "o3"]
    assert journal.statistics().bad_lines == 1
    journal.close()


def test_fsync_mode_writes_the_same_records(tmp_path: Path) -> None:
    path = tmp_path / "executions.journal"
    journal, _ = ExecutionJournal.open(path, fsync=True)
    journal.begin(_request("o9"))
    journal.close()
    _, unfinished = ExecutionJournal.open(path)
    assert [r.opportunity_id for r in unfinished] == ["o9"]
