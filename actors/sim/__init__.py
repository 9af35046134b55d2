"""The simulated venue: Polymarket- and Kalshi-format websockets and REST on loopback.

Seeded markets with injected arbitrage windows and a ground-truth log; the default
counterparty of every run and every test. Start it with ``open_sim_venue(SimConfig())``.
"""

from actors.sim.config import FaultKind, FaultSpec, SimConfig, Venue
from actors.sim.venue import BookView, SimVenue, open_sim_venue
from actors.sim.windows import Leg, WindowRecord

__all__ = [
    "BookView",
    "FaultKind",
    "FaultSpec",
    "Leg",
    "SimConfig",
    "SimVenue",
    "Venue",
    "WindowRecord",
    "open_sim_venue",
]
