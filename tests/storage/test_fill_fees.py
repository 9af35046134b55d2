"""The fees the database holds are the fees the books charged: a SQL sum over ``fills``
equals the fund's ``fees_paid`` (the run summary's ``fees_usd``) to the micro-dollar,
including Polymarket REST-derived fills, which report no fee of their own."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import msgspec
import trio

from actors.storage.database import open_database
from protocols.fixed import SIZE_ONE
from protocols.messages import Fill, FillRecord, FillStatus, InstrumentId, Liquidity, Side
from tests.storage.helpers import fast_config, running_writer
from tests.trading.helpers import KALSHI, POLY, core


def _fill(inst: InstrumentId, fid: str, *, price: int, fee: int, rate_bps: int = -1) -> Fill:
    return Fill(
        fill_id=fid,
        venue_order_id="v",
        client_order_id="",
        instrument=inst,
        side=Side.BUY,
        price=price,
        size=10 * SIZE_ONE,
        fee=fee,
        fee_rate_bps=rate_bps,
        liquidity=Liquidity.TAKER,
        status=FillStatus.MATCHED,
        venue_ts_ms=0,
        recv_ns=0,
    )


async def test_db_fee_sum_equals_the_books_fees(db_dsn: str, tmp_path: Path) -> None:
    records: list[Any] = []
    fund = core()
    fund.sink = records.append
    wall = itertools.count(1_000)
    fund.wall_ms = lambda: next(wall)  # each record newer than the last, as in a run
    fund.on_fill(_fill(POLY, "p-rest", price=450_000, fee=-1))  # REST: no fee, no rate
    fund.on_fill(_fill(POLY, "p-ws", price=450_000, fee=-1, rate_bps=100))  # rate given
    fund.on_fill(_fill(KALSHI, "k-1", price=500_000, fee=180_000))
    undone = _fill(POLY, "p-undone", price=450_000, fee=-1)
    fund.on_fill(undone)
    failed = msgspec.structs.replace(undone, status=FillStatus.FAILED)
    fund.on_fill(failed)  # settlement failed: the books reverse its fee
    fills = [r for r in records if isinstance(r, FillRecord)]
    assert len(fills) == 5
    books_fees = fund.ledger.fees_paid
    assert books_fees > 180_000  # Polymarket's part is in the books

    cfg = fast_config()
    with trio.fail_after(30):
        async with open_database(db_dsn, tmp_path, cfg) as db:
            async with running_writer(db, tmp_path / "journal", cfg) as (sink, _):
                for r in fills:
                    sink.put(r)
                await sink.flush()
            total = await db.run(lambda c: c.fetchval("SELECT sum(fee) FROM fills"))
            rows = await db.run(
                lambda c: c.fetch("SELECT fill_id, fee, fee_shares, fee_estimated FROM fills")
            )
    assert total == books_fees
    by_id = {row["fill_id"]: row for row in rows}
    assert by_id["p-rest"]["fee_estimated"] is True
    assert by_id["p-rest"]["fee_shares"] > 0  # a Polymarket buy pays its fee in shares
    assert by_id["p-ws"]["fee_estimated"] is False  # computed from the fill's own rate
    assert by_id["p-ws"]["fee"] > 0
    assert by_id["k-1"]["fee"] == 180_000
    assert by_id["k-1"]["fee_estimated"] is False
    assert (by_id["p-undone"]["fee"], by_id["p-undone"]["fee_shares"]) == (0, 0)
