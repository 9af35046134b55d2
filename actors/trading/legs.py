"""What placing one leg came to: the order runner returns it, an unwind and two-leg
execution read it. Its own module so that ``unwind`` (which the runner imports) can name
it without importing the runner."""

from __future__ import annotations

import attrs

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
