"""The local spill journal: append-only, length-prefixed, CRC32-checksummed, fsynced.

Layout: a directory of segment files ``NNNNNNNNNNNN.seg``. Each segment starts with
:data:`MAGIC`, then frames::

    u32 little-endian payload length | u32 little-endian crc32(payload) | payload

A payload is a msgpack :class:`JournalEntry` (record kind, record id, the record itself).
:meth:`Journal.append` writes a whole batch and fsyncs once: when it returns, the batch
survives a crash. New records always go to the *active* segment; :meth:`Journal.seal`
closes it so a replayer can read sealed segments while appends continue in a new one.
A replayed segment is deleted only after the database committed its records.

Recovery: a torn last frame (short header, short payload, or bad checksum with nothing
after it) is what a crash during ``append`` leaves; it was never acknowledged, so it is
skipped with a warning. A bad frame *followed by more data* is corruption: the readable
prefix is replayed and the file is kept as ``*.corrupt`` for inspection.
"""

from __future__ import annotations

import logging
import os
import struct
import uuid
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

log = logging.getLogger("arbtree.storage.journal")

MAGIC = b"ARBJNL1\n"
_HEADER = struct.Struct("<II")
_MAX_FRAME = 64 * 1024 * 1024


class JournalEntry(msgspec.Struct, array_like=True, frozen=True):
    kind: str
    rid: bytes
    data: msgspec.Raw


_encoder = msgspec.msgpack.Encoder()
_entry_decoder = msgspec.msgpack.Decoder(JournalEntry)


def encode_entry(kind: str, rid: uuid.UUID, record: Any) -> bytes:
    return _encoder.encode(JournalEntry(kind, rid.bytes, msgspec.Raw(_encoder.encode(record))))


def decode_entry(payload: bytes) -> JournalEntry:
    return _entry_decoder.decode(payload)


def frame(payload: bytes) -> bytes:
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


@dataclass
class ReadResult:
    """What reading one segment found."""

    payloads: list[bytes] = field(default_factory=list)
    torn_tail: bool = False
    corrupt: bool = False


def read_segment(path: Path) -> ReadResult:
    """Every intact payload of a segment, in order, with what went wrong at the end."""
    result = ReadResult()
    data = path.read_bytes()
    if not data:
        return result
    if not data.startswith(MAGIC):
        if len(data) < len(MAGIC) and MAGIC.startswith(data):
            result.torn_tail = True  # crashed while writing the header
        else:
            result.corrupt = True
        return result
    pos = len(MAGIC)
    end = len(data)
    while pos < end:
        if end - pos < _HEADER.size:
            result.torn_tail = True
            break
        length, crc = _HEADER.unpack_from(data, pos)
        start = pos + _HEADER.size
        stop = start + length
        if length > _MAX_FRAME:
            result.corrupt = True
            break
        if stop > end:
            result.torn_tail = True
            break
        payload = data[start:stop]
        if zlib.crc32(payload) != crc:
            if stop == end:
                result.torn_tail = True
            else:
                result.corrupt = True
            break
        result.payloads.append(payload)
        pos = stop
    return result


@dataclass
class _Segment:
    path: Path
    records: int
    size: int
    corrupt: bool = False


class Journal:
    """The spill journal in one directory. Blocking I/O: call from a worker thread (the
    writer does, one operation at a time)."""

    def __init__(self, directory: Path, segment_max_bytes: int = 64 * 1024 * 1024) -> None:
        self.directory = Path(directory)
        self.segment_max_bytes = segment_max_bytes
        self._sealed: list[_Segment] = []
        self._active: _Segment | None = None
        self._fd: int | None = None
        self._next = 1
        self.torn_tails = 0
        self.corrupt_segments = 0

    # ------------------------------------------------------------------ open / close

    def open(self) -> None:
        """Scan existing segments (left by a crash or an unfinished replay): they become
        sealed, to be replayed in order. Appends go to a new segment."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for path in sorted(self.directory.glob("*.seg")):
            try:
                number = int(path.stem)
            except ValueError:
                continue
            self._next = max(self._next, number + 1)
            result = read_segment(path)
            if result.torn_tail:
                self.torn_tails += 1
                log.warning(
                    "journal %s: torn last record skipped (a crash during append; it was "
                    "never acknowledged)",
                    path,
                )
            if not result.payloads and not result.corrupt:
                path.unlink()
                continue
            self._sealed.append(
                _Segment(path, len(result.payloads), path.stat().st_size, result.corrupt)
            )
        self._fsync_dir()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._active is not None and self._active.records == 0:
            self._active.path.unlink(missing_ok=True)
            self._active = None

    # ------------------------------------------------------------------ writing

    def append(self, payloads: Sequence[bytes]) -> int:
        """Append a batch and fsync; return the bytes written. Durable on return."""
        if not payloads:
            return 0
        if self._active is not None and self._active.size >= self.segment_max_bytes:
            self.seal()
        if self._active is None or self._fd is None:
            self._start_segment()
        assert self._active is not None
        assert self._fd is not None
        blob = b"".join(frame(p) for p in payloads)
        view = memoryview(blob)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        os.fsync(self._fd)
        self._active.records += len(payloads)
        self._active.size += len(blob)
        return len(blob)

    def seal(self) -> None:
        """Close the active segment (if it holds anything) so it can be replayed."""
        if self._active is None:
            return
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._active.records:
            self._sealed.append(self._active)
        else:
            self._active.path.unlink(missing_ok=True)
        self._active = None

    def _start_segment(self) -> None:
        path = self.directory / f"{self._next:012d}.seg"
        self._next += 1
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
        os.write(fd, MAGIC)
        os.fsync(fd)
        self._fd = fd
        self._active = _Segment(path, 0, len(MAGIC))
        self._fsync_dir()

    def _fsync_dir(self) -> None:
        try:
            dfd = os.open(self.directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    # ------------------------------------------------------------------ replaying

    def sealed(self) -> list[Path]:
        """Sealed segments, oldest first."""
        return [s.path for s in self._sealed]

    def read(self, path: Path) -> Iterator[bytes]:
        """The intact payloads of a sealed segment, in order."""
        result = read_segment(path)
        if result.corrupt:
            log.error(
                "journal %s is corrupt after %d intact records; they are replayed and "
                "the file kept as %s",
                path,
                len(result.payloads),
                path.with_suffix(".corrupt"),
            )
        yield from result.payloads

    def read_all(self, path: Path) -> list[bytes]:
        return list(self.read(path))

    def remove(self, path: Path) -> None:
        """Drop a sealed segment whose records are all committed to the database."""
        corrupt = False
        for i, seg in enumerate(self._sealed):
            if seg.path == path:
                corrupt = seg.corrupt
                del self._sealed[i]
                break
        if corrupt and path.exists():
            self.corrupt_segments += 1
            path.rename(path.with_suffix(".corrupt"))
        else:
            path.unlink(missing_ok=True)
        self._fsync_dir()

    # ------------------------------------------------------------------ facts

    @property
    def pending_records(self) -> int:
        active = self._active.records if self._active else 0
        return active + sum(s.records for s in self._sealed)

    @property
    def pending_bytes(self) -> int:
        active = self._active.size if self._active and self._active.records else 0
        return active + sum(s.size for s in self._sealed)

    @property
    def segments(self) -> int:
        active = 1 if self._active and self._active.records else 0
        return active + len(self._sealed)

    @property
    def active_records(self) -> int:
        return self._active.records if self._active else 0
