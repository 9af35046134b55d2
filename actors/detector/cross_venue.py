"""Cross-venue arbitrage: YES on one venue + NO on the other for less than $1 net of fees.

Each configured pair gives two candidates: Polymarket YES token + Kalshi NO (Kalshi YES
bids mirrored), and Kalshi YES (Kalshi asks) + Polymarket NO token. They share one
cooldown key. Pairs carry a ``resolution_note``: two markets that resolve on different
sources or cut-offs are not an arbitrage, and the note travels into the candidate.
"""

from __future__ import annotations

import math

from actors.detector.fees import kalshi_schedule, polymarket_schedule
from actors.detector.strategy import Candidate, LegSource
from protocols.config.market import DetectorConfig
from protocols.fixed import parse_units
from protocols.messages import InstrumentId, Outcome, Venue

NAME = "cross_venue"


def candidates(cfg: DetectorConfig) -> list[Candidate]:
    poly = {m.name: m for m in cfg.polymarket}
    kalshi = {m.name: m for m in cfg.kalshi}
    step = math.lcm(parse_units(cfg.polymarket_size_step), parse_units(cfg.kalshi_size_step))
    out: list[Candidate] = []
    for pair in cfg.pairs:
        try:
            pm = poly[pair.polymarket]
            km = kalshi[pair.kalshi]
        except KeyError as exc:
            raise ValueError(f"pair {pair.name!r}: unknown market {exc.args[0]!r}") from None
        pfee = polymarket_schedule(cfg.fees.polymarket_rates, pm.category)
        kfee = kalshi_schedule(cfg.fees.kalshi_taker_rate, km.fee_multiplier)
        kbook = (Venue.KALSHI, km.ticker)
        p_yes = LegSource(
            (Venue.POLYMARKET, pm.yes_token),
            False,
            InstrumentId(venue=Venue.POLYMARKET, symbol=pm.yes_token, outcome=Outcome.YES),
            pfee,
        )
        p_no = LegSource(
            (Venue.POLYMARKET, pm.no_token),
            False,
            InstrumentId(venue=Venue.POLYMARKET, symbol=pm.no_token, outcome=Outcome.NO),
            pfee,
        )
        k_yes = LegSource(
            kbook,
            False,
            InstrumentId(venue=Venue.KALSHI, symbol=km.ticker, outcome=Outcome.YES),
            kfee,
        )
        k_no = LegSource(
            kbook,
            True,
            InstrumentId(venue=Venue.KALSHI, symbol=km.ticker, outcome=Outcome.NO),
            kfee,
        )
        key = f"{NAME}:{pair.name}"
        out.append(Candidate(NAME, key, p_yes, k_no, step, pair.resolution_note))
        out.append(Candidate(NAME, key, k_yes, p_no, step, pair.resolution_note))
    return out
