"""Keep the order path warm: between orders, run its pure code again on the last input and
drop the result.

Opportunities come seconds apart and the market path runs in between, so by the next one
the order path's code and the data it reads have left the CPU caches. It is the trading
systems' "warm the order path" practice, limited to pure code: nothing is reserved,
recorded, signed, taken from a pool or sent, and no counter other than ``runs`` (and
``failed``) moves. Two halves, each on its actor's own timer:

- :class:`Rehearsal` (fund manager, ``fund.rehearse_interval_s``): the pre-trade checks on
  the last opportunity; warm, ``check_opportunity`` and the whole ``decide`` run several
  times faster than cold.
- :class:`OrderRehearsal` (executor, ``executor.rehearse_interval_s``): the pre-check and
  every leg's request of the last execution, built as the executor's step builds them
  (``VenueClient.rehearse_order``: body and head, without the live signatures), which
  shortens ``ready_now`` per leg the same way.

A warm rehearsal is cheap, so one every millisecond takes a small share of a CPU. Each
runs only once the loop is idle (:func:`supervision.idle.every_when_idle`): from its timer
alone it could land inside a detection's tick -> opportunity (Trio runs a round's tasks in
either order) and delay it. ``arbtree bench e2e`` measures the order path it keeps warm.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import attrs

from actors.trading.checks import check_opportunity
from actors.trading.fund_core import FundCore
from actors.trading.messages import ExecutionRequest
from actors.trading.order_runner import VenueGate
from actors.trading.two_leg import precheck
from protocols.messages import Opportunity, Venue

log = logging.getLogger("arbtree.trading.rehearsal")


@attrs.define(eq=False)
class Rehearsal:
    core: FundCore
    last: Opportunity | None = None  # set by the fund manager after each decision
    runs: int = 0

    def __call__(self) -> bool:
        """One rehearsal; False when there is no opportunity to rehearse yet."""
        opp = self.last
        if opp is None:
            return False
        core = self.core
        # At the opportunity's own receive time, so the age check passes and every other
        # check runs, as it would for a fresh one.
        check_opportunity(
            opp,
            ledger=core.ledger,
            ladder=core.control.ladder,
            limits=core.limits,
            rules=core.rules,
            now_ns=opp.recv_ns,
        )
        self.runs += 1
        return True


@attrs.define(eq=False)
class OrderRehearsal:
    gates: Mapping[Venue, VenueGate]
    last: ExecutionRequest | None = None  # set by the executor for each execution
    runs: int = 0
    failed: int = 0  # rehearsals that raised: that execution is not rehearsed again
    built_bytes: int = 0  # of the last rehearsal's requests (what the tests look at)

    def __call__(self) -> bool:
        """One rehearsal of the last execution's requests; False when there is none yet
        (or it failed)."""
        req = self.last
        if req is None:
            return False
        gates = self.gates
        precheck(req.intents, gates)
        built = 0
        try:
            for intent in req.intents:
                gate = gates.get(intent.instrument.venue)
                rehearse = getattr(gate.client, "rehearse_order", None) if gate else None
                if rehearse is not None:
                    built += rehearse(intent)
        except Exception as exc:  # it was sent once; a rehearsal never fails the executor
            self.failed += 1
            self.last = None
            log.warning("order rehearsal of %s failed, dropped: %r", req.opportunity_id, exc)
            return False
        self.built_bytes = built
        self.runs += 1
        return True
