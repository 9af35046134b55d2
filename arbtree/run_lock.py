"""One run per run directory: an exclusive ``flock`` on ``<run_dir>/arbtree.lock``.

Two runs on one directory would share the journal, the embedded database and
``control.json``. The lock is held for the life of the process (the kernel releases it
when the process dies, however it dies, so a stale lock file never blocks a new run); the
file holds the holder's pid so the refusal can name it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_FILE = "arbtree.lock"


class RunDirLocked(RuntimeError):
    """Another process holds the run directory's lock."""

    def __init__(self, run_dir: Path, holder: str) -> None:
        self.holder = holder
        super().__init__(
            f"run directory {run_dir} is in use by another arbtree run (pid {holder}); "
            "stop it or pass another --run-dir"
        )


class RunDirLock:
    """The held lock; :meth:`release` (or process exit) lets the next run in."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK_FILE
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunDirLocked(run_dir, holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd: int | None = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.ftruncate(fd, 0)
            os.close(fd)  # closing the descriptor releases the flock
