"""Depth-walk sizing and detector evaluation on hand-built books."""

from __future__ import annotations

from typing import Any

import pytest

import actors.detector.actor as detector_actor
from actors.detector.actor import Engine
from actors.detector.fees import FeeSchedule
from actors.detector.sizing import plan_pair
from protocols.config.load import ConfigError, decode_config
from protocols.config.market import (
    CrossVenuePair,
    DetectorConfig,
    KalshiMarket,
    MarketConfig,
    PolymarketMarket,
)
from protocols.messages import InstrumentId, Level, Outcome, TopOfBook, Venue
from protocols.venues.fees import FeeRate

ONE = 1_000_000
PM = FeeSchedule(Venue.POLYMARKET, FeeRate(72_000))  # crypto
PM0 = FeeSchedule(Venue.POLYMARKET, FeeRate(0))
K = FeeSchedule(Venue.KALSHI, FeeRate(70_000))


# ----------------------------------------------------------------------- sizing


def test_walk_stops_at_first_level_below_min_edge() -> None:
    a = [(450_000, 100 * ONE), (470_000, 100 * ONE)]
    b = [(500_000, 50 * ONE), (510_000, 500 * ONE)]
    plan = plan_pair(a, PM, b, K, min_edge=5_000, min_profit=0, max_size=10**15, step=ONE)
    assert plan is not None
    # level 2 pair (0.45 + 0.51) nets 0.04 - 0.0178 - 0.0175 < 0.005: only 50 shares
    assert plan.size == 50 * ONE
    assert plan.a.cash == 22_500_000
    assert plan.b.cash == 25_000_000
    assert plan.a.fee == 891_000  # 50*0.072*0.45*0.55
    assert plan.b.fee == 880_000  # ceil_cent(0.875)
    assert plan.edge == 50 * ONE - 22_500_000 - 25_000_000 - 891_000 - 880_000
    assert plan.a.limit_price == 450_000
    assert plan.b.limit_price == 500_000


def test_walk_takes_deeper_levels_while_profitable() -> None:
    a = [(400_000, 10 * ONE), (410_000, 10 * ONE), (450_000, 10 * ONE)]
    b = [(500_000, 25 * ONE)]
    plan = plan_pair(a, PM0, b, PM0, min_edge=60_000, min_profit=0, max_size=10**15, step=ONE)
    assert plan is not None
    # 0.40+0.50 -> 0.10 ok, 0.41+0.50 -> 0.09 ok, 0.45+0.50 -> 0.05 < 0.06 stop
    assert plan.size == 20 * ONE
    assert plan.a.fills == ((400_000, 10 * ONE), (410_000, 10 * ONE))
    assert plan.a.limit_price == 410_000
    assert plan.edge == 20 * ONE - 8_100_000 - 10_000_000


def test_exactly_at_min_edge_is_accepted_and_one_unit_over_is_not() -> None:
    a = [(450_000, 10 * ONE)]
    b = [(500_000, 10 * ONE)]
    at = plan_pair(a, PM0, b, PM0, min_edge=50_000, min_profit=0, max_size=10**15, step=ONE)
    assert at is not None
    assert at.edge == 500_000
    over = plan_pair(a, PM0, b, PM0, min_edge=50_001, min_profit=0, max_size=10**15, step=ONE)
    assert over is None


def test_cent_rounding_shrinks_or_rejects_small_sizes() -> None:
    # Kalshi 1 contract @0.5 costs a whole cent fee (0.0175 -> 0.02): per-share edge
    # before rounding 1-0.48-0.5-0.0175 = 0.0025 >= 0.002, after rounding -0.0000 < 0.002
    a = [(480_000, ONE)]
    b = [(500_000, ONE)]
    assert plan_pair(a, PM0, b, K, min_edge=2_000, min_profit=0, max_size=10**15, step=ONE) is None


def test_step_and_max_size_cap() -> None:
    a = [(400_000, 1_234_567_890)]
    b = [(400_000, 9_999 * ONE)]
    plan = plan_pair(a, PM0, b, PM0, min_edge=1, min_profit=0, max_size=10**15, step=ONE)
    assert plan is not None
    assert plan.size == 1_234 * ONE
    capped = plan_pair(a, PM0, b, PM0, min_edge=1, min_profit=0, max_size=7 * ONE, step=ONE)
    assert capped is not None
    assert capped.size == 7 * ONE


def test_min_profit_gate() -> None:
    a = [(400_000, ONE)]
    b = [(500_000, ONE)]
    # one share earns exactly 0.10
    ok = plan_pair(a, PM0, b, PM0, min_edge=1, min_profit=100_000, max_size=10**9, step=ONE)
    assert ok is not None
    assert ok.edge == 100_000
    assert (
        plan_pair(a, PM0, b, PM0, min_edge=1, min_profit=100_001, max_size=10**9, step=ONE) is None
    )


# ------------------------------------------------------------------ detector engine


def _cfg(**kw: object) -> DetectorConfig:
    base: dict[str, object] = {
        "min_edge": "0.005",
        "min_profit": "0",
        "max_quote_age_s": 2.0,
        "cooldown_s": 1.0,
        "polymarket": [
            PolymarketMarket(name="m", yes_token="Y", no_token="N", category="geopolitics")
        ],
        "kalshi": [KalshiMarket(name="k", ticker="KX")],
        "pairs": [CrossVenuePair(name="p", polymarket="m", kalshi="k", resolution_note="same")],
    }
    base.update(kw)
    return DetectorConfig(**base)  # type: ignore[arg-type]


def _top(
    venue: Venue,
    sym: str,
    bids: list[tuple[int, int]],
    asks: list[tuple[int, int]],
    recv_ns: int = 1_000,
    version: int = 1,
    stale: str = "",
) -> TopOfBook:
    outcome = Outcome.YES if venue is Venue.KALSHI else None
    b = tuple(Level(p, s) for p, s in bids)
    a = tuple(Level(p, s) for p, s in asks)
    return TopOfBook(
        instrument=InstrumentId(venue=venue, symbol=sym, outcome=outcome),
        bid=b[0].price if b else 0,
        bid_size=b[0].size if b else 0,
        ask=a[0].price if a else 0,
        ask_size=a[0].size if a else 0,
        bids=b,
        asks=a,
        venue_ts_ms=7,
        recv_ns=recv_ns,
        version=version,
        stale=bool(stale),
        stale_reason=stale,
    )


def test_complement_opportunity_with_timestamps() -> None:
    eng = Engine(_cfg(strategies=["complement"]), clock_ns=lambda: 5_000)
    tops = [
        _top(Venue.POLYMARKET, "Y", [(400_000, 10 * ONE)], [(450_000, 10 * ONE)], recv_ns=1_000),
        _top(Venue.POLYMARKET, "N", [(450_000, 10 * ONE)], [(520_000, 4 * ONE)], recv_ns=2_000),
    ]
    opps = eng.update(tops, now=0.0)
    assert len(opps) == 1
    o = opps[0]
    assert o.strategy == "complement"
    assert [(leg.instrument.symbol, leg.instrument.outcome) for leg in o.legs] == [
        ("Y", Outcome.YES),
        ("N", Outcome.NO),
    ]
    assert o.legs[0].size == 4 * ONE
    assert o.expected_edge == 4 * 30_000
    assert o.fees == 0
    assert (o.recv_ns, o.trigger_recv_ns, o.detect_ns, o.venue_ts_ms) == (1_000, 2_000, 5_000, 7)
    assert eng.batch_latencies_ns == [3_000]


def test_cross_venue_uses_mirrored_kalshi_bids_for_no() -> None:
    eng = Engine(_cfg(strategies=["cross_venue"]), clock_ns=lambda: 5_000)
    tops = [
        _top(Venue.POLYMARKET, "Y", [(300_000, ONE)], [(400_000, 20 * ONE)]),
        _top(Venue.POLYMARKET, "N", [(300_000, ONE)], [(700_000, 20 * ONE)]),
        # Kalshi YES bid 0.55 -> NO ask 0.45: PM YES 0.40 + K NO 0.45 = 0.85
        _top(Venue.KALSHI, "KX", [(550_000, 10 * ONE)], [(600_000, 10 * ONE)]),
    ]
    opps = eng.update(tops, now=0.0)
    assert len(opps) == 1
    legs = opps[0].legs
    assert (legs[0].instrument.venue, legs[0].limit_price) == (Venue.POLYMARKET, 400_000)
    assert legs[1].instrument == InstrumentId(venue=Venue.KALSHI, symbol="KX", outcome=Outcome.NO)
    assert legs[1].limit_price == 450_000
    assert legs[1].size == 10 * ONE


def test_stale_and_old_books_are_not_traded() -> None:
    y = _top(Venue.POLYMARKET, "Y", [], [(450_000, 10 * ONE)])
    n_stale = _top(Venue.POLYMARKET, "N", [], [(450_000, 10 * ONE)], stale="seq gap")
    eng = Engine(_cfg(strategies=["complement"]), clock_ns=lambda: 5_000)
    assert eng.update([y, n_stale], now=0.0) == []
    assert eng.stats.stale_skips == 1
    # fresh flag but received 3 s before "now" with max age 2 s
    old = Engine(_cfg(strategies=["complement"]), clock_ns=lambda: 3_000_001_000)
    n = _top(Venue.POLYMARKET, "N", [], [(450_000, 10 * ONE)])
    assert old.update([y, n], now=0.0) == []
    assert old.stats.stale_skips == 1


def test_cooldown_per_pair() -> None:
    eng = Engine(
        _cfg(strategies=["complement"], cooldown_s=1.0, episode_gap_s=0.0), clock_ns=lambda: 5_000
    )
    y = _top(Venue.POLYMARKET, "Y", [], [(450_000, 10 * ONE)])
    closed = _top(Venue.POLYMARKET, "Y", [], [(600_000, 10 * ONE)])
    n = _top(Venue.POLYMARKET, "N", [], [(450_000, 10 * ONE)])
    assert len(eng.update([y, n], now=10.0)) == 1
    eng.update([closed], now=10.2)  # the window closes ...
    assert eng.update([y], now=10.5) == []  # ... and a new one opens inside the cooldown
    assert eng.stats.cooldown_skips == 2
    assert eng.stats.rearms == 1  # the close was seen despite the cooldown
    assert len(eng.update([y], now=11.0)) == 1


def test_one_opportunity_per_dislocation_episode() -> None:
    """A dislocation that stays open past the cooldown, or closes only for a moment (our
    own fill emptying the best level before the maker re-quotes), is not emitted again;
    once the tops have not crossed for episode_gap_s, the next dislocation is new."""
    eng = Engine(
        _cfg(strategies=["complement"], cooldown_s=0.5, episode_gap_s=1.0), clock_ns=lambda: 5_000
    )
    y = _top(Venue.POLYMARKET, "Y", [], [(450_000, 10 * ONE)])
    deeper = _top(Venue.POLYMARKET, "Y", [], [(455_000, 10 * ONE)])  # still crossing
    stale_closed = _top(Venue.POLYMARKET, "Y", [], [(600_000, 10 * ONE)], stale="gap")
    closed = _top(Venue.POLYMARKET, "Y", [], [(600_000, 10 * ONE)])
    n = _top(Venue.POLYMARKET, "N", [], [(450_000, 10 * ONE)])
    assert len(eng.update([y, n], now=0.0)) == 1
    assert eng.update([deeper], now=1.0) == []  # same episode, cooldown long over
    assert eng.stats.episode_skips == 1
    eng.update([stale_closed], now=1.5)  # a stale book proves nothing
    assert eng.update([y], now=3.0) == []
    eng.update([closed], now=3.5)  # closed only briefly ...
    assert eng.update([y], now=4.0) == []  # ... and crossing again: the same episode
    assert eng.stats.rearms == 0
    eng.update([closed], now=4.5)
    eng.update([closed], now=5.6)  # closed for 1.1 s in a row
    assert eng.stats.rearms == 1
    assert len(eng.update([y], now=6.0)) == 1  # a new episode


def test_a_disarmed_candidate_is_not_planned_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """While the dislocation it emitted stays open, a candidate's updates cost only the
    O(1) episode check: no depth walk, no opportunity built, none counted as emitted and
    no tick-to-opportunity sample (they used to be planned and thrown away every batch)."""
    planned: list[int] = []

    def counting_plan(*args: Any, **kwargs: Any) -> Any:
        planned.append(1)
        return plan_pair(*args, **kwargs)

    monkeypatch.setattr(detector_actor, "plan_pair", counting_plan)
    eng = Engine(
        _cfg(strategies=["complement"], cooldown_s=0.5, episode_gap_s=1.0), clock_ns=lambda: 5_000
    )
    y = _top(Venue.POLYMARKET, "Y", [], [(450_000, 10 * ONE)])
    n = _top(Venue.POLYMARKET, "N", [], [(450_000, 10 * ONE)])
    assert len(eng.update([y, n], now=0.0)) == 1
    assert len(planned) == 1
    for i in range(5):
        deeper = _top(Venue.POLYMARKET, "Y", [], [(440_000 + i, 10 * ONE)])
        assert eng.update([deeper], now=1.0 + i * 0.1) == []
        assert eng.batch_latencies_ns == []
    assert len(planned) == 1
    assert (eng.stats.emitted, eng.stats.episode_skips, eng.stats.evaluations) == (1, 5, 1)
    closed = _top(Venue.POLYMARKET, "Y", [], [(600_000, 10 * ONE)])
    eng.update([closed], now=2.0)
    eng.update([closed], now=3.5)  # closed for 1.5 s: re-armed, and evaluated again
    assert eng.stats.rearms == 1
    assert len(eng.update([y], now=4.0)) == 1
    assert len(planned) == 2


def test_recheck_against_cache_drops_a_vanished_edge() -> None:
    y = _top(Venue.POLYMARKET, "Y", [], [(450_000, 10 * ONE)], version=1)
    n = _top(Venue.POLYMARKET, "N", [], [(450_000, 10 * ONE)], version=1)
    newer_n = _top(Venue.POLYMARKET, "N", [], [(560_000, 10 * ONE)], version=2)

    class Reader:
        def version(self, venue: Venue, symbol: str) -> int:
            return 2 if symbol == "N" else 1

        def top(self, venue: Venue, symbol: str) -> TopOfBook | None:
            return newer_n if symbol == "N" else y

    eng = Engine(_cfg(strategies=["complement"]), clock_ns=lambda: 5_000, reader=Reader())  # type: ignore[arg-type]
    assert eng.update([y, n], now=0.0) == []
    assert eng.stats.recheck_changed == 1
    assert eng.stats.recheck_dropped == 1


def test_cost_per_update_touches_only_its_pairs() -> None:
    many = [PolymarketMarket(name=f"m{i}", yes_token=f"Y{i}", no_token=f"N{i}") for i in range(500)]
    eng = Engine(_cfg(strategies=["complement"], polymarket=many, pairs=[]), clock_ns=lambda: 5_000)
    eng.update([_top(Venue.POLYMARKET, "Y7", [], [(450_000, ONE)])], now=0.0)
    assert eng.stats.evaluations == 0  # N7 unknown yet: looked up, nothing evaluated
    eng.update([_top(Venue.POLYMARKET, "N7", [], [(600_000, ONE)])], now=0.0)
    assert eng.stats.evaluations == 1


def test_negative_min_edge_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"detector\.min_edge: out of range"):
        decode_config('[detector]\nmin_edge = "-0.001"\n', MarketConfig)
    assert Engine(_cfg(min_edge="0")).min_edge == 0


def test_eval_hook_sees_every_evaluation_emitted_or_not() -> None:
    seen: list[tuple[str, int]] = []
    eng = Engine(
        _cfg(strategies=["complement"]),
        clock_ns=lambda: 5_000,
        eval_hook=lambda c, lat: seen.append((c.key, lat)),
    )
    y = _top(Venue.POLYMARKET, "Y", [], [(450_000, 10 * ONE)], recv_ns=1_000)
    assert eng.update([y], now=0.0) == []
    assert seen == []  # N unknown yet: nothing evaluated
    n_wide = _top(Venue.POLYMARKET, "N", [], [(600_000, 10 * ONE)], recv_ns=2_000)
    assert eng.update([n_wide], now=0.0) == []  # 0.45 + 0.60 > 1: no opportunity
    assert seen == [("complement:m", 3_000)]
    n_tight = _top(Venue.POLYMARKET, "N", [], [(450_000, 10 * ONE)], recv_ns=4_000)
    assert len(eng.update([y, n_tight], now=0.0)) == 1  # evaluated once per batch
    assert seen[1:] == [("complement:m", 1_000)]


def test_update_touches_only_the_candidates_of_changed_books() -> None:
    many = [
        PolymarketMarket(name=f"m{i}", yes_token=f"Y{i}", no_token=f"N{i}") for i in range(2_000)
    ]
    eng = Engine(_cfg(strategies=["complement"], polymarket=many, pairs=[]), clock_ns=lambda: 5_000)
    tops = [
        _top(Venue.POLYMARKET, f"{s}{i}", [], [(600_000, ONE)]) for i in range(2_000) for s in "YN"
    ]
    eng.update(tops, now=0.0)
    assert eng.stats.evaluations == 2_000  # each pair once, though both books changed
    eng.update(
        [
            _top(Venue.POLYMARKET, "N7", [], [(600_000, ONE)]),
            _top(Venue.KALSHI, "N7", [], [(600_000, ONE)]),  # same symbol, other venue
            _top(Venue.POLYMARKET, "unwatched", [], [(600_000, ONE)]),
        ],
        now=0.0,
    )
    assert eng.stats.evaluations == 2_001
    assert set(eng.latest) >= {(Venue.POLYMARKET, "N7"), (Venue.POLYMARKET, "Y7")}
    assert (Venue.KALSHI, "N7") not in eng.latest


def test_an_episode_yields_up_to_trades_per_episode_each_after_the_cooldown() -> None:
    """The edge left after a trade is traded too: after each cooldown the pair is planned
    on the book as it is then, up to ``trades_per_episode``; a gap re-arms the count."""
    eng = Engine(
        _cfg(strategies=["complement"], cooldown_s=0.25, episode_gap_s=1.0, trades_per_episode=3),
        clock_ns=lambda: 5_000,
    )
    y = _top(Venue.POLYMARKET, "Y", [], [(450_000, 10 * ONE)])
    deeper = _top(Venue.POLYMARKET, "Y", [], [(455_000, 4 * ONE)])  # what the trade left
    n = _top(Venue.POLYMARKET, "N", [], [(450_000, 10 * ONE)])
    closed = _top(Venue.POLYMARKET, "Y", [], [(600_000, 10 * ONE)])
    first = eng.update([y, n], now=0.0)
    assert len(first) == 1
    assert eng.update([deeper], now=0.1) == []  # cooldown
    second = eng.update([deeper], now=0.3)
    assert len(second) == 1
    assert second[0].legs[0].size == 4 * ONE  # sized on the book as it is now
    assert second[0].legs[0].limit_price == 455_000
    assert len(eng.update([y], now=0.6)) == 1  # the third
    assert eng.update([y], now=0.9) == []  # the episode's allowance is spent
    assert eng.stats.episode_skips == 1
    eng.update([closed], now=1.0)
    eng.update([closed], now=2.1)  # closed for 1.1 s: a new episode
    assert len(eng.update([y], now=2.2)) == 1
    assert len(eng.update([y], now=2.5)) == 1  # and its count started again


def test_trades_per_episode_must_be_positive() -> None:
    with pytest.raises(ConfigError, match=r"detector\.trades_per_episode: Expected `int` >= 1"):
        decode_config("[detector]\ntrades_per_episode = 0\n", MarketConfig)


def test_depth_edge_ratio_keeps_the_plan_to_levels_near_the_best_edge() -> None:
    """Best level pair earns 0.10 a share, the next 0.08, the third 0.04: a ratio of 0.5
    stops before the third (0.04 < 0.05), 0.9 before the second; 0 walks all three."""
    a = [(400_000, 10 * ONE), (420_000, 10 * ONE), (460_000, 10 * ONE)]
    b = [(500_000, 30 * ONE)]

    def size(ratio: float) -> int:
        plan = plan_pair(
            a,
            PM0,
            b,
            PM0,
            min_edge=1,
            min_profit=0,
            max_size=10**15,
            step=ONE,
            depth_edge_ratio=ratio,
        )
        assert plan is not None
        return plan.size

    assert size(0.0) == 30 * ONE
    assert size(0.5) == 20 * ONE
    assert size(0.9) == 10 * ONE
    with pytest.raises(ConfigError, match=r"detector\.depth_edge_ratio: Expected `float` <= 1"):
        decode_config("[detector]\ndepth_edge_ratio = 1.5\n", MarketConfig)
