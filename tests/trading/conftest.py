"""Fixtures of the trading tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from actors.sim.config import SimConfig
from actors.sim.venue import SimVenue, open_sim_venue


@pytest.fixture
async def sim() -> AsyncIterator[SimVenue]:
    async with open_sim_venue(SimConfig(seed=7, markets=2, rate=20.0, window_rate=0.0)) as venue:
        yield venue
