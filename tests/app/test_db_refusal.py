"""An unreachable ``--db`` stops ``arbtree run`` with one line (password redacted) and
exit 2, before the simulated venue starts."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from arbtree import cli, resources


def closed_loopback_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        (
            "postgresql://bob:hunter2@127.0.0.1:{port}/arbtree",
            "postgresql://bob:***@127.0.0.1:{port}/arbtree",
        ),
        # the driver refuses these before any connection: OverflowError, ValueError
        ("postgresql://bob:hunter2@127.0.0.1:99999/arbtree", "bob:***@127.0.0.1:99999"),
        ("postgresql://bob:hunter2@127.0.0.1:-1/arbtree", "bob:***@127.0.0.1:-1"),
        ("postgresql://bob:hunter2@127.0.0.1:abc/arbtree", "bob:***@127.0.0.1:abc"),
        # not even a URL: the redaction itself must not fail on it
        ("postgresql://bob:hunter2@[::1/arbtree", "bob:***@[::1/arbtree"),
    ],
)
def test_an_unreachable_db_is_one_line_and_exit_2_before_the_sim(
    dsn: str,
    shown: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sims: list[Any] = []

    def no_sim(*args: Any, **kwargs: Any) -> Any:
        sims.append(args)
        raise AssertionError("the sim started")

    monkeypatch.setattr(resources, "open_sim_venue", no_sim)
    monkeypatch.setattr(resources, "open_sim_process", no_sim)
    monkeypatch.delenv("ARBTREE_DB_DSN", raising=False)
    port = closed_loopback_port()
    dsn, shown = dsn.replace("{port}", str(port)), shown.replace("{port}", str(port))
    code = cli.main(
        ["run", "--db", dsn, "--run-dir", str(tmp_path / "run"), "--duration", "1", "--no-panel"]
    )
    out, err = capfd.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("arbtree run: database: cannot connect to "), err
    assert shown in lines[0]
    assert "hunter2" not in err + out
    assert "Traceback" not in err
    assert sims == []
