"""The pure scenario engine and encoders: determinism, windows, fees, hashes, seq."""

from __future__ import annotations

import json

from actors.sim.book import ASK, BID
from actors.sim.config import SimConfig
from actors.sim.fees import kalshi_taker_fee, polymarket_taker_fee
from actors.sim.scenario import Scenario
from actors.sim.units import ONE, fixed, trim
from actors.sim.wire_kalshi import KalshiWire
from actors.sim.wire_polymarket import PolyWire, encode
from tests.sim.helpers import EPOCH, ClientBook, run_frames


def test_same_seed_same_frames_and_ground_truth() -> None:
    a = run_frames(7)
    b = run_frames(7)
    assert a == b
    assert a[1], "windows were injected"


def test_different_seed_differs() -> None:
    assert run_frames(7)[0] != run_frames(8)[0]


def test_fee_formulas_match_venue_examples() -> None:
    # docs/protocols.md, "Fees": crypto, 100 shares @ 0.50 -> $1.80
    assert polymarket_taker_fee(100 * ONE, 500_000, 72_000) == 1_800_000
    # docs/protocols.md, "Fees": 10 contracts @ $0.50 -> $0.175 -> rounded up to $0.18
    assert kalshi_taker_fee(10 * ONE, 500_000) == 180_000
    # tiny fees round to 0 at the 5th decimal
    assert polymarket_taker_fee(10_000, 10_000, 1_000) == 0


def test_encoders_number_formats() -> None:
    assert trim(480_000) == "0.48"
    assert trim(200 * ONE) == "200"
    assert fixed(420_000, 4) == "0.4200"
    assert fixed(-54 * ONE, 2) == "-54.00"


def _sum_ok(sc: Scenario, kind: str, market: int) -> bool:
    m = sc.markets[market]
    size, edge, _, _ = sc.pair_edge(m, kind)
    return size > 0 and edge > 0


def test_windows_are_real_arbitrage_for_their_whole_life() -> None:
    cfg = SimConfig(seed=3, window_rate=2.0, window_duration=1.0, markets=6)
    sc = Scenario(cfg, EPOCH)
    active: dict[str, tuple[str, int, float]] = {}
    seen = 0
    for _ in range(1500):
        out = sc.step()
        for w in out.closed:
            active.pop(w.id)
        for w in out.opened:
            assert w.max_size > 0
            assert w.edge_net > 0
            assert w.edge_per_share > 0
            active[w.id] = (w.kind, w.market, w.end)
            seen += 1
        for kind, market, _end in active.values():
            # Best asks of both legs, one chunk of the smaller top size, fees included.
            assert _sum_ok(sc, kind, market), (kind, market, sc.now)
        sc.log.clear()
    assert seen >= 10


def test_no_arbitrage_outside_windows() -> None:
    cfg = SimConfig(seed=5, window_rate=0.0, first_window=0.0, markets=4)
    sc = Scenario(cfg, EPOCH)
    for _ in range(500):
        sc.step()
        sc.log.clear()
        for m in sc.markets:
            for kind in ("poly_complement", "cross_poly_yes_kalshi_no", "cross_kalshi_yes_poly_no"):
                assert sc.pair_edge(m, kind)[0] == 0


def test_books_never_cross() -> None:
    sc = Scenario(SimConfig(seed=9, window_rate=2.0, window_duration=1.0), EPOCH)
    for _ in range(800):
        sc.step()
        sc.log.clear()
        for m in sc.markets:
            for book in (m.poly_yes, m.poly_no, m.kalshi):
                bid, ask = book.best(BID), book.best(ASK)
                assert bid is None or ask is None or bid < ask


def test_price_change_hashes_recompute_from_documented_algorithm() -> None:
    sc = Scenario(SimConfig(seed=11, rate=800), EPOCH)
    poly = PolyWire(sc.markets)
    books = {}
    for m in sc.markets:
        for token in (m.yes_token, m.no_token):
            books[token] = ClientBook(json.loads(encode(poly.book(token, EPOCH))))
    checked = 0
    for _ in range(200):
        sc.step()
        changes = list(sc.log)
        sc.log.clear()
        for obj in poly.price_changes(changes, sc.now_ms()).values():
            msg = json.loads(encode(obj))
            for entry in msg["price_changes"]:
                book = books[entry["asset_id"]]
                book.apply(entry)
                assert book.hash(msg["timestamp"]) == entry["hash"]
                bid, ask = book.top()
                assert entry["best_bid"] == (str(bid) if bid is not None else "0")
                assert entry["best_ask"] == (str(ask) if ask is not None else "1")
                checked += 1
    assert checked > 100
    # and the client's reconstructed books equal the sim's own books
    for m in sc.markets:
        for token, sim_book in ((m.yes_token, m.poly_yes), (m.no_token, m.poly_no)):
            bids, _ = books[token].lists()
            assert [(x["price"], x["size"]) for x in bids] == [
                (trim(p), trim(s)) for p, s in sim_book.levels(BID)
            ]


def test_poly_books_are_mirrored_outside_windows() -> None:
    sc = Scenario(SimConfig(seed=2, window_rate=0.0, first_window=0.0), EPOCH)
    for _ in range(100):
        sc.step()
    for m in sc.markets:
        assert m.poly_no.levels(BID) == sorted((ONE - p, s) for p, s in m.poly_yes.levels(ASK))


def test_kalshi_deltas_rebuild_the_sim_book() -> None:
    sc = Scenario(SimConfig(seed=4, rate=600), EPOCH)
    kal = KalshiWire(sc.markets)
    m = sc.markets[0]
    snap = json.loads(kal.snapshot_msg(m.ticker))
    yes = dict(snap["yes_dollars_fp"])
    no = dict(snap["no_dollars_fp"])
    from decimal import Decimal

    book = {
        "yes": {Decimal(p): Decimal(c) for p, c in yes.items()},
        "no": {Decimal(p): Decimal(c) for p, c in no.items()},
    }
    for _ in range(300):
        sc.step()
        changes = list(sc.log)
        sc.log.clear()
        for ticker, body in kal.deltas(changes, sc.now_ms()):
            if ticker != m.ticker:
                continue
            d = json.loads(body)
            side = book[d["side"]]
            p = Decimal(d["price_dollars"])
            side[p] = side.get(p, Decimal(0)) + Decimal(d["delta_fp"])
            assert side[p] >= 0
            if side[p] == 0:
                del side[p]
    want_yes = {Decimal(p) / ONE: Decimal(s) / ONE for p, s in m.kalshi.levels(BID)}
    want_no = {Decimal(ONE - p) / ONE: Decimal(s) / ONE for p, s in m.kalshi.levels(ASK)}
    assert book["yes"] == want_yes
    assert book["no"] == want_no


def _window_starts(cfg: SimConfig, seconds: float) -> list[float]:
    sc = Scenario(cfg, EPOCH)
    for _ in range(round(seconds / cfg.step_interval)):
        sc.step()
        sc.log.clear()
    return [w.start for w in sc.windows]


def test_first_window_opens_early_then_the_rate_takes_over() -> None:
    """Every seed's first window opens by ``first_window`` (a newcomer's short run shows a
    trade); after it windows keep coming at ``window_rate``; a window that comes earlier
    by chance is not followed by a forced one; the schedule is the seed's."""
    step, first = 0.1, 2.5
    forced = chance = later = 0
    for seed in range(1, 11):
        cfg = SimConfig(seed=seed, step_interval=step, rate=50, first_window=first)
        starts = _window_starts(cfg, 150.0)
        assert starts, f"seed {seed}: no window"
        assert starts[0] <= first + step / 2, f"seed {seed}: first window at {starts[0]}"
        assert starts == _window_starts(cfg, 150.0), "not deterministic"
        later += len(starts) - 1
        if starts[0] < first - step / 2:
            chance += 1
            assert not any(abs(s - first) < step / 2 for s in starts[1:]), seed
        else:
            forced += 1
            off = SimConfig(seed=seed, step_interval=step, rate=50, first_window=0.0)
            assert all(s > first for s in _window_starts(off, first + step)), seed
    assert forced, "no seed needed the forced window: vacuous"
    assert chance, "no seed had a window by chance first: vacuous"
    # 10 seeds x ~147 s x 0.05/s ~ 74 after the first (Poisson: sd ~9)
    assert 45 <= later <= 105, later


def test_a_window_records_the_liquidity_offered_again_after_a_trade() -> None:
    """Take a window's whole profitable depth as a taker would; what the books offer
    again while it stays open (re-quotes, refills) is added to its offers."""
    cfg = SimConfig(seed=11, window_rate=0.0, first_window=0.05, window_duration=3.0)
    sc = Scenario(cfg, EPOCH)
    while not sc.windows:
        sc.step()
        sc.log.clear()
    w = sc.windows[0]
    m = sc.markets[w.market]
    start = list(w.offers)
    assert start
    own = {f"{leg.venue}:{leg.instrument}:{leg.outcome}" for leg in w.legs}
    assert own & {o[1] for o in start}
    assert own & {o[3] for o in start}
    # The cheapest YES and NO of the market: at least the window's own pair's edge.
    assert sum(o[5] for o in start) >= w.edge_net > 0
    # Take it all from the books, as the matcher does.
    (va, oa), (vb, ob) = sc._pairs(w.kind)
    for venue, outcome in ((va, oa), (vb, ob)):
        for price, size in sc.ask_ladder(m, venue, outcome):
            if venue == "polymarket":
                (m.poly_yes if outcome == "yes" else m.poly_no).consume(ASK, price, size)
            elif outcome == "yes":
                m.kalshi.consume(ASK, price, size)
            else:
                m.kalshi.consume(BID, ONE - price, size)
    sc.step()
    assert m.offered_size == 0
    while m.window is not None and not sc.windows[0].reoffers:
        sc.step()
        sc.log.clear()
    after = sc.windows[0]
    assert after.offers == tuple(start)
    assert after.reoffers, "nothing was offered again while it was open"
    assert all(o[0] > 0 and o[5] > 0 for o in after.reoffers)


def _take_offers(sc: Scenario, offers: list[tuple[int, str, int, str, int, int]]) -> int:
    """Consume every chunk of ``offers`` from the books as the matcher would (a Polymarket
    take also takes the mirrored level); returns the pair shares taken."""
    m = sc.markets[sc.windows[-1].market]
    taken = 0
    for q, a, pa, b, pb, _ in offers:
        for key, price in ((a, pa), (b, pb)):
            venue, _, outcome = key.split(":")
            if venue == "polymarket":
                book = m.poly_yes if outcome == "yes" else m.poly_no
                mirror = m.poly_no if outcome == "yes" else m.poly_yes
                book.consume(ASK, price, q)
                have = mirror.mm[BID].get(ONE - price, 0)
                if have:
                    mirror.consume(BID, ONE - price, min(have, q))
            elif outcome == "yes":
                m.kalshi.consume(ASK, price, q)
            else:
                m.kalshi.consume(BID, ONE - price, q)
        taken += q
    return taken


def test_a_refill_in_the_step_after_a_trade_is_recorded() -> None:
    """A taker takes the window's profitable depth between every two steps; whatever the
    maker shows again in the next step (its quotes move every step) is offered again, so
    the window records at least as many pair shares as were taken from it (a refill in
    the very step after a trade must not hide behind the size seen before the trade)."""
    cfg = SimConfig(seed=11, window_rate=0.0, first_window=0.05, window_duration=3.0)
    sc = Scenario(cfg, EPOCH)
    while not sc.windows:
        sc.step()
        sc.log.clear()
    m = sc.markets[sc.windows[0].market]
    taken = rounds = 0
    while m.window is not None:
        offers = sc.market_offers(m)
        if offers:
            rounds += 1
            taken += _take_offers(sc, offers)
        sc.step()
        sc.log.clear()
    w = sc.windows[0]
    assert rounds > 1, "the books never offered again: vacuous"
    recorded = sum(o[0] for o in (*w.offers, *w.reoffers))
    assert recorded >= taken
