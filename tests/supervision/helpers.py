"""Test actors driven through their (persistent) mailboxes, recording what happens."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from supervision import Actor, ActorContext, ChildSpec, Mailbox, Restart
from supervision.spec import Backoff


class Journal:
    """Ordered record of ("start"|"stop"|"msg", id, detail) across every actor of a test."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str, Any]] = []

    def add(self, what: str, who: str, detail: Any = None) -> None:
        self.entries.append((what, who, detail))

    def of(self, what: str) -> list[str]:
        return [who for w, who, _ in self.entries if w == what]

    def clear(self) -> None:
        self.entries.clear()


class Worker(Actor):
    """Serves commands from its inbox: "crash", "exit", ("sleep", s); logs everything else."""

    def __init__(
        self,
        name: str,
        journal: Journal,
        *,
        fail_start: bool = False,
        cleanup_s: float = 0.0,
    ) -> None:
        self.name = name
        self.journal = journal
        self.fail_start = fail_start
        self.cleanup_s = cleanup_s

    async def run(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        if self.fail_start:
            raise RuntimeError(f"{self.name} cannot start")
        self.journal.add("start", self.name)
        task_status.started()
        try:
            while True:
                msg = await ctx.inbox.receive()
                if msg == "crash":
                    raise RuntimeError(f"{self.name} crashed")
                if msg == "exit":
                    return
                self.journal.add("msg", self.name, msg)
        finally:
            if self.cleanup_s:
                with ctx.grace():
                    await trio.sleep(self.cleanup_s)
                    self.journal.add("cleaned", self.name, ctx.now())
            self.journal.add("stop", self.name)


def worker(
    name: str,
    journal: Journal,
    *,
    restart: Restart = Restart.PERMANENT,
    shutdown: float | None = None,
    backoff: Backoff | None = None,
    significant: bool = False,
    factory: Callable[[], Actor] | None = None,
    capacity: int = 64,
    **kwargs: Any,
) -> tuple[ChildSpec, Mailbox[Any]]:
    inbox: Mailbox[Any] = Mailbox(f"{name}.inbox", capacity)
    spec = ChildSpec(
        id=name,
        start=factory or (lambda: Worker(name, journal, **kwargs)),
        restart=restart,
        shutdown=shutdown,
        backoff=backoff,
        significant=significant,
        mailboxes=(inbox,),
    )
    return spec, inbox


async def settle() -> None:
    await trio.testing.wait_all_tasks_blocked()
