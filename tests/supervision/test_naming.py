"""What the runtime leaves to the application: its logger namespace and its shutdown
phases (the runtime names neither)."""

from __future__ import annotations

import pytest

from supervision import ShutdownCoordinator, SupervisorSpec, open_tree
from supervision.registry import Registry

from .helpers import Journal, worker


def _logger_names(paths: list[str], registry: Registry) -> list[str]:
    names = []
    for path in paths:
        node = registry.get(path)
        names.append(node.log.name if node is not None else f"no node {path}")
    return names


async def test_node_loggers_are_named_after_their_path() -> None:
    a, _ = worker("a", Journal())
    async with open_tree(SupervisorSpec(children=[a]), name="t") as tree:
        assert _logger_names(["t", "t/a"], tree.registry) == ["t", "t.a"]


async def test_node_loggers_live_under_the_applications_namespace() -> None:
    a, _ = worker("a", Journal())
    async with open_tree(SupervisorSpec(children=[a]), name="t", log_namespace="app") as tree:
        assert _logger_names(["t", "t/a"], tree.registry) == ["app.t", "app.t.a"]
    b, _ = worker("b", Journal())
    async with open_tree(SupervisorSpec(children=[b]), name="app", log_namespace="app") as tree:
        assert _logger_names(["app", "app/b"], tree.registry) == ["app", "app.b"]


def test_a_coordinator_knows_only_the_phases_it_was_given() -> None:
    async def task() -> None:
        pass

    with pytest.raises(ValueError, match=r"unknown shutdown phase 'stop'; phases are \[\]"):
        ShutdownCoordinator(()).add_task("stop", "a", task)
