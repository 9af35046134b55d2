"""Order matching, fees, balances and idempotency for both simulated venues.

Orders match only market-maker liquidity in the sim's own books (price-improving, best
first). FOK is all-or-nothing, FAK/IOC fills what it can, GTC fills then rests; a resting
order fills as maker when the market maker's quotes later cross it. A duplicate client
order id (Kalshi) or an identical signed order (Polymarket's order hash) returns the first
response and never executes twice. Every fill is queued as a user-channel event.

The modules: :mod:`.orders` (accounts, orders, events, the sim's identities),
:mod:`.core` (venue-neutral matching and resting orders), :mod:`.polymarket` and
:mod:`.kalshi` (each venue's order handling), :mod:`.exchange` (:class:`Exchange`, both
joined, and the maker sweep). Every name below is re-exported here.
"""

from actors.sim.matching.core import ExchangeCore
from actors.sim.matching.exchange import Exchange
from actors.sim.matching.kalshi import KalshiOrders
from actors.sim.matching.orders import (
    API_KEY,
    KALSHI_USER,
    MAKER_ADDRESS,
    MM_OWNER,
    Account,
    Order,
    OrderError,
    Response,
    UserEvent,
)
from actors.sim.matching.polymarket import PolymarketOrders

__all__ = [
    "API_KEY",
    "KALSHI_USER",
    "MAKER_ADDRESS",
    "MM_OWNER",
    "Account",
    "Exchange",
    "ExchangeCore",
    "KalshiOrders",
    "Order",
    "OrderError",
    "PolymarketOrders",
    "Response",
    "UserEvent",
]
