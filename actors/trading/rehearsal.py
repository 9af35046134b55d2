"""Keep the decision path warm: run the pre-trade checks again on the last opportunity,
every ``fund.rehearse_interval_s``, and drop the result.

Opportunities come seconds apart and the market path runs in between, so by the next one
the checks' code and the books they read have left the CPU caches. Measured in `bench e2e`
runs (1k updates/s, wrappers on each call): ``check_opportunity`` took 61 µs cold and
9 µs warm. Rehearsed every millisecond it took 28 µs, and the whole ``decide`` went from
156 µs to 105-113 µs. A rehearsal costs what a warm check costs, about 10 µs, so 1 ms
takes about 1 % of a CPU. It is the trading systems' "warm the order path" practice,
limited to pure code: ``check_opportunity`` only reads the books. Nothing is reserved,
recorded or sent, and no counter other than ``runs`` and ``skipped`` moves.

A rehearsal never runs while work is ``waiting`` for the decision path or the executor
(queued, or handed to a receiver that has not run yet): its timer could fire in the round
where that work runs, and Trio runs a round's tasks in either order, so half the time the
rehearsal would run first (40-100 µs cold, seen in 4 of 21 executions' rounds in one
`bench e2e` run). The real work warms the path anyway.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from actors.trading.checks import check_opportunity
from actors.trading.fund_core import FundCore
from protocols.messages import Opportunity


def _nothing_waiting() -> bool:
    return False


@attrs.define(eq=False)
class Rehearsal:
    core: FundCore
    # True while an opportunity or an execution request is not taken up (then none).
    waiting: Callable[[], bool] = _nothing_waiting
    last: Opportunity | None = None  # set by the fund manager after each decision
    runs: int = 0
    skipped: int = 0  # rehearsals left out because work was waiting

    def __call__(self) -> bool:
        """One rehearsal; False when there is no opportunity to rehearse yet or work is
        waiting."""
        opp = self.last
        if opp is None:
            return False
        if self.waiting():
            self.skipped += 1
            return False
        core = self.core
        # At the opportunity's own receive time, so the age check passes and every other
        # check runs, as it would for a fresh one.
        check_opportunity(opp, ledger=core.ledger, ladder=core.control.ladder,
                          limits=core.limits, rules=core.rules, now_ns=opp.recv_ns)  # fmt: skip
        self.runs += 1
        return True
