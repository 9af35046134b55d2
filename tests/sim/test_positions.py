"""The sim serves both venues' position reports, and the order clients read them back as
the books key them: Kalshi's one signed position per ticker, Polymarket's data-API list."""

from __future__ import annotations

import pytest

from actors.sim.config import SimConfig
from actors.sim.venue import open_sim_venue
from actors.trading.http_clients import build_clients
from actors.trading.venue_clients import AccountSnapshot
from protocols.fixed import SIZE_ONE
from protocols.messages import InstrumentId, Outcome, Venue
from tests.trading.executor_harness import exec_config, intent

pytestmark = pytest.mark.slow


async def test_positions_are_reported_as_the_books_key_them() -> None:
    async with open_sim_venue(SimConfig(seed=7, markets=2, rate=20.0, window_rate=0.0)) as sim:
        clients = build_clients(exec_config(sim))
        m = sim.markets[0]
        k_yes = InstrumentId(venue=Venue.KALSHI, symbol=m.ticker, outcome=Outcome.YES)
        k_no = InstrumentId(venue=Venue.KALSHI, symbol=m.ticker, outcome=Outcome.NO)
        p_no = InstrumentId(venue=Venue.POLYMARKET, symbol=m.no_token, outcome=Outcome.NO)
        try:
            empty = await clients[Venue.KALSHI].account()
            assert empty.positions == {}
            for it in (
                intent("a", 0, k_yes, 990_000, 7 * SIZE_ONE),
                intent("a", 1, k_no, 990_000, 3 * SIZE_ONE),
                intent("b", 0, p_no, 990_000, 6 * SIZE_ONE),
            ):
                await clients[it.instrument.venue].place(it)
            kalshi: AccountSnapshot = await clients[Venue.KALSHI].account()
            poly: AccountSnapshot = await clients[Venue.POLYMARKET].account()
        finally:
            for c in clients.values():
                await c.aclose()
        # Kalshi nets the account's YES and NO of a ticker into one signed position.
        assert kalshi.positions == {k_yes.key(): 4 * SIZE_ONE}
        held = sim.exchange.poly.positions[m.no_token]
        assert 0 < held < 6 * SIZE_ONE  # the fee is taken in shares
        assert poly.positions == {p_no.key(): held}
