"""Subprocess for the crash test: writes ticks forever, printing each durable high-water mark.

Usage: python -m tests.storage.crash_writer DSN RUN_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import trio

from actors.storage.database import open_database
from tests.storage.helpers import fast_config, running_writer, tick


async def main(dsn: str, run_dir: Path) -> None:
    # a tiny watermark keeps the writer mostly spilling: the kill lands mid-journal
    cfg = fast_config(mailbox_capacity=2_000, spill_watermark=0.05, batch_max_rows=200)
    high = -1

    def durable(envs: Any, via: str) -> None:
        nonlocal high
        for _, record in envs:
            high = max(high, record.recv_ns)
        print(f"durable {high} {via}", flush=True)

    async with (
        open_database(dsn, run_dir, cfg) as db,
        running_writer(db, run_dir / "journal", cfg, on_durable=durable) as (sink, _),
    ):
        i = 0
        while True:
            # stay clear of the overflow path, so "durable up to N" means 0..N
            while len(sink.mailbox) > 1_500:  # noqa: ASYNC110 - polling a depth
                await trio.sleep(0.001)
            for _ in range(100):
                sink.put(tick(i))
                i += 1
            await trio.sleep(0.002)


if __name__ == "__main__":
    trio.run(main, sys.argv[1], Path(sys.argv[2]))
