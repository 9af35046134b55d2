"""Readiness follows the registered checks and the tree; liveness does not."""

from __future__ import annotations

from pathlib import Path

import attrs

from actors.observability.health import ReadinessChecks
from tests.observability.helpers import open_stack


@attrs.define
class FakeFeed:
    connected: bool = True
    book_age_s: float = 0.1
    max_age_s: float = 5.0

    def ready(self) -> tuple[bool, str]:
        if not self.connected:
            return False, "websocket disconnected"
        if self.book_age_s > self.max_age_s:
            return False, f"books stale ({self.book_age_s:.1f}s > {self.max_age_s:.1f}s)"
        return True, f"connected, books {self.book_age_s:.1f}s old"


@attrs.define
class FakeStorage:
    writable: bool = True

    def ready(self) -> tuple[bool, str]:
        return (True, "writable") if self.writable else (False, "database unreachable")


async def test_ready_turns_off_when_a_feed_goes_stale_or_storage_fails_and_back_on(
    tmp_path: Path,
) -> None:
    feed, storage = FakeFeed(), FakeStorage()
    async with open_stack(tmp_path) as stack, stack.client() as client:
        stack.plane.readiness.register("feed:kalshi", feed.ready)
        stack.plane.readiness.register("storage", storage.ready)
        stack.plane.readiness.register("reconciled", lambda: (True, "positions reconciled"))

        r = await client.get("/health/ready")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["ready"] is True
        assert body["failed"] == []
        names = [c["name"] for c in body["checks"]]
        assert names == ["tree", "shutdown", "feed:kalshi", "storage", "reconciled"]

        feed.book_age_s = 30.0
        r = await client.get("/health/ready")
        assert r.status_code == 503
        assert r.json()["failed"] == ["feed:kalshi"]
        failed = {c["name"]: c["reason"] for c in r.json()["checks"] if not c["ok"]}
        assert failed == {"feed:kalshi": "books stale (30.0s > 5.0s)"}

        storage.writable = False
        r = await client.get("/health/ready")
        assert r.status_code == 503
        assert r.json()["failed"] == ["feed:kalshi", "storage"]

        feed.book_age_s = 0.2
        storage.writable = True
        r = await client.get("/health/ready")
        assert r.status_code == 200
        assert r.json()["ready"] is True

        # liveness never depended on any of it
        assert (await client.get("/health/live")).status_code == 200


async def test_a_backing_off_child_makes_the_tree_check_fail(tmp_path: Path) -> None:
    async with open_stack(tmp_path, crasher=True) as stack, stack.client() as client:
        r = await client.get("/health/ready")
        assert r.status_code == 503
        body = r.json()
        assert body["failed"] == ["tree"]
        assert body["checks"][0]["reason"] == "arbtree/workers/crasher is backoff"


def test_checks_that_raise_are_failures_and_unregister_is_scoped() -> None:
    checks = ReadinessChecks()

    def broken() -> tuple[bool, str]:
        raise RuntimeError("no state yet")

    unregister_old = checks.register("feed", broken)
    report = checks.evaluate(require_tree=False)
    assert not report.ready
    assert report.checks[0].reason == "check raised RuntimeError: no state yet"

    # a restarted component replaces its check; the old incarnation's unregister is a no-op
    unregister_new = checks.register("feed", lambda: (True, "ok"))
    unregister_old()
    assert checks.names() == ("feed",)
    assert checks.evaluate(require_tree=False).ready
    unregister_new()
    assert checks.names() == ()
    assert not checks.evaluate().ready  # no tree attached
