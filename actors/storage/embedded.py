"""The embedded PostgreSQL: a ``pgserver`` instance whose data lives under the run directory.

Postgres refuses to run as root. pgserver handles that itself: when the effective uid is 0
it creates (``useradd``) a system user ``pgserver``, gives it the data directory and makes
the directories above it traversable (``o+rx``), and runs ``initdb``/``pg_ctl`` as that
user. As a normal user it simply runs as that user. The server listens only on a Unix
socket in the data directory (or in a runtime directory when that path is too long).

The server is left running for the life of the process and stopped at exit (pgserver's
``atexit`` hook); after a crash the next start finds it still running and reuses it.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import trio

from actors.storage.errors import EmbeddedPostgresError

log = logging.getLogger("arbtree.storage.embedded")

EMBEDDED_DB_NAME = "arbtree"
_HINT = (
    "pass a DSN instead: `arbtree run --db postgresql://user@host:5432/dbname` "
    "or set ARBTREE_DB_DSN"
)


def _start_blocking(pgdata: Path) -> str:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI): harmless here.
        warnings.simplefilter("ignore")
        import pgserver

        pgdata.mkdir(parents=True, exist_ok=True)
        server: Any = getattr(pgserver, "get_server")(pgdata, cleanup_mode="stop")  # noqa: B009
        uri: str = server.get_uri()
    return uri


def with_database(server_uri: str, dbname: str) -> str:
    """Replace the database part of a ``postgresql://`` URI."""
    parts = urlsplit(server_uri)
    return parts._replace(path="/" + quote(dbname)).geturl()


async def start_embedded(pgdata: Path) -> str:
    """Start (or reuse) the embedded server in ``pgdata``; return its server URI.

    Raises :class:`EmbeddedPostgresError` with the reason and how to pass a DSN instead.
    """
    try:
        return await trio.to_thread.run_sync(_start_blocking, pgdata)
    except Exception as exc:  # pgserver raises CalledProcessError, OSError, asserts...
        server_log = pgdata / "log"
        if server_log.exists():
            try:
                for line in server_log.read_text(errors="replace").splitlines()[-10:]:
                    log.error("embedded PostgreSQL log: %s", line)
            except OSError:
                pass
        who = "root" if hasattr(os, "geteuid") and os.geteuid() == 0 else "a normal user"
        raise EmbeddedPostgresError(
            f"could not start the embedded PostgreSQL in {pgdata} (running as {who}): "
            f"{type(exc).__name__}: {exc}; its log: {server_log}; {_HINT}"
        ) from exc
