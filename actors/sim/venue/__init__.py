"""The embeddable simulated venue: scenario driver, websocket and REST servers on loopback.

``open_sim_venue(config)`` binds the ports (0 = free), starts the scenario clock on trio's
clock (so tests can use ``autojump_clock``), and yields a ``SimVenue`` exposing the URLs,
the ground truth, the sim's own books and the fault hooks.

The modules: :mod:`.state` (:class:`VenueState`: state, queries, fault hooks;
``BookView``, ``MALFORMED``), :mod:`.publish` (step driver and frame fan-out),
:mod:`.websocket` (connections and client commands), :mod:`.rest` (REST routing),
:mod:`.server` (:class:`SimVenue` joining them, :func:`open_sim_venue`,
``check_loopback``). Every name below is re-exported here.
"""

from actors.sim.venue.publish import Publisher
from actors.sim.venue.rest import RestServer
from actors.sim.venue.server import SimVenue, check_loopback, open_sim_venue
from actors.sim.venue.state import MALFORMED, BookView, VenueState
from actors.sim.venue.websocket import WebsocketServer, kdecode

__all__ = [
    "MALFORMED",
    "BookView",
    "Publisher",
    "RestServer",
    "SimVenue",
    "VenueState",
    "WebsocketServer",
    "check_loopback",
    "kdecode",
    "open_sim_venue",
]
