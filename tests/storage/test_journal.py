"""The spill journal on its own: framing, fsync'd batches, torn tails, corruption."""

from __future__ import annotations

import uuid
from pathlib import Path

from actors.storage.journal import MAGIC, Journal, decode_entry, encode_entry, read_segment


def _payloads(n: int, start: int = 0) -> list[bytes]:
    return [encode_entry("tick", uuid.uuid4(), {"i": start + i}) for i in range(n)]


def test_append_seal_read_remove(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    j.open()
    j.append(_payloads(3))
    j.append(_payloads(2, 3))
    assert j.pending_records == 5
    assert j.sealed() == []
    j.seal()
    [seg] = j.sealed()
    got = [decode_entry(p) for p in j.read(seg)]
    assert [e.kind for e in got] == ["tick"] * 5
    j.remove(seg)
    assert j.pending_records == 0
    assert not seg.exists()
    j.close()
    assert list(tmp_path.glob("*.seg")) == []


def test_reopen_after_crash_replays_in_order(tmp_path: Path) -> None:
    j = Journal(tmp_path, segment_max_bytes=200)  # forces several segments
    j.open()
    for k in range(5):
        j.append(_payloads(2, 2 * k))
    # no close(): a crash
    j2 = Journal(tmp_path)
    j2.open()
    assert j2.pending_records == 10
    import msgspec

    values = [
        msgspec.msgpack.decode(decode_entry(p).data)["i"] for s in j2.sealed() for p in j2.read(s)
    ]
    assert values == list(range(10))


def test_torn_tail_is_skipped_with_warning(tmp_path: Path, caplog: object) -> None:
    j = Journal(tmp_path)
    j.open()
    j.append(_payloads(4))
    seg = next(tmp_path.glob("*.seg"))
    data = seg.read_bytes()
    for cut in (1, 5, 9):  # inside the payload, inside the header
        seg.write_bytes(data[:-cut])
        result = read_segment(seg)
        assert result.torn_tail
        assert not result.corrupt
        assert len(result.payloads) == 3
    j2 = Journal(tmp_path)
    j2.open()
    assert j2.torn_tails == 1
    assert j2.pending_records == 3


def test_corrupt_middle_keeps_prefix_and_file(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    j.open()
    j.append(_payloads(4))
    seg = next(tmp_path.glob("*.seg"))
    data = bytearray(seg.read_bytes())
    data[len(MAGIC) + 8 + 2] ^= 0xFF  # flip a byte in the first payload
    seg.write_bytes(bytes(data))
    result = read_segment(seg)
    assert result.corrupt
    assert result.payloads == []
    j2 = Journal(tmp_path)
    j2.open()
    [s] = j2.sealed()
    j2.remove(s)
    assert s.with_suffix(".corrupt").exists()


def test_empty_and_header_only_segments_are_dropped(tmp_path: Path) -> None:
    (tmp_path / "000000000001.seg").write_bytes(b"")
    (tmp_path / "000000000002.seg").write_bytes(MAGIC[:3])
    j = Journal(tmp_path)
    j.open()
    assert j.pending_records == 0
    assert j.sealed() == []
