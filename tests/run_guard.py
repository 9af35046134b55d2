"""``no_run``: a fixture that records, and refuses, any start of ``arbtree run``'s run
(sim, database, tree), for tests of what must be refused before anything starts.
Import it into a test module (``from tests.run_guard import no_run``)."""

from __future__ import annotations

from typing import Any

import pytest

from arbtree import runner


@pytest.fixture
def no_run(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The starts attempted (an empty list when nothing started)."""
    started: list[Any] = []

    async def refuse(*args: Any, **kwargs: Any) -> None:
        started.append(args)
        raise AssertionError("the run started")

    monkeypatch.setattr(runner, "run_app", refuse)
    monkeypatch.setattr(runner, "open_assembly", refuse)
    return started
