"""The detector actor: evaluates the enabled strategies on every book change.

Input: the quote cache's COALESCE mailbox of :class:`TopOfBook` (latest per instrument).
Output: :class:`Opportunity` into a small BLOCK mailbox to the fund manager.

Per batch: drain the mailbox (one await, then non-blocking), store each top as the latest
for its ``(venue, symbol)``, collect the candidates that read any changed book (an index
by book, so the cost of an update does not grow with the number of markets watched),
and evaluate each once:

1. cooldown gate (per candidate key, ``cooldown_s`` after an emission) and episode gate:
   after an emission the candidate is disarmed until its fresh, non-stale tops have been
   seen not crossing for ``episode_gap_s`` in a row. Our own fill empties the best level
   for a moment before the maker re-quotes, so a brief close is not the end of the
   dislocation; one window yields at most ``trades_per_episode`` opportunities however
   long it stays open, each after the cooldown and planned on the book as it is then.
   A disarmed candidate is only tracked (O(1)), never planned: nothing it found could
   be emitted, and while a window stays open that would be a depth walk per batch;
2. stale gate: either book flagged stale, or received more than ``max_quote_age_s`` ago;
3. O(1) pre-check: best ask + best ask + ``min_edge`` must be below $1 (fees only add);
4. depth walk (:func:`actors.detector.sizing.plan_pair`);
5. re-check against the cache's current state (when a :class:`QuoteReader` is given):
   if either book moved on since the published top, re-plan on the fresh tops;
6. emit, with the venue event time, receive time and detect time.

The ``halt-trading`` shutdown phase stops emission.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import attrs
import trio

from actors.detector import complement, cross_venue
from actors.detector.sizing import PairPlan, plan_pair
from actors.detector.strategy import BookKey, Candidate
from actors.shutdown_phases import Phase
from protocols.config.market import DetectorConfig
from protocols.fixed import PRICE_ONE, parse_units
from protocols.messages import Opportunity, OpportunityLeg, Side, TopOfBook, Venue
from supervision import Actor, ActorContext, Mailbox, OverflowPolicy, QueueInstead

if TYPE_CHECKING:
    from actors.observability.metrics import Metrics
    from actors.quote_cache import QuoteReader

STRATEGIES: dict[str, Callable[[DetectorConfig], list[Candidate]]] = {
    complement.NAME: complement.candidates,
    cross_venue.NAME: cross_venue.candidates,
}


def outbox_mailbox(cfg: DetectorConfig, name: str = "trading/fund_manager") -> Mailbox[Opportunity]:
    """detector -> fund_manager: BLOCK, small (stale opportunities are rejected by age)."""
    return Mailbox(name, cfg.outbox_capacity, OverflowPolicy.BLOCK)


def build_candidates(cfg: DetectorConfig) -> list[Candidate]:
    out: list[Candidate] = []
    for name in cfg.strategies:
        try:
            out.extend(STRATEGIES[name](cfg))
        except KeyError:
            raise ValueError(f"unknown strategy {name!r}; known: {sorted(STRATEGIES)}") from None
    return out


@attrs.define(eq=False)
class DetectorStats:
    batches: int = 0
    updates: int = 0
    evaluations: int = 0
    emitted: int = 0
    cooldown_skips: int = 0
    episode_skips: int = 0  # tops still crossing after an emission: not planned again
    rearms: int = 0  # dislocations seen closed after an emission
    stale_skips: int = 0
    recheck_changed: int = 0
    recheck_dropped: int = 0


class _Book:
    """A watched book: its latest published top and the evaluations that read it.
    Books of the same symbol on other venues are chained through ``next``."""

    __slots__ = ("evals", "next", "top", "venue")

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.top: TopOfBook | None = None
        self.evals: list[_Eval] = []
        self.next: _Book | None = None


class _Eval:
    """A candidate bound to its two books and its cooldown: evaluating it touches only
    these objects, never a table whose size grows with the markets watched. Candidates
    sharing a cooldown key (a cross-venue pair has two) list each other in ``group``."""

    __slots__ = (
        "a",
        "a_mirror",
        "armed",
        "b",
        "b_mirror",
        "cand",
        "closed_since",
        "emits",
        "group",
        "stamp",
        "until",
    )

    def __init__(self, cand: Candidate, a: _Book, b: _Book) -> None:
        self.cand = cand
        self.a = a
        self.b = b
        self.a_mirror = cand.a.mirrored
        self.b_mirror = cand.b.mirrored
        self.until = float("-inf")  # cooldown deadline (trio time)
        self.armed = True  # False from an emission until the dislocation is seen closed
        self.closed_since: float | None = None  # while disarmed: when seen closed, in a row
        self.emits = 0  # opportunities emitted in the current episode
        self.group: list[_Eval] = [self]
        self.stamp = 0  # last update() round that queued it (dedup within a batch)


EvalHook = Callable[[Candidate, int], None]


class Engine:
    """The detector's state and evaluation, free of I/O (tests and the bench drive it).

    Books are indexed by symbol (then venue), each holding its latest top and the
    candidates reading it; a candidate holds its two books and its cooldown, so the cost
    of an update does not depend on how many markets are watched (no scans, no lookups
    in tables keyed by pair).

    ``eval_hook`` (None = off, no cost): called after every evaluation of a candidate
    with both tops known and out of cooldown, whether or not it emitted, with the
    evaluation latency in ns (decision time - receive time of the newer book). The
    bench measures tick-to-decision with it under a normal configuration.
    """

    def __init__(
        self,
        cfg: DetectorConfig,
        *,
        reader: QuoteReader | None = None,
        clock_ns: Callable[[], int] = time.monotonic_ns,
        candidates: list[Candidate] | None = None,
        eval_hook: EvalHook | None = None,
    ) -> None:
        self.cfg = cfg
        self.reader = reader
        self.clock_ns = clock_ns
        self.min_edge = parse_units(cfg.min_edge)
        if self.min_edge < 0:
            raise ValueError(f"min_edge must be >= 0, got {cfg.min_edge!r}")
        self.min_profit = parse_units(cfg.min_profit)
        self.max_size = parse_units(cfg.max_size)
        self.max_age_ns = int(cfg.max_quote_age_s * 1e9)
        self.cooldown_s = cfg.cooldown_s
        self.episode_gap_s = cfg.episode_gap_s
        self.trades_per_episode = cfg.trades_per_episode
        self.depth_edge_ratio = cfg.depth_edge_ratio
        self.candidates = build_candidates(cfg) if candidates is None else candidates
        self.eval_hook = eval_hook
        self._books: dict[str, _Book] = {}  # symbol -> its book (chain: other venues)
        self._evals: dict[int, _Eval] = {}  # id(candidate) -> its evaluation
        groups: dict[str, list[_Eval]] = {}
        for c in self.candidates:
            ev = _Eval(c, self._book(c.a.book), self._book(c.b.book))
            self._evals[id(c)] = ev
            ev.a.evals.append(ev)
            if ev.b is not ev.a:
                ev.b.evals.append(ev)
            group = groups.setdefault(c.key, [])
            group.append(ev)
            ev.group = group
        self._groups = groups
        self._round = 0
        self.stats = DetectorStats()
        self._ids = itertools.count(1)
        self._run_tag = f"{time.time_ns():x}"
        self.latencies_ns: list[int] | None = None  # set to a list to record (bench)
        # tick-to-opportunity (detect time - receive time of the newer book) of the
        # opportunities returned by the last update() call
        self.batch_latencies_ns: list[int] = []

    def _book(self, key: BookKey) -> _Book:
        venue, symbol = key
        bk = self._books.get(symbol)
        if bk is None:
            bk = self._books[symbol] = _Book(venue)
            return bk
        while True:
            if bk.venue is venue:
                return bk
            if bk.next is None:
                bk.next = _Book(venue)
                return bk.next
            bk = bk.next

    def candidates_reading(self, top: TopOfBook) -> int:
        """How many candidates read ``top``'s book: at most that many opportunities from
        one update with it."""
        inst = top.instrument
        bk = self._books.get(inst.symbol)
        while bk is not None and bk.venue is not inst.venue:
            bk = bk.next
        return 0 if bk is None else len(bk.evals)

    @property
    def latest(self) -> dict[BookKey, TopOfBook]:
        """The latest top of every watched book that has one (a copy; inspection only)."""
        out: dict[BookKey, TopOfBook] = {}
        for sym, head in self._books.items():
            bk: _Book | None = head
            while bk is not None:
                if bk.top is not None:
                    out[(bk.venue, sym)] = bk.top
                bk = bk.next
        return out

    @property
    def cooldown_until(self) -> dict[str, float]:
        """Cooldown deadlines by candidate key (a copy; inspection only)."""
        return {k: g[0].until for k, g in self._groups.items() if g[0].until != float("-inf")}

    def update(self, tops: Iterable[TopOfBook], now: float) -> list[Opportunity]:
        """Take a batch of tops; return the opportunities to emit now."""
        books = self._books
        self._round += 1
        rnd = self._round
        todo: list[_Eval] = []
        n = 0
        for top in tops:
            n += 1
            inst = top.instrument
            bk = books.get(inst.symbol)
            venue = inst.venue
            while bk is not None and bk.venue is not venue:
                bk = bk.next
            if bk is None:
                continue
            bk.top = top
            for ev in bk.evals:
                if ev.stamp != rnd:
                    ev.stamp = rnd
                    todo.append(ev)
        stats = self.stats
        stats.batches += 1
        stats.updates += n
        self.batch_latencies_ns.clear()
        if not todo:
            return []
        out: list[Opportunity] = []
        for ev in todo:
            crossing = False
            if not ev.armed or ev.emits:
                crossing = self._track_episode(ev, now)  # a close inside the cooldown counts
            if now < ev.until:
                stats.cooldown_skips += 1
                continue
            if not ev.armed:
                # The dislocation it emitted is still open (or closed too briefly): nothing
                # this candidate finds could be emitted, so no depth walk, no sizing.
                if crossing:
                    stats.episode_skips += 1
                continue
            opp = self._evaluate(ev)
            if opp is None:
                continue
            until = now + self.cooldown_s
            for sibling in ev.group:
                sibling.until = until
                sibling.emits += 1
                sibling.armed = sibling.emits < self.trades_per_episode
                sibling.closed_since = None
            out.append(opp)
        return out

    def evaluate(self, c: Candidate) -> Opportunity | None:
        """Evaluate one candidate on the latest tops (no cooldown gate)."""
        return self._evaluate(self._evals[id(c)])

    def _evaluate(self, ev: _Eval) -> Opportunity | None:
        ta = ev.a.top
        tb = ev.b.top
        if ta is None or tb is None:
            return None
        c = ev.cand
        # The O(1) gates of _plan, inline (the common, non-crossing case ends here).
        pa, sa = (PRICE_ONE - ta.bid, ta.bid_size) if ev.a_mirror else (ta.ask, ta.ask_size)
        pb, sb = (PRICE_ONE - tb.bid, tb.bid_size) if ev.b_mirror else (tb.ask, tb.ask_size)
        plan: PairPlan | None = None
        if ta.stale or tb.stale:
            self.stats.evaluations += 1
            self.stats.stale_skips += 1
        elif sa <= 0 or sb <= 0 or pa + pb + self.min_edge >= PRICE_ONE:
            self.stats.evaluations += 1
        else:
            plan = self._plan(c, ta, tb)
        reader = self.reader
        if plan is not None and reader is not None:
            # Re-check against the cache's current state: it may have applied newer data
            # than the tops this batch carried (the detector lags by at most one batch).
            fa = fb = None
            if reader.version(*c.a.book) != ta.version:
                fa = reader.top(*c.a.book)
            if reader.version(*c.b.book) != tb.version:
                fb = reader.top(*c.b.book)
            if fa is not None or fb is not None:
                self.stats.recheck_changed += 1
                ta = fa or ta
                tb = fb or tb
                plan = self._plan(c, ta, tb)
                if plan is None:
                    self.stats.recheck_dropped += 1
        hook = self.eval_hook
        if hook is not None:
            hook(c, self.clock_ns() - max(ta.recv_ns, tb.recv_ns))
        if plan is None:
            return None
        return self._opportunity(c, plan, ta, tb)

    def _track_episode(self, ev: _Eval, now: float) -> bool:
        """Re-arm a disarmed candidate once its fresh, non-stale tops have not crossed for
        ``episode_gap_s`` in a row (O(1); a stale book tells nothing either way). Returns
        whether its tops cross now (the O(1) pre-check: before fees and depth)."""
        ta = ev.a.top
        tb = ev.b.top
        if ta is None or tb is None or ta.stale or tb.stale:
            return False
        pa, sa = (PRICE_ONE - ta.bid, ta.bid_size) if ev.a_mirror else (ta.ask, ta.ask_size)
        pb, sb = (PRICE_ONE - tb.bid, tb.bid_size) if ev.b_mirror else (tb.ask, tb.ask_size)
        closed = sa > 0 and sb > 0 and pa + pb + self.min_edge >= PRICE_ONE
        since = ev.closed_since
        if since is not None and now - since >= self.episode_gap_s:
            for sibling in ev.group:  # closed long enough: whatever comes next is new
                sibling.armed = True
                sibling.closed_since = None
                sibling.emits = 0
            self.stats.rearms += 1
        elif closed and since is None:
            for sibling in ev.group:
                sibling.closed_since = now
        elif not closed and since is not None:
            for sibling in ev.group:  # crossing again too soon: the same episode
                sibling.closed_since = None
        return sa > 0 and sb > 0 and not closed

    def _plan(self, c: Candidate, ta: TopOfBook, tb: TopOfBook) -> PairPlan | None:
        self.stats.evaluations += 1
        if ta.stale or tb.stale:
            self.stats.stale_skips += 1
            return None
        pa, sa = c.a.best(ta)
        pb, sb = c.b.best(tb)
        if sa <= 0 or sb <= 0 or pa + pb + self.min_edge >= PRICE_ONE:
            return None
        now_ns = self.clock_ns()
        if now_ns - min(ta.recv_ns, tb.recv_ns) > self.max_age_ns:
            self.stats.stale_skips += 1
            return None
        return plan_pair(
            c.a.levels(ta),
            c.a.fee,
            c.b.levels(tb),
            c.b.fee,
            min_edge=self.min_edge,
            min_profit=self.min_profit,
            max_size=self.max_size,
            step=c.step,
            depth_edge_ratio=self.depth_edge_ratio,
        )

    def _opportunity(
        self, c: Candidate, plan: PairPlan, ta: TopOfBook, tb: TopOfBook
    ) -> Opportunity:
        detect_ns = self.clock_ns()
        latency = detect_ns - max(ta.recv_ns, tb.recv_ns)
        self.batch_latencies_ns.append(latency)
        if self.latencies_ns is not None:
            self.latencies_ns.append(latency)
        self.stats.emitted += 1
        return Opportunity(
            opportunity_id=f"{c.key}#{self._run_tag}-{next(self._ids)}",
            strategy=c.strategy,
            legs=(
                OpportunityLeg(
                    instrument=c.a.buy,
                    side=Side.BUY,
                    limit_price=plan.a.limit_price,
                    size=plan.size,
                ),
                OpportunityLeg(
                    instrument=c.b.buy,
                    side=Side.BUY,
                    limit_price=plan.b.limit_price,
                    size=plan.size,
                ),
            ),
            expected_edge=plan.edge,
            fees=plan.fees,
            venue_ts_ms=max(ta.venue_ts_ms, tb.venue_ts_ms),
            recv_ns=min(ta.recv_ns, tb.recv_ns),
            trigger_recv_ns=max(ta.recv_ns, tb.recv_ns),
            detect_ns=detect_ns,
        )


@attrs.define(eq=False)
class Detector(Actor):
    config: DetectorConfig
    inbox: Mailbox[TopOfBook]
    outbox: Mailbox[Opportunity]
    reader: QuoteReader | None = None
    metrics: Metrics | None = None
    max_batch: int = 4096
    engine: Engine | None = attrs.field(init=False, default=None)
    halted: bool = attrs.field(init=False, default=False)

    async def run(
        self, ctx: ActorContext, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        engine = self.engine = Engine(self.config, reader=self.reader)

        async def halt() -> None:
            self.halted = True

        unregister = ctx.shutdown.add_task(Phase.HALT_TRADING, f"{ctx.path}:stop-emitting", halt)
        task_status.started()
        inbox = self.inbox
        outbox = self.outbox
        metrics = self.metrics
        unobserved: tuple[list[Opportunity], list[int]] | None = None

        def begin() -> bool:
            """Per delivery or batch: heartbeat, the last emissions' metrics; False once
            halted (nothing is evaluated)."""
            nonlocal unobserved
            ctx.heartbeat()
            if unobserved is not None:
                self._observe(*unobserved)
                unobserved = None
            return not self.halted

        def handle(top: TopOfBook) -> None:
            """Direct, in the cache's step: evaluate, hand what it finds on (to the fund
            manager's handler when it is idle). Queued instead while the outbox lacks room
            for every candidate reading this book (this step must not wait)."""
            nonlocal unobserved
            if outbox.capacity - len(outbox) < engine.candidates_reading(top):
                raise QueueInstead
            if not begin():
                return
            opps = engine.update((top,), trio.current_time())
            for opp in opps:
                outbox.send_nowait(opp)
            if opps and metrics is not None:
                unobserved = (opps, list(engine.batch_latencies_ns))

        if self.config.direct:
            inbox.set_handler(handle)
        try:
            while True:
                batch = await inbox.receive_batch(self.max_batch)
                if not begin():
                    continue
                opps = engine.update(batch, trio.current_time())
                if not opps:
                    continue
                for opp in opps:
                    # No step of ours beside the fund manager's in its round; our metrics
                    # wait for the next batch (``unobserved``).
                    await outbox.hand_off(opp)
                if metrics is not None:
                    unobserved = (opps, list(engine.batch_latencies_ns))
        finally:
            if self.config.direct:
                inbox.set_handler(None)
            if unobserved is not None:
                self._observe(*unobserved)
            unregister()

    def _observe(self, opps: list[Opportunity], latencies_ns: list[int]) -> None:
        metrics = self.metrics
        assert metrics is not None
        for opp in opps:
            metrics.opportunities.labels(opp.strategy).inc()
        for lat in latencies_ns:
            metrics.tick_to_opportunity.observe(lat / 1e9)
