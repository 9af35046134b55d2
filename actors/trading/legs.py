"""The types the order runner, unwinds, two-leg execution and the execution store share:
what placing one leg came to, an order parked for re-lookup, a hedge owed on a leg's
resolution and the execution settings. Their own module, so that none of those modules
imports another only to name its types."""

from __future__ import annotations

import attrs

from actors.trading.control import TradingControl
from protocols.messages import OrderIntent, OrderState


@attrs.frozen
class LegResult:
    intent: OrderIntent
    filled: int
    avg_price: int
    state: OrderState
    resolved: bool
    reason: str = ""
    received: int = 0  # shares really added (buy, net of fee shares) or delivered (sell)


@attrs.frozen
class ExecutionSettings:
    max_leg_delay_s: float = 0.5
    unwind_max_slippage: int = 100_000


@attrs.define
class UnresolvedOrder:
    """An AMBIGUOUS order whose lookups all failed: looked up again on a timer."""

    intent: OrderIntent
    since: float  # trio time it was parked
    due: float  # trio time of the next re-lookup
    attempts: int = 0  # re-lookups so far
    last_error: str = ""


@attrs.define
class PendingHedge:
    """An unresolved leg of an execution whose other legs were flattened: if it turns out
    to have filled, what it holds beyond ``partners_left`` is unwound on resolution."""

    partners_left: int  # shares the execution's resolved legs still hold (0 when flat)
    control: TradingControl
    settings: ExecutionSettings
