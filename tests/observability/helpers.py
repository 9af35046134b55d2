"""A real supervision tree with the control actor in it, served over loopback."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import httpx
import msgspec
import trio
import trio.testing

from actors.observability.control import CONTROL_FILE, ControlInfo, ControlPlane, ControlServer
from actors.observability.metrics import Metrics
from actors.shutdown_phases import new_shutdown
from protocols.config.observability import ControlConfig
from protocols.tree import (
    FailureInfo,
    LifecycleState,
    MailboxStats,
    NodeKind,
    NodeSnapshot,
    TreeSnapshot,
)
from supervision import (
    Actor,
    ActorContext,
    Backoff,
    ChildSpec,
    Mailbox,
    OverflowPolicy,
    SupervisorSpec,
)
from supervision.tree import Tree, open_tree


@attrs.define(eq=False)
class Idle(Actor):
    """Drains its inbox and counts what it got."""

    got: list[object]

    async def run(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        while True:
            batch = await ctx.inbox.receive_batch()
            self.got.extend(batch)
            ctx.heartbeat()


@attrs.define(eq=False)
class Crasher(Actor):
    """Fails right after starting; with a long backoff it then sits in BACKOFF."""

    async def run(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        await trio.lowlevel.checkpoint()
        raise RuntimeError("simulated crash")


@attrs.define(eq=False)
class Stack:
    tree: Tree
    plane: ControlPlane
    run_dir: Path
    info: ControlInfo
    inbox: Mailbox[int]
    got: list[object]

    @property
    def url(self) -> str:
        return self.info.url

    @property
    def token(self) -> str:
        return Path(self.info.token_file).read_text().strip()

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=10.0, trust_env=False)

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def build_spec(
    plane: ControlPlane, run_dir: Path, inbox: Mailbox[int], got: list[object], crasher: bool
) -> SupervisorSpec:
    workers = [ChildSpec(id="idle", start=lambda: Idle(got), mailboxes=(inbox,))]
    if crasher:
        workers.append(
            ChildSpec(id="crasher", start=Crasher, backoff=Backoff(min_s=3600.0, max_s=3600.0))
        )
    return SupervisorSpec(
        children=(
            ChildSpec(
                id="control",
                start=lambda: ControlServer(plane, ControlConfig(port=0), run_dir),
            ),
            ChildSpec(
                id="workers",
                start=SupervisorSpec(children=tuple(workers), max_restarts=100, max_seconds=60),
            ),
        ),
        max_restarts=10,
        max_seconds=60,
    )


async def settle(tree: Tree) -> None:
    """Let the runtime finish what it is doing (restarts, backoff timers being armed)."""
    for _ in range(5):
        await trio.testing.wait_all_tasks_blocked()


@contextlib.asynccontextmanager
async def open_stack(tmp_path: Path, *, crasher: bool = False) -> AsyncIterator[Stack]:
    run_dir = tmp_path / "run"
    plane = ControlPlane(Metrics(version="test", run_id="test-run"), run_id="test-run")
    inbox: Mailbox[int] = Mailbox("inbox", 8, OverflowPolicy.BLOCK)
    got: list[object] = []
    spec = build_spec(plane, run_dir, inbox, got, crasher)
    async with open_tree(spec, name="arbtree", shutdown=new_shutdown()) as tree:
        plane.attach_tree(tree)
        info = msgspec.json.decode((run_dir / CONTROL_FILE).read_bytes(), type=ControlInfo)
        await settle(tree)
        yield Stack(tree, plane, run_dir, info, inbox, got)


def node(snapshot: TreeSnapshot, path: str) -> NodeSnapshot:
    return next(n for n in snapshot.nodes if n.path == path)


def sample_snapshot(*, taken_at: float = 1_000.0, received: int = 500) -> TreeSnapshot:
    """A hand-built tree with one failed, one restarting and one backing-off child."""
    failure = FailureInfo(
        type="builtins.ConnectionResetError",
        message="peer reset the websocket",
        traceback='  File "feed.py", line 42, in run\nConnectionResetError: peer reset',
        at=990.0,
    )

    def mb(name: str, depth: int, capacity: int, peak: int, dropped: int = 0) -> MailboxStats:
        return MailboxStats(
            name=name,
            policy="block",
            depth=depth,
            capacity=capacity,
            peak=peak,
            sent=received + depth,
            received=received,
            dropped=dropped,
            coalesced=0,
        )

    w = NodeKind.WORKER
    s = NodeKind.SUPERVISOR
    nodes = (
        NodeSnapshot(
            path="arbtree",
            kind=s,
            state=LifecycleState.RUNNING,
            strategy="one_for_one",
            uptime_s=3725.0,
            children=("arbtree/market", "arbtree/feeds"),
        ),
        NodeSnapshot(
            path="arbtree/market",
            kind=s,
            state=LifecycleState.RUNNING,
            strategy="rest_for_one",
            restart="permanent",
            uptime_s=3700.0,
            children=("arbtree/market/quote_cache",),
        ),
        NodeSnapshot(
            path="arbtree/market/quote_cache",
            kind=w,
            state=LifecycleState.RUNNING,
            restart="permanent",
            uptime_s=3699.0,
            mailboxes=(mb("books", 40, 100, 75),),
            heartbeat_age_s=0.2,
        ),
        NodeSnapshot(
            path="arbtree/feeds",
            kind=s,
            state=LifecycleState.RUNNING,
            strategy="one_for_one",
            restart="permanent",
            uptime_s=3700.0,
            children=("arbtree/feeds/kalshi", "arbtree/feeds/polymarket", "arbtree/feeds/binance"),
        ),
        NodeSnapshot(
            path="arbtree/feeds/kalshi",
            kind=w,
            state=LifecycleState.FAILED,
            restart="transient",
            restarts_total=3,
            restarts_in_window=3,
            last_failure=failure,
        ),
        NodeSnapshot(
            path="arbtree/feeds/polymarket",
            kind=w,
            state=LifecycleState.STARTING,
            restart="permanent",
            restarts_total=1,
            restarts_in_window=1,
            mailboxes=(mb("commands", 0, 16, 16, dropped=7),),
        ),
        NodeSnapshot(
            path="arbtree/feeds/binance",
            kind=w,
            state=LifecycleState.BACKOFF,
            restart="permanent",
            restarts_total=5,
            restarts_in_window=2,
            degraded_reason="backing off 8.0s",
        ),
    )
    return TreeSnapshot(
        taken_at=taken_at,
        root="arbtree",
        nodes=nodes,
        shutdown_phase=None,
        extra={"trading_state": "reducing"},
    )
