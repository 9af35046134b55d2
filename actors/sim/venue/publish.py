"""The simulated venue's clock-driven side: each scenario step, then the pending book
changes, trades and user events turned into frames and fanned out to every subscribed
connection (Polymarket market and user channels, Kalshi ``orderbook_delta``/``fill``,
Binance streams), and faults fired at their scheduled times.
"""

from __future__ import annotations

from typing import Any

import trio

from actors.sim.binance import combined
from actors.sim.config import Venue
from actors.sim.connections import Conn
from actors.sim.scenario import StepOutput
from actors.sim.venue.state import VenueState
from actors.sim.wire_kalshi import encode as kencode
from actors.sim.wire_kalshi import envelope
from actors.sim.wire_polymarket import encode


class Publisher(VenueState):
    """Publishing and the step driver."""

    # -- publishing ---------------------------------------------------------------------

    def flush(self, out: StepOutput | None = None, ts_ms: int | None = None) -> None:
        """Turn pending book changes and user events into frames on every connection."""
        ts = ts_ms if ts_ms is not None else self.now_ms()
        self._last_ms = max(self._last_ms, ts)
        log = self.scenario.log
        changes = list(log)
        log.clear()
        poly_objs: dict[int, list[dict[str, Any]]] = {}
        for index, obj in self.poly_wire.price_changes(changes, ts).items():
            poly_objs.setdefault(index, []).append(obj)
        extra: list[tuple[int, dict[str, Any]]] = []
        if out is not None:
            for tc in out.tick_changes:
                m = self.markets[tc.market]
                objs = self.poly_wire.tick_size_change(m, tc.old, tc.new, ts)
                extra += [(tc.market, o) for o in objs]
            for pr in out.prints:
                m = self.markets[pr.market]
                token = m.yes_token if pr.outcome == "yes" else m.no_token
                extra.append(
                    (
                        pr.market,
                        self.poly_wire.last_trade_price(
                            token, pr.price, pr.size, pr.side, m.fee_rate_ppm // 100, ts
                        ),
                    )
                )
        for venue, instrument, price, size in self.exchange.trades:
            if venue == "polymarket":
                m, _ = self.exchange.tokens[instrument]
                extra.append(
                    (
                        m.index,
                        self.poly_wire.last_trade_price(
                            instrument, price, size, "BUY", m.fee_rate_ppm // 100, ts
                        ),
                    )
                )
        self.exchange.trades.clear()
        for index, obj in extra:
            poly_objs.setdefault(index, []).append(obj)
        kalshi = self.kalshi_wire.deltas(changes, ts)
        events = list(self.exchange.events)
        self.exchange.events.clear()
        stalled = {v: self.faults.stalled(v) for v in Venue}
        for conn in list(self.conns):
            if conn.venue is Venue.POLYMARKET:
                if conn.path == "/ws/user":
                    self._push_poly_user(conn, events, stalled[Venue.POLYMARKET])
                elif not stalled[Venue.POLYMARKET]:
                    self._push_poly(conn, poly_objs)
            elif conn.venue is Venue.KALSHI:
                self._push_kalshi(conn, kalshi, events, stalled[Venue.KALSHI])

    def _push_poly(self, conn: Conn, objs: dict[int, list[dict[str, Any]]]) -> None:
        if not conn.assets:
            return
        batch: list[dict[str, Any]] = []
        for index, items in objs.items():
            m = self.markets[index]
            has_yes, has_no = m.yes_token in conn.assets, m.no_token in conn.assets
            if not (has_yes or has_no):
                continue
            for obj in items:
                if "price_changes" in obj and not (has_yes and has_no):
                    entries = [e for e in obj["price_changes"] if e["asset_id"] in conn.assets]
                    if not entries:
                        continue
                    obj = {**obj, "price_changes": entries}
                elif "asset_id" in obj and obj["asset_id"] not in conn.assets:
                    continue
                batch.append(obj)
        self._send_poly(conn, batch)

    def _send_poly(self, conn: Conn, batch: list[dict[str, Any]]) -> None:
        if not batch:
            return
        if len(batch) > 1 and self._rng.random() < self.config.array_frame_probability:
            conn.push(encode(batch))
            self.frames_published += 1
            return
        for obj in batch:
            conn.push(encode(obj))
        self.frames_published += len(batch)

    def _push_poly_user(self, conn: Conn, events: list[Any], stalled: bool) -> None:
        if conn.user_markets is None or stalled:
            return
        for ev in events:
            wanted = not conn.user_markets or ev.market in conn.user_markets
            if ev.venue == "polymarket" and wanted:
                conn.push(encode(ev.body))

    def _push_kalshi(
        self, conn: Conn, deltas: list[tuple[str, str]], events: list[Any], stalled: bool
    ) -> None:
        gap, conn.seq_gap = conn.seq_gap, 0
        for sub in conn.subs.values():
            if sub.channel == "orderbook_delta":
                if gap and deltas:
                    sub.seq += gap
                for ticker, body in deltas:
                    if ticker in sub.tickers:
                        sub.seq += 1  # consumed even while stalled: the client sees the gap
                        if not stalled:
                            conn.push(envelope("orderbook_delta", sub.sid, sub.seq, body))
            elif sub.channel == "fill" and not stalled:
                for ev in events:
                    if ev.venue == "kalshi":
                        conn.push(envelope("fill", sub.sid, None, kencode(ev.body)))
        if gap and not deltas:
            conn.seq_gap = gap  # nothing to skip over yet: keep it for the next delta

    # -- driver -------------------------------------------------------------------------

    def _step(self) -> None:
        out = self.scenario.step()
        self.exchange.sweep()
        for record in out.opened:
            if self._gt_file is not None:
                self._gt_file.write(record.to_json() + "\n")
                self._gt_file.flush()
        ts = self.scenario.now_ms()
        self.flush(out, ts)
        if self.binance is not None:
            self._push_binance(self.binance.step(ts))

    def _push_binance(self, payloads: list[tuple[str, str]]) -> None:
        if not payloads or self.faults.stalled(Venue.BINANCE):
            return
        for conn in list(self.conns):
            if conn.venue is not Venue.BINANCE or not conn.streams:
                continue
            streams = conn.streams
            for stream, payload in payloads:
                if stream in streams:
                    conn.push(combined(stream, payload) if conn.combined else payload)

    async def _drive(self) -> None:
        dt = self.config.step_interval
        while True:
            await trio.sleep_until(self._t0 + (self.scenario.step_index + 1) * dt)
            self._step()

    async def _scheduled_faults(self) -> None:
        for spec in sorted(self.config.faults, key=lambda s: s.at):
            await trio.sleep_until(self._t0 + spec.at)
            self.faults.inject(spec)
