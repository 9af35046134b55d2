"""The log pipeline: the logging call never waits for the output; a full queue drops,
counts and says where; close writes what is queued."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
import trio

from actors.observability.logging import close_logging, configure_logging
from protocols.config.observability import LoggingConfig
from tests.gated_io import FAILSAFE_S, GatedStream, gated_stream


@pytest.fixture
def stream() -> Iterator[GatedStream]:
    with gated_stream() as out:
        yield out
    close_logging()


def _lines(out: io.StringIO) -> list[str]:
    return [line.split(": ", 1)[1] for line in out.getvalue().splitlines()]


def test_logging_returns_while_the_output_is_blocked(stream: GatedStream) -> None:
    sink = configure_logging(LoggingConfig(queue_size=100), run_id="r", stream=stream)
    log = logging.getLogger("arbtree.test")
    log.warning("first")
    assert stream.entered.wait(FAILSAFE_S)  # the writer thread is now stuck in write()
    for i in range(10):
        log.warning("more %d", i)
    assert not stream.gate.is_set()  # the calls returned; the failsafe did not free them
    assert sink.statistics().queued == 10
    stream.gate.set()
    sink.flush()
    assert _lines(stream) == ["first", *(f"more {i}" for i in range(10))]
    stats = sink.statistics()
    assert (stats.queued, stats.written, stats.dropped) == (0, 11, 0)


def test_a_full_queue_drops_counts_and_says_where(stream: GatedStream) -> None:
    sink = configure_logging(LoggingConfig(queue_size=3), run_id="r", stream=stream)
    log = logging.getLogger("arbtree.test")
    log.warning("in write")
    assert stream.entered.wait(FAILSAFE_S)
    for i in range(8):  # 3 fit, 5 are dropped
        log.warning("burst %d", i)
    assert sink.statistics().dropped == 5
    stream.gate.set()
    sink.flush()
    # The writer is idle; block it again: a second run of drops gets its own notice.
    stream.gate.clear()
    stream.entered.clear()
    log.warning("after")
    assert stream.entered.wait(FAILSAFE_S)
    for i in range(5):  # 3 fit, 2 are dropped
        log.warning("late %d", i)
    stream.gate.set()
    sink.flush()
    assert _lines(stream) == [
        "in write",
        "burst 0",
        "burst 1",
        "burst 2",
        "log queue full: 5 records dropped here (5 in all)",
        "after",
        "late 0",
        "late 1",
        "late 2",
        "log queue full: 2 records dropped here (7 in all)",
    ]
    stats = sink.statistics()
    assert (stats.written, stats.dropped, stats.queued) == (8, 7, 0)


def test_close_writes_what_is_queued(stream: GatedStream) -> None:
    sink = configure_logging(LoggingConfig(queue_size=50), run_id="r", stream=stream)
    log = logging.getLogger("arbtree.test")
    for i in range(20):
        log.warning("line %d", i)
    stream.gate.set()
    close_logging()
    assert _lines(stream) == [f"line {i}" for i in range(20)]
    assert sink.statistics().written == 20
    assert sink.handler not in logging.getLogger().handlers


def test_close_gives_up_on_an_output_that_never_takes_the_line(stream: GatedStream) -> None:
    sink = configure_logging(LoggingConfig(queue_size=10), run_id="r", stream=stream)
    logging.getLogger("arbtree.test").warning("stuck")
    assert stream.entered.wait(FAILSAFE_S)
    assert sink.close(timeout_s=0.01) is False  # returned; the daemon thread is left
    assert not stream.gate.is_set()


def test_the_message_is_taken_when_logged_not_when_written(stream: GatedStream) -> None:
    sink = configure_logging(LoggingConfig(queue_size=10), run_id="r", stream=stream)
    log = logging.getLogger("arbtree.test")
    log.warning("blocker")
    assert stream.entered.wait(FAILSAFE_S)  # the book line below stays queued, unformatted
    book = {"bid": 1}
    log.warning("book %s", book)
    book["bid"] = 2  # the owner moves on before the writer thread formats the line
    stream.gate.set()
    sink.flush()
    assert _lines(stream) == ["blocker", "book {'bid': 1}"]


def test_queue_size_zero_writes_in_the_calling_thread() -> None:
    out = io.StringIO()
    sink = configure_logging(LoggingConfig(queue_size=0), run_id="r", stream=out)
    try:
        logging.getLogger("arbtree.test").warning("now")
        assert _lines(out) == ["now"]  # no flush: written before the call returned
        assert sink.statistics().capacity == 0
    finally:
        close_logging()


async def test_a_blocked_log_output_does_not_stop_the_trio_loop(stream: GatedStream) -> None:
    """The reason for the queue: every actor shares the thread that logs."""
    sink = configure_logging(LoggingConfig(queue_size=100), run_id="r", stream=stream)
    log = logging.getLogger("arbtree.test")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        for i in range(5):
            log.warning("from the loop %d", i)
            before = ticks
            await trio.lowlevel.checkpoint()
            await trio.lowlevel.checkpoint()
            assert ticks > before  # the other task ran after this one logged
        nursery.cancel_scope.cancel()
    assert not stream.gate.is_set()
    assert sink.statistics().queued >= 4
    stream.gate.set()
    sink.flush()
    assert _lines(stream) == [f"from the loop {i}" for i in range(5)]
