"""A durable record of executions in flight, in the run directory.

:class:`ExecutionStore` lives in memory: a process killed mid-execution (SIGKILL, OOM)
would leave orders at the venue that no later process knows of. The journal appends one
compact line per execution before its first leg can be written (the request: opportunity
id, every leg's client order id, instrument, side, size, price) and one when it is
reported. A new process reads it at start: every execution without its ``done`` line may
have orders at the venue and is handed to the executor's take-over path (look each order
up by client order id, never resend).

Each line is one plain ``os.write`` on an ``O_APPEND`` descriptor opened once: no await,
no fsync. A killed process's writes stay in the OS page cache and reach the file; a
machine crash (power, kernel) can lose the last lines unless ``fsync`` is on (costs a disk
flush per record on the order path).
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from actors.trading.messages import ExecutionRequest
from protocols.messages import OrderIntent


class _Begin(msgspec.Struct, frozen=True, tag="b"):
    request: ExecutionRequest


class _Unwind(msgspec.Struct, frozen=True, tag="u"):
    intent: OrderIntent
    leg_client_order_id: str


class _Done(msgspec.Struct, frozen=True, tag="d"):
    opportunity_id: str


_Record = _Begin | _Unwind | _Done
_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(_Record)


class JournalStats(msgspec.Struct, frozen=True):
    begun: int
    done: int
    bad_lines: int  # undecodable lines skipped at load (a torn last line after a crash)


class ExecutionJournal:
    """Append-only; owned by the executor incarnation running (one Trio thread)."""

    def __init__(self, path: Path, *, fsync: bool = False) -> None:
        self.path = path
        self._fsync = fsync
        self._fd = -1
        self.begun = 0
        self.done = 0
        self.bad_lines = 0
        # opportunity id -> unwind orders (intent, leg's client order id) of the unfinished
        self.unwinds: dict[str, list[tuple[OrderIntent, str]]] = {}

    @classmethod
    def open(
        cls, path: Path, *, fsync: bool = False
    ) -> tuple[ExecutionJournal, list[ExecutionRequest]]:
        """Read what an earlier process left unfinished, compact the file to just that,
        and open it for appending."""
        journal = cls(path, fsync=fsync)
        unfinished = journal._load()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(
            b"".join(
                _ENCODER.encode(record) + b"\n"
                for r in unfinished
                for record in (
                    _Begin(r),
                    *(_Unwind(i, leg) for i, leg in journal.unwinds.get(r.opportunity_id, ())),
                )
            )
        )
        os.replace(tmp, path)
        journal._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return journal, unfinished

    def _load(self) -> list[ExecutionRequest]:
        if not self.path.exists():
            return []
        open_: dict[str, ExecutionRequest] = {}
        for line in self.path.read_bytes().splitlines():
            if not line.strip():
                continue
            try:
                record = _DECODER.decode(line)
            except msgspec.DecodeError:
                self.bad_lines += 1
                continue
            if isinstance(record, _Begin):
                open_[record.request.opportunity_id] = record.request
            elif isinstance(record, _Unwind):
                opp = record.intent.opportunity_id
                if opp in open_:
                    self.unwinds.setdefault(opp, []).append(
                        (record.intent, record.leg_client_order_id)
                    )
            else:
                self.unwinds.pop(record.opportunity_id, None)
                open_.pop(record.opportunity_id, None)
        return list(open_.values())

    def _append(self, data: bytes) -> None:
        os.write(self._fd, data)
        if self._fsync:
            os.fsync(self._fd)

    def begin(self, request: ExecutionRequest) -> None:
        self._append(_ENCODER.encode(_Begin(request)) + b"\n")
        self.begun += 1

    def unwind(self, intent: OrderIntent, leg_client_order_id: str) -> None:
        self._append(_ENCODER.encode(_Unwind(intent, leg_client_order_id)) + b"\n")

    def finish(self, opportunity_id: str) -> None:
        self._append(_ENCODER.encode(_Done(opportunity_id)) + b"\n")
        self.done += 1

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def statistics(self) -> JournalStats:
        return JournalStats(self.begun, self.done, self.bad_lines)


__all__ = ["ExecutionJournal", "JournalStats"]
