"""Record factories, a writer harness without a full tree, and a cuttable TCP proxy."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import trio

from actors.shutdown_phases import new_shutdown
from actors.storage.actor import DbWriter
from actors.storage.database import Database
from actors.storage.sink import StorageSink
from protocols.config.storage import StorageConfig
from protocols.messages import (
    Decision,
    Fill,
    FillRecord,
    FillStatus,
    FundCheckpointRecord,
    InstrumentId,
    Liquidity,
    Opportunity,
    OpportunityLeg,
    OpportunityRecord,
    OrderRecord,
    OrderState,
    Outcome,
    Position,
    Side,
    TickRecord,
    Venue,
    VenueBalance,
)
from protocols.tree import SupervisionEvent, SupervisionEventKind
from supervision import Mailbox
from supervision.actor import ActorContext, NodeStatus

NOW_MS = int(time.time() * 1000)
INSTR = InstrumentId(venue=Venue.KALSHI, symbol="KXBTC-25", outcome=Outcome.YES)
INSTR2 = InstrumentId(venue=Venue.POLYMARKET, symbol="12345")


def tick(i: int, *, symbol: str = "KXBTC-25", wall_ms: int | None = None) -> TickRecord:
    return TickRecord(
        instrument=InstrumentId(venue=Venue.KALSHI, symbol=symbol, outcome=Outcome.YES),
        bid=400_000 + i % 1000,
        bid_size=10_000_000,
        ask=410_000 + i % 1000,
        ask_size=5_000_000,
        venue_ts_ms=NOW_MS,
        recv_ns=i,
        wall_ms=NOW_MS if wall_ms is None else wall_ms,
    )


def opportunity(i: int) -> OpportunityRecord:
    opp = Opportunity(
        opportunity_id=f"opp-{i}",
        strategy="cross_venue",
        legs=(
            OpportunityLeg(instrument=INSTR, side=Side.BUY, limit_price=450_000, size=1_000_000),
            OpportunityLeg(instrument=INSTR2, side=Side.BUY, limit_price=500_000, size=1_000_000),
        ),
        expected_edge=20_000,
        fees=3_000,
        venue_ts_ms=NOW_MS,
        recv_ns=1,
        detect_ns=2,
    )
    return OpportunityRecord(
        opportunity=opp,
        decision=Decision.REJECTED if i % 2 else Decision.ACCEPTED,
        reject_reason="stale" if i % 2 else "",
        decided_ns=3,
        wall_ms=NOW_MS,
    )


def order(coid: str, state: OrderState, filled: int, wall_ms: int) -> OrderRecord:
    return OrderRecord(
        client_order_id=coid,
        venue_order_id="v-" + coid,
        opportunity_id="opp-1",
        instrument=INSTR,
        side=Side.BUY,
        limit_price=450_000,
        size=2_000_000,
        filled_size=filled,
        state=state,
        reason="",
        updated_ns=wall_ms,
        wall_ms=wall_ms,
    )


def fill(
    fill_id: str, status: FillStatus = FillStatus.MATCHED, wall_ms: int = NOW_MS
) -> FillRecord:
    return FillRecord(
        fill=Fill(
            fill_id=fill_id,
            venue_order_id="v-1",
            client_order_id="arb-1",
            instrument=INSTR,
            side=Side.BUY,
            price=450_000,
            size=1_000_000,
            fee=7_000,
            liquidity=Liquidity.TAKER,
            status=status,
            venue_ts_ms=NOW_MS,
            recv_ns=5,
        ),
        wall_ms=wall_ms,
    )


def checkpoint(i: int) -> FundCheckpointRecord:
    return FundCheckpointRecord(
        balances=(VenueBalance(venue=Venue.KALSHI, cash=100_000_000, reserved=i),),
        positions=(
            Position(instrument=INSTR, size=2_000_000, cost=900_000, realized_pnl=0, updated_ns=1),
            Position(instrument=INSTR2, size=-1_000_000, cost=0, realized_pnl=5, updated_ns=2),
        ),
        open_orders=("arb-1",),
        taken_ns=i,
        wall_ms=NOW_MS,
    )


def event(i: int) -> SupervisionEvent:
    return SupervisionEvent(
        kind=SupervisionEventKind.STARTED, path=f"arbtree/x{i}", at=time.time(), detail=""
    )


def fast_config(**overrides: Any) -> StorageConfig:
    base: dict[str, Any] = {
        "connect_timeout_s": 2.0,
        "acquire_timeout_s": 2.0,
        "command_timeout_s": 3.0,
        "close_timeout_s": 2.0,
        "batch_max_age_s": 0.01,
        "retry_fast_interval_s": 0.05,
        "retry_fast_window_s": 0.5,
        "retry_slow_interval_s": 0.2,
        "flush_timeout_s": 5.0,
        "mailbox_capacity": 10_000,
    }
    base.update(overrides)
    return StorageConfig(**base)


@asynccontextmanager
async def running_writer(
    db: Database,
    journal_dir: Path,
    config: StorageConfig,
    *,
    sink: StorageSink | None = None,
    on_durable: Callable[..., None] | None = None,
) -> AsyncIterator[tuple[StorageSink, DbWriter]]:
    """Run one DbWriter incarnation outside a tree; flush it on exit like shutdown does."""
    if sink is None:
        sink = StorageSink(Mailbox("db_writer", capacity=config.mailbox_capacity))
    actor = DbWriter(
        db=db, sink=sink, config=config, journal_dir=journal_dir, on_durable=on_durable
    )
    ctx = ActorContext(
        path="test/db_writer",
        log=logging.LoggerAdapter(logging.getLogger("test.db_writer")),
        mailboxes={"db_writer": sink.mailbox},
        shutdown=new_shutdown(),
        node=NodeStatus(),
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run, ctx)
        yield sink, actor
        await actor.flush_all()
        nursery.cancel_scope.cancel()


async def wait_until(predicate: Callable[[], bool], *, limit_s: float = 20.0) -> None:
    with trio.fail_after(limit_s):
        while not predicate():  # noqa: ASYNC110 - polling state owned by the writer
            await trio.sleep(0.02)


class Proxy:
    """A loopback TCP proxy in front of Postgres that a test can cut and restore."""

    def __init__(self, dsn: str) -> None:
        parts = urlsplit(dsn)
        query = dict(parse_qsl(parts.query))
        self._unix: str | None = None
        if "host" in query and query["host"].startswith("/"):
            self._unix = f"{query.pop('host')}/.s.PGSQL.{parts.port or 5432}"
            self._target = ("", 0)
        else:
            self._target = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self._parts = parts
        self._query = query
        self.port = 0
        self.cut = False
        self._scopes: set[trio.CancelScope] = set()

    @property
    def dsn(self) -> str:
        user = self._parts.username or "postgres"
        return self._parts._replace(
            netloc=f"{user}@127.0.0.1:{self.port}", query=urlencode(self._query)
        ).geturl()

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started()
        await trio.serve_listeners(self._handle, listeners)

    def cut_all(self) -> None:
        self.cut = True
        for scope in list(self._scopes):
            scope.cancel()

    def restore(self) -> None:
        self.cut = False

    async def _handle(self, client: trio.SocketStream) -> None:
        async with client:
            if self.cut:
                return
            upstream: trio.abc.Stream
            if self._unix is not None:
                upstream = await trio.open_unix_socket(self._unix)
            else:
                upstream = await trio.open_tcp_stream(*self._target)
            async with upstream:
                with trio.CancelScope() as scope:
                    self._scopes.add(scope)
                    try:
                        async with trio.open_nursery() as nursery:
                            nursery.start_soon(self._pump, client, upstream, nursery)
                            nursery.start_soon(self._pump, upstream, client, nursery)
                    finally:
                        self._scopes.discard(scope)

    @staticmethod
    async def _pump(src: trio.abc.Stream, dst: trio.abc.Stream, nursery: trio.Nursery) -> None:
        try:
            while data := await src.receive_some(65536):
                await dst.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        nursery.cancel_scope.cancel()
