"""Seeded scenario engine: fair values, market-maker ladders, injected windows.

Pure and deterministic: ``Scenario.step()`` advances sim time by one ``step_interval``
using only its own ``random.Random(seed)``; no sockets, no clock. The venue drives it from
trio's clock and turns its change log into wire frames. Same seed => same changes, same
ground truth.
"""

from __future__ import annotations

import hashlib
import math
import random

import attrs

from actors.sim.book import ASK, BID, Change, SimBook
from actors.sim.config import POLY_CATEGORIES, WINDOW_KINDS, SimConfig
from actors.sim.fees import kalshi_taker_fee, polymarket_taker_fee
from actors.sim.units import ONE
from actors.sim.windows import (
    FeeFn,
    Leg,
    Offer,
    SideLevel,
    WindowRecord,
    pair_edge_per_share,
    walk_edge,
    walk_offers,
)

KALSHI_TICK = 10_000  # Kalshi linear_cent grid
POLY_TICK_WIDE = 10_000
POLY_TICK_NARROW = 1_000  # Polymarket switches to 0.001 beyond 0.04 / 0.96
FAIR_MIN, FAIR_MAX = 20_000, 980_000
WINDOW_ROOM = 100_000  # a shifted mid must stay this far inside (0, 1)
PRINT_RATE = 0.2  # simulated last_trade_price prints per second per market

KINDS = WINDOW_KINDS


@attrs.define
class Market:
    """One binary question listed on both venues."""

    index: int
    condition_id: str
    yes_token: str
    no_token: str
    ticker: str
    kalshi_market_id: str
    category: str
    fee_rate_ppm: int
    fair: int
    eps_p: int
    eps_k: int
    poly_tick: int
    sizes: list[list[int]]  # per level index: poly bid, poly ask, kalshi bid, kalshi ask
    poly_yes: SimBook
    poly_no: SimBook
    kalshi: SimBook  # YES terms: bids = YES bids, asks = 1 - NO bids
    yes_shift: int = 0
    no_shift: int = 0
    kalshi_shift: int = 0
    window: WindowRecord | None = None
    window_index: int = -1  # the open window's place in ``Scenario.windows``
    offered_size: int = 0  # the open window's profitable depth when last looked at
    takes_seen: int = 0  # its books' ``consumed`` when last looked at

    def poly_fee(self) -> FeeFn:
        rate = self.fee_rate_ppm
        return lambda size, price: polymarket_taker_fee(size, price, rate)


def kalshi_fee(size: int, price: int) -> int:
    return kalshi_taker_fee(size, price)


@attrs.frozen
class TickChange:
    """A Polymarket market moved between the 0.01 and 0.001 grids."""

    market: int
    old: int
    new: int


@attrs.frozen
class Print:
    """A simulated trade by someone else (feeds ``last_trade_price``)."""

    market: int
    outcome: str  # "yes" | "no" (Polymarket token)
    price: int
    size: int
    side: str  # taker side: "BUY" | "SELL"


@attrs.define
class StepOutput:
    """What one step produced besides the book change log."""

    tick_changes: list[TickChange] = attrs.Factory(list)
    prints: list[Print] = attrs.Factory(list)
    opened: list[WindowRecord] = attrs.Factory(list)
    closed: list[WindowRecord] = attrs.Factory(list)


def _floor(x: int, tick: int) -> int:
    return (x // tick) * tick


def _ceil(x: int, tick: int) -> int:
    return -((-x) // tick) * tick


def bid_side(mid: int, half_spread: int, tick: int, sizes: list[int]) -> dict[int, int]:
    """Bid levels below ``mid`` on ``tick``, best first, clipped to [tick, 1 - tick]."""
    price = _floor(mid - half_spread, tick)
    top = ONE - tick
    bids = {}
    for size in sizes:
        if tick <= price <= top:
            bids[price] = size
        price -= tick
    return bids


def ask_side(mid: int, half_spread: int, tick: int, sizes: list[int]) -> dict[int, int]:
    """Ask levels above ``mid`` on ``tick``, best first, clipped to [tick, 1 - tick]."""
    price = _ceil(mid + half_spread, tick)
    top = ONE - tick
    asks = {}
    for size in sizes:
        if tick <= price <= top:
            asks[price] = size
        price += tick
    return asks


def ladder(
    mid: int, half_spread: int, tick: int, bid_sizes: list[int], ask_sizes: list[int]
) -> tuple[dict[int, int], dict[int, int]]:
    """Bid and ask levels around ``mid`` on ``tick``, clipped to [tick, 1 - tick]."""
    return bid_side(mid, half_spread, tick, bid_sizes), ask_side(mid, half_spread, tick, ask_sizes)


class Scenario:
    """The hidden market state of the sim and its evolution, one step at a time."""

    def __init__(self, config: SimConfig, epoch_ms: int) -> None:
        self.config = config
        self.epoch_ms = epoch_ms
        self.rng = random.Random(config.seed)
        self.log: list[Change] = []
        self.books: list[SimBook] = []
        self.markets: list[Market] = []
        self.windows: list[WindowRecord] = []
        self.step_index = 0
        self._budget = 0.0
        self._window_seq = 0
        self._size_unit = ONE if config.kalshi_legacy_cents else 10_000
        for i in range(config.markets):
            self.markets.append(self._new_market(i))
        for m in self.markets:
            self._render(m)

    # -- construction -------------------------------------------------------------------

    def _hex(self, nbytes: int) -> str:
        return "".join(f"{self.rng.getrandbits(8):02x}" for _ in range(nbytes))

    def _book(self) -> SimBook:
        book = SimBook(len(self.books), self.log)
        self.books.append(book)
        return book

    def _new_size(self) -> int:
        return self.rng.randint(10 * ONE // self._size_unit, 500 * ONE // self._size_unit) * (
            self._size_unit
        )

    def _new_market(self, i: int) -> Market:
        rng = self.rng
        category, rate = POLY_CATEGORIES[rng.randrange(len(POLY_CATEGORIES))]
        fair = rng.randint(250, 750) * 1_000
        seed_id = f"{self.config.seed}:{i}".encode()
        uid = hashlib.sha256(seed_id).hexdigest()
        levels = self.config.levels
        return Market(
            index=i,
            condition_id="0x" + self._hex(32),
            yes_token=str(rng.getrandbits(255)),
            no_token=str(rng.getrandbits(255)),
            ticker=f"KXSIM-{i:03d}-T{fair // 10_000}",
            kalshi_market_id=f"{uid[:8]}-{uid[8:12]}-{uid[12:16]}-{uid[16:20]}-{uid[20:32]}",
            category=category,
            fee_rate_ppm=rate,
            fair=fair,
            eps_p=rng.randint(-self.config.noise, self.config.noise),
            eps_k=rng.randint(-self.config.noise, self.config.noise),
            poly_tick=POLY_TICK_WIDE,
            sizes=[[self._new_size() for _ in range(4)] for _ in range(levels)],
            poly_yes=self._book(),
            poly_no=self._book(),
            kalshi=self._book(),
        )

    # -- queries ------------------------------------------------------------------------

    @property
    def now(self) -> float:
        """Sim seconds at the end of the last step."""
        return round(self.step_index * self.config.step_interval, 9)

    def now_ms(self) -> int:
        return self.epoch_ms + round(self.now * 1000)

    def ask_ladder(self, m: Market, venue: str, outcome: str) -> list[tuple[int, int]]:
        """Best-first asks for buying ``outcome`` of market ``m`` on ``venue``."""
        if venue == "polymarket":
            book = m.poly_yes if outcome == "yes" else m.poly_no
            return book.levels(ASK)
        if outcome == "yes":
            return m.kalshi.levels(ASK)
        return [(ONE - p, s) for p, s in reversed(m.kalshi.levels(BID))]

    def fee_fn(self, m: Market, venue: str) -> FeeFn:
        return m.poly_fee() if venue == "polymarket" else kalshi_fee

    # -- evolution ----------------------------------------------------------------------

    def _render(self, m: Market) -> None:
        hs = self.config.half_spread
        s = m.sizes
        pb, pa = [r[0] for r in s], [r[1] for r in s]
        kb, ka = [r[2] for r in s], [r[3] for r in s]
        mid_p = m.fair + m.eps_p
        yb, ya = ladder(mid_p + m.yes_shift, hs, m.poly_tick, pb, pa)
        nb, na = ladder(ONE - mid_p + m.no_shift, hs, m.poly_tick, pa, pb)
        kbd, kad = ladder(m.fair + m.eps_k + m.kalshi_shift, hs, KALSHI_TICK, kb, ka)
        m.poly_yes.render(BID, yb)
        m.poly_yes.render(ASK, ya)
        m.poly_no.render(BID, nb)
        m.poly_no.render(ASK, na)
        m.kalshi.render(BID, kbd)
        m.kalshi.render(ASK, kad)

    def _render_column(self, m: Market, column: int) -> None:
        """``_render(m)`` after only ``m.sizes[*][column]`` changed: same log, less work.

        Nothing else about ``m`` moved since its last render, so only the two book sides
        that use that column (one for Kalshi) can differ, and they are rendered in the
        order ``_render`` would log them.
        """
        hs = self.config.half_spread
        sizes = [r[column] for r in m.sizes]
        if column == 0:  # Polymarket bid sizes: YES bids, mirrored as NO asks
            mid_p = m.fair + m.eps_p
            m.poly_yes.render(BID, bid_side(mid_p + m.yes_shift, hs, m.poly_tick, sizes))
            m.poly_no.render(ASK, ask_side(ONE - mid_p + m.no_shift, hs, m.poly_tick, sizes))
        elif column == 1:  # Polymarket ask sizes: YES asks, mirrored as NO bids
            mid_p = m.fair + m.eps_p
            m.poly_yes.render(ASK, ask_side(mid_p + m.yes_shift, hs, m.poly_tick, sizes))
            m.poly_no.render(BID, bid_side(ONE - mid_p + m.no_shift, hs, m.poly_tick, sizes))
        elif column == 2:
            mid_k = m.fair + m.eps_k + m.kalshi_shift
            m.kalshi.render(BID, bid_side(mid_k, hs, KALSHI_TICK, sizes))
        else:
            mid_k = m.fair + m.eps_k + m.kalshi_shift
            m.kalshi.render(ASK, ask_side(mid_k, hs, KALSHI_TICK, sizes))

    def step(self) -> StepOutput:
        """Advance one ``step_interval``; book changes are appended to ``self.log``."""
        cfg = self.config
        rng = self.rng
        dt = cfg.step_interval
        self.step_index += 1
        now = self.now
        out = StepOutput()
        for m in self.markets:
            if m.window is not None:
                self._note_taken(m)
        sigma = cfg.volatility * math.sqrt(dt) * ONE
        redraw = min(1.0, 0.2 * dt)  # venue noise redrawn about every 5 s
        for m in self.markets:
            m.fair = min(FAIR_MAX, max(FAIR_MIN, m.fair + round(rng.gauss(0.0, sigma))))
            if rng.random() < redraw:
                m.eps_p = rng.randint(-cfg.noise, cfg.noise)
            if rng.random() < redraw:
                m.eps_k = rng.randint(-cfg.noise, cfg.noise)
            narrow = m.fair < 40_000 or m.fair > 960_000
            tick = POLY_TICK_NARROW if narrow else POLY_TICK_WIDE
            if tick != m.poly_tick:
                out.tick_changes.append(TickChange(m.index, m.poly_tick, tick))
                m.poly_tick = tick
            if m.window is not None and m.window.end <= now + 1e-9:
                out.closed.append(m.window)
                m.window = None
                m.yes_shift = m.no_shift = m.kalshi_shift = 0
        drawn = rng.random() < cfg.window_rate * dt  # drawn every step: same sequence
        first_due = 0 < cfg.first_window <= now + 1e-9 and not self.windows
        if drawn or first_due:
            free = [m for m in self.markets if m.window is None]
            if free:
                self._open_window(free[rng.randrange(len(free))], out)
        for m in self.markets:
            self._render(m)
            if m.window is None and rng.random() < PRINT_RATE * dt:
                out.prints.append(self._print(m))
        self._noise()
        for m in self.markets:
            if m.window is not None:
                self._note_offered(m)
        return out

    def _note_taken(self, m: Market) -> None:
        """Lower the open window's last-seen offered size to what takers left since then,
        so a refill in this very step counts as offered again (compared with the size
        before the trade, it would hide behind what was taken)."""
        takes = m.poly_yes.consumed + m.poly_no.consumed + m.kalshi.consumed
        if takes != m.takes_seen:  # nothing taken since the last look: nothing to lower
            m.takes_seen = takes
            m.offered_size = min(m.offered_size, sum(o[0] for o in self.market_offers(m)))

    def _note_offered(self, m: Market) -> None:
        """Add to the open window's ``reoffers`` what its market offers beyond what it did at
        the last look (a refill after a trade, a better re-quote), counted as the best of
        the walk now: capture scoring counts everything the sim offered while it was open."""
        w = m.window
        assert w is not None
        offers = self.market_offers(m)
        size = sum(o[0] for o in offers)
        if size > m.offered_size:
            extra: list[Offer] = []
            want = size - m.offered_size
            for q, a, pa, b, pb, edge in offers:
                take = min(q, want)
                extra.append((take, a, pa, b, pb, edge if take == q else edge * take // q))
                want -= take
                if want == 0:
                    break
            w = attrs.evolve(w, reoffers=(*w.reoffers, *extra))
            m.window = w
            self.windows[m.window_index] = w
        m.offered_size = size

    def market_offers(self, m: Market) -> list[Offer]:
        """Every profitable YES+NO pair chunk of market ``m`` now, across venues."""
        yes: list[SideLevel] = []
        no: list[SideLevel] = []
        for venue in ("polymarket", "kalshi"):
            fee = self.fee_fn(m, venue)
            for outcome, side in (("yes", yes), ("no", no)):
                key = self._key(m, venue, outcome)
                side.extend((p, q, key, fee) for p, q in self.ask_ladder(m, venue, outcome))
        return walk_offers(yes, no)

    @staticmethod
    def _key(m: Market, venue: str, outcome: str) -> str:
        """The trading system's instrument key (``InstrumentId.key()``)."""
        if venue == "kalshi":
            return f"kalshi:{m.ticker}:{outcome}"
        return f"polymarket:{m.yes_token if outcome == 'yes' else m.no_token}:{outcome}"

    def _noise(self) -> None:
        """Resize random levels until this step's share of ``rate`` is spent."""
        cfg = self.config
        rng = self.rng
        self._budget += cfg.rate * cfg.step_interval
        self._budget -= len(self.log)
        while self._budget >= 1.0:
            m = self.markets[rng.randrange(len(self.markets))]
            size = self._new_size()  # drawn before the indices, as the seeded runs always did
            level = rng.randrange(cfg.levels)
            column = rng.randrange(4)
            m.sizes[level][column] = size
            before = len(self.log)
            self._render_column(m, column)
            self._budget -= max(1, len(self.log) - before)
        self._budget = max(self._budget, -10.0 * cfg.rate * cfg.step_interval)

    def _print(self, m: Market) -> Print:
        rng = self.rng
        buy = rng.random() < 0.5
        book = m.poly_yes
        price = book.best(ASK if buy else BID)
        return Print(
            market=m.index,
            outcome="yes",
            price=price if price is not None else m.fair - m.fair % m.poly_tick,
            size=rng.randint(1, 200) * ONE,
            side="BUY" if buy else "SELL",
        )

    def _open_window(self, m: Market, out: StepOutput) -> None:
        cfg = self.config
        rng = self.rng
        kinds = cfg.window_kinds
        kind = kinds[rng.randrange(len(kinds))]
        edge = rng.randint(cfg.window_edge_min // 1_000, cfg.window_edge_max // 1_000) * 1_000
        # The shift must beat both spreads, both venues' quote noise, a tick of rounding on
        # each side and the worst-case taker fees on both legs, then leave ``edge``.
        cent_rounding = _ceil(10_000 * ONE // cfg.window_size, 1) if cfg.window_size else 0
        poly_fee = m.fee_rate_ppm // 4
        kalshi_fee_ps = 17_500 + cent_rounding
        legs_fee = 2 * poly_fee if kind == "poly_complement" else poly_fee + kalshi_fee_ps
        shift = 2 * cfg.half_spread + 2 * cfg.noise + 2 * POLY_TICK_WIDE + legs_fee + edge
        shift = _ceil(shift, POLY_TICK_WIDE)
        fair = m.fair
        lo, hi = WINDOW_ROOM + cfg.half_spread, ONE - WINDOW_ROOM - cfg.half_spread
        if kind == "poly_complement":
            if lo <= ONE - fair - shift:
                m.no_shift = -shift
            elif lo <= fair - shift:
                m.yes_shift = -shift
            else:
                return
        elif kind == "cross_poly_yes_kalshi_no":
            if fair + shift > hi:
                return
            m.kalshi_shift = shift
        else:
            if fair - shift < lo:
                return
            m.kalshi_shift = -shift
        size = cfg.window_size
        for row in m.sizes[:1]:
            row[:] = [max(v, size) for v in row]
        self._render(m)
        duration = cfg.window_duration * (0.5 + rng.random())
        steps = max(1, round(duration / cfg.step_interval))
        end = round(self.now + steps * cfg.step_interval, 9)
        self._window_seq += 1
        record = self._record(m, kind, f"w{cfg.seed}-{self._window_seq:05d}", end)
        m.window = record
        m.window_index = len(self.windows)
        m.offered_size = sum(o[0] for o in record.offers)
        self.windows.append(record)
        out.opened.append(record)

    def _pairs(self, kind: str) -> tuple[tuple[str, str], tuple[str, str]]:
        if kind == "poly_complement":
            return ("polymarket", "yes"), ("polymarket", "no")
        if kind == "cross_poly_yes_kalshi_no":
            return ("polymarket", "yes"), ("kalshi", "no")
        return ("kalshi", "yes"), ("polymarket", "no")

    def pair_edge(self, m: Market, kind: str) -> tuple[int, int, int, tuple[Leg, Leg]]:
        """(max size, total edge, per-share edge of first chunk, legs) for a pair kind now."""
        (va, oa), (vb, ob) = self._pairs(kind)
        la, lb = self.ask_ladder(m, va, oa), self.ask_ladder(m, vb, ob)
        fa, fb = self.fee_fn(m, va), self.fee_fn(m, vb)
        size, total = walk_edge(la, fa, lb, fb)
        per_share = 0
        if la and lb:
            q = min(la[0][1], lb[0][1])
            per_share = pair_edge_per_share(la[0][0], fa, lb[0][0], fb, q)
        ids = {"polymarket": {"yes": m.yes_token, "no": m.no_token}}
        legs = (
            Leg(va, ids[va][oa] if va == "polymarket" else m.ticker, oa, la[0][0] if la else ONE),
            Leg(vb, ids[vb][ob] if vb == "polymarket" else m.ticker, ob, lb[0][0] if lb else ONE),
        )
        return size, total, per_share, legs

    def _record(self, m: Market, kind: str, wid: str, end: float) -> WindowRecord:
        size, total, per_share, legs = self.pair_edge(m, kind)
        implied = tuple(k for k in KINDS if k != kind and self.pair_edge(m, k)[0] > 0)
        return WindowRecord(
            id=wid,
            kind=kind,
            market=m.index,
            legs=legs,
            start=self.now,
            end=end,
            start_ms=self.now_ms(),
            end_ms=self.epoch_ms + round(end * 1000),
            max_size=size,
            edge_net=total,
            edge_per_share=per_share,
            implied=implied,
            offers=tuple(self.market_offers(m)),
        )
