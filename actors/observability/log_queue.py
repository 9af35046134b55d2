"""Log records leave the Trio thread through a bounded queue; a thread formats and writes.

Every actor shares one thread, so a log line formatted and written where it is logged
costs the whole tree that time, and a sink that blocks (a full pipe, a terminal paused
with Ctrl-S, a slow disk) would stop the tree: feeds, the watchdog and all. Here the
logging call only merges the message with its arguments and puts the record on a queue
(``put_nowait``); :class:`logging.handlers.QueueListener`'s thread runs the formatting,
the redaction and the write.

The queue is bounded (``[observability.logging] queue_size``). When it is full, a record
is dropped and counted, never waited for; the writer thread writes one WARNING line where
a run of records went missing, with how many. ``queue_size = 0`` writes
in the calling thread instead (the order of lines against a crash, when debugging).
"""

from __future__ import annotations

import logging
import queue
import threading
from logging.handlers import QueueHandler, QueueListener

import attrs

__all__ = ["LogQueueStatistics", "LogSink"]


@attrs.frozen
class LogQueueStatistics:
    queued: int  # records waiting for the writer thread
    capacity: int  # 0: no queue, records are written in the calling thread
    written: int  # records the writer thread took and handed to the output
    dropped: int  # records dropped because the queue was full


class _Dropped:
    """Stands in the queue where records were dropped: one per run of drops."""

    def __init__(self) -> None:
        self.count = 0
        self.taken = False  # the writer has it: a new drop needs a new marker


class _Flush:
    """Put on the queue by :meth:`LogSink.flush`; set when the writer reaches it."""

    def __init__(self) -> None:
        self.done = threading.Event()


class _DroppingQueueHandler(QueueHandler):
    """Puts records without waiting; counts the ones over capacity as dropped.

    The queue is a :class:`queue.SimpleQueue` (C, one lock) bounded by counting: records
    put minus records the writer took. ``queue.Queue(maxsize)`` costs the caller more
    per record (a condition variable per put). A run of drops puts one :class:`_Dropped`
    marker, so the writer's notice lands where the records went missing."""

    def __init__(self, q: queue.SimpleQueue[object], capacity: int) -> None:
        super().__init__(q)
        self.capacity = capacity
        self.put = 0
        self.taken = 0  # records the writer thread took; only it counts them
        self.dropped = 0
        self.drop_lock = threading.Lock()  # any thread may log; only drops take it
        self._marker: _Dropped | None = None

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # Merge the arguments now: they may be mutable objects their owner changes before
        # the writer thread gets to them. The (costly) formatting happens over there.
        record.msg = record.getMessage()
        record.args = None
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        if self.put - self.taken < self.capacity:
            self.put += 1
            self._marker = None
            self.queue.put_nowait(record)
            return
        with self.drop_lock:
            self.dropped += 1
            marker = self._marker
            if marker is None or marker.taken:
                marker = self._marker = _Dropped()
                self.queue.put_nowait(marker)
            marker.count += 1


class _Writer(QueueListener):
    """The writer thread: records to the output, and a WARNING line where some were
    dropped."""

    def __init__(self, source: _DroppingQueueHandler, output: logging.Handler) -> None:
        super().__init__(source.queue, output)
        self.source = source
        self.output = output

    def handle(self, record: logging.LogRecord | _Dropped | _Flush) -> None:
        if isinstance(record, logging.LogRecord):
            self.source.taken += 1
            self.output.handle(record)
        elif isinstance(record, _Dropped):
            with self.source.drop_lock:
                record.taken = True
                count, total = record.count, self.source.dropped
            notice = "log queue full: %d records dropped here (%d in all)"
            self.output.handle(
                logging.LogRecord(
                    "arbtree.logging", logging.WARNING, __file__, 0, notice, (count, total), None
                )
            )
        else:
            self.output.flush()
            record.done.set()


class LogSink:
    """The installed log pipeline: the handler on the root logger and, with a queue, the
    thread that writes. :meth:`flush` waits until every record queued before it is
    written; :meth:`close` writes what is queued, stops the thread and closes the output."""

    def __init__(self, output: logging.Handler, queue_size: int) -> None:
        self.output = output
        self.capacity = max(0, queue_size)
        self._source: _DroppingQueueHandler | None = None
        self._writer: _Writer | None = None
        self._running = False
        self.handler: logging.Handler = output
        if self.capacity:
            self._source = _DroppingQueueHandler(queue.SimpleQueue(), self.capacity)
            self._writer = _Writer(self._source, output)
            self.handler = self._source
            self._writer.start()
            self._running = True

    def flush(self) -> None:
        if self._source is not None and self._running:
            marker = _Flush()
            self._source.queue.put_nowait(marker)
            marker.done.wait()
        else:
            self.output.flush()

    def close(self, timeout_s: float = 5.0) -> bool:
        """Write what is queued and stop the thread. False if the output held the thread up
        beyond ``timeout_s``: it is a daemon and is left behind, so a stuck terminal
        cannot keep the process from exiting."""
        writer = self._writer
        if writer is not None and self._running:
            self._running = False
            thread = writer._thread  # QueueListener.stop() would join without a timeout
            writer.enqueue_sentinel()
            if thread is not None:
                thread.join(timeout_s)
                if thread.is_alive():
                    return False
            writer._thread = None
        self.output.close()
        return True

    def statistics(self) -> LogQueueStatistics:
        source = self._source
        return LogQueueStatistics(
            queued=source.put - source.taken if source is not None else 0,
            capacity=self.capacity,
            written=source.taken if source is not None else 0,
            dropped=source.dropped if source is not None else 0,
        )
