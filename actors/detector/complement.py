"""Complement arbitrage within one venue: buy YES and NO of the same market for less than
$1 net of fees.

Polymarket: the YES and NO tokens have separate books; the candidate buys both tokens'
asks. Kalshi is not offered: its single book shows NO asks as ``1 - YES bid``, so YES ask +
NO ask < 1 only on a crossed book, which the quote cache marks stale (never tradable).
"""

from __future__ import annotations

from actors.detector.fees import polymarket_schedule
from actors.detector.strategy import Candidate, LegSource
from protocols.config.market import DetectorConfig
from protocols.fixed import parse_units
from protocols.messages import InstrumentId, Outcome, Venue

NAME = "complement"


def candidates(cfg: DetectorConfig) -> list[Candidate]:
    step = parse_units(cfg.polymarket_size_step)
    out: list[Candidate] = []
    for m in cfg.polymarket:
        fee = polymarket_schedule(cfg.fees.polymarket_rates, m.category)
        yes = LegSource(
            (Venue.POLYMARKET, m.yes_token),
            False,
            InstrumentId(venue=Venue.POLYMARKET, symbol=m.yes_token, outcome=Outcome.YES),
            fee,
        )
        no = LegSource(
            (Venue.POLYMARKET, m.no_token),
            False,
            InstrumentId(venue=Venue.POLYMARKET, symbol=m.no_token, outcome=Outcome.NO),
            fee,
        )
        out.append(Candidate(NAME, f"{NAME}:{m.name}", yes, no, step))
    return out
