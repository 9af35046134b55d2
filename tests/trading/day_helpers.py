"""A fund core on a wall clock of its own, and the fills the daily-loss tests book."""

from __future__ import annotations

from actors.trading.control import TradingControl
from actors.trading.fund_core import FundCore
from protocols.fixed import SIZE_ONE
from protocols.messages import Fill, FillStatus, InstrumentId, Liquidity, Side
from tests.trading.helpers import KALSHI, RULES, limits

DAY_MS = 86_400_000
NOON = 20_000 * DAY_MS + DAY_MS // 2  # 12:00 UTC on day 20000


class WallClock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def fresh_core(clock: WallClock, **over: int) -> FundCore:
    """A new incarnation: empty books until reconciliation loads the checkpoint."""
    return FundCore(
        limits=limits(**over),
        rules=dict(RULES),
        control=TradingControl(),
        clock_ns=lambda: 10_000_000_000,
        wall_ms=clock,
    )


def fill(
    coid: str, side: Side, price: int, fee: int, fid: str, inst: InstrumentId = KALSHI
) -> Fill:
    return Fill(
        fill_id=fid,
        venue_order_id="v",
        client_order_id=coid,
        instrument=inst,
        side=side,
        price=price,
        size=10 * SIZE_ONE,
        fee=fee,
        liquidity=Liquidity.TAKER,
        status=FillStatus.MATCHED,
        venue_ts_ms=0,
        recv_ns=0,
    )
