"""``arbtree bench trading``: opportunity -> order request on the socket, through the fund
manager and the executor against the simulated venue, with the same-run floor.

Measured per opportunity (sequential, one in flight): from detection (the opportunity's
``detect_ns``, stamped as it is sent into the detector -> fund-manager mailbox) to the
moment each leg's request has been written to the socket (the executor's ``SendTimes``):
``first_leg`` and ``last_leg``. The floor, measured in the same run: two raw mailbox hops
(the same Mailbox type and policy) plus one ``send`` of the same request's bytes,
serialized beforehand, on a connected socket to the same sim. For reference, not a floor:
a plain httpx ``AsyncClient`` POST of the same shape, call -> bytes written (httpcore's
trace). Figures are HDR histograms in microseconds; they are reported, never asserted.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import httpx
import msgspec
import trio
import trio.lowlevel
from hdrh.histogram import HdrHistogram

from actors.shutdown_phases import new_shutdown
from actors.sim.config import SimConfig
from actors.sim.venue import open_sim_venue
from actors.trading.http_clients import build_clients
from actors.trading.ladder import Hold
from actors.trading.send_timing import SendTimes
from actors.trading_tree import build_trading_path
from bench import fund_costs
from bench.floors import raw_hops, raw_send_floor
from bench.percentiles import histogram
from protocols.config.trading import FundLimitsConfig, FundManagerConfig, TradingConfig
from protocols.fixed import SIZE_ONE
from protocols.messages import (
    InstrumentId,
    Opportunity,
    OpportunityLeg,
    OrderIntent,
    Outcome,
    Side,
    Venue,
)
from supervision import ChildSpec, Mailbox, OverflowPolicy, SupervisorSpec
from supervision.tree import open_tree


def _fmt(name: str, h: HdrHistogram) -> str:
    p50, p99 = h.get_value_at_percentile(50), h.get_value_at_percentile(99)
    return (
        f"{name:<28} n={h.get_total_count():>6}  p50={p50:>8} us  p99={p99:>8} us"
        f"  max={h.get_max_value():>8} us"
    )


@attrs.define
class LegsWritten:
    """Opportunity id -> ns from detection to its first and to its last leg written to the
    socket (the executor's ``SendTimes``, fed by the venue clients' trace)."""

    legs: int
    first: dict[str, int] = attrs.Factory(dict)
    last: dict[str, int] = attrs.Factory(dict)
    counts: dict[str, int] = attrs.Factory(dict)
    all_out: trio.Event = attrs.Factory(trio.Event)  # the current opportunity's legs

    def on_sent(self, intent: OrderIntent, now_ns: int) -> None:
        opp = intent.opportunity_id
        self.first.setdefault(opp, now_ns - intent.detect_ns)
        self.last[opp] = now_ns - intent.detect_ns
        self.counts[opp] = self.counts.get(opp, 0) + 1
        if self.counts[opp] == self.legs:
            self.all_out.set()


@contextmanager
def recording(rec: LegsWritten) -> Iterator[None]:
    original = SendTimes.on_sent

    def on_sent(self: SendTimes, intent: OrderIntent, now_ns: int) -> None:
        original(self, intent, now_ns)
        if intent.detect_ns:
            rec.on_sent(intent, now_ns)

    SendTimes.on_sent = on_sent  # type: ignore[method-assign]
    try:
        yield
    finally:
        SendTimes.on_sent = original  # type: ignore[method-assign]


async def _bench(n: int, warmup: int) -> dict[str, HdrHistogram]:
    first_leg, last_leg, hops, raw_send, plain = (
        histogram(),
        histogram(),
        histogram(),
        histogram(),
        histogram(),
    )
    rec = LegsWritten(legs=2)
    with recording(rec):
        await _run(n, warmup, rec, hops, raw_send, plain)
    for i in range(warmup, warmup + n):
        if rec.counts.get(f"b{i}") == rec.legs:
            first_leg.record_value(max(1, rec.first[f"b{i}"] // 1000))
            last_leg.record_value(max(1, rec.last[f"b{i}"] // 1000))
    return {
        "first_leg": first_leg,
        "last_leg": last_leg,
        "floor_hops": hops,
        "floor_send": raw_send,
        "plain_httpx": plain,
    }


async def _run(
    n: int,
    warmup: int,
    rec: LegsWritten,
    hops: HdrHistogram,
    raw_send: HdrHistogram,
    plain: HdrHistogram,
) -> None:
    async with open_sim_venue(SimConfig(seed=11, markets=2, rate=20.0, window_rate=0.0)) as sim:
        base = TradingConfig()
        ex = base.executor
        cfg = TradingConfig(
            fund=FundManagerConfig(
                limits=FundLimitsConfig(
                    max_opportunity_age_s=10.0,
                    max_exposure_total="1000000",
                    max_exposure_per_venue="1000000",
                    max_exposure_per_pair="1000000",
                    max_exposure_per_instrument="1000000",
                    daily_loss_limit="1000000",
                ),
                paper_balances={"polymarket": "10000", "kalshi": "10000"},
            ),
            executor=msgspec.structs.replace(
                ex,
                polymarket=msgspec.structs.replace(
                    ex.polymarket,
                    rest_url=sim.polymarket_rest_url,
                    rate_limit=msgspec.structs.replace(
                        ex.polymarket.rate_limit, rate_per_s=1e6, burst=1e6
                    ),
                ),
                kalshi=msgspec.structs.replace(
                    ex.kalshi,
                    rest_url=sim.kalshi_rest_url,
                    rate_limit=msgspec.structs.replace(
                        ex.kalshi.rate_limit, rate_per_s=1e6, burst=1e6
                    ),
                ),
            ),
        )

        def clients() -> Any:
            return build_clients(cfg.executor)

        opps: Mailbox[Opportunity] = Mailbox("opps", 8, OverflowPolicy.BLOCK)
        spec, _, handles = build_trading_path(cfg, opportunities=opps, clients=clients)
        m = sim.markets[0]
        legs = (
            OpportunityLeg(
                instrument=InstrumentId(
                    venue=Venue.POLYMARKET, symbol=m.yes_token, outcome=Outcome.YES
                ),
                side=Side.BUY,
                limit_price=10_000,
                size=20 * SIZE_ONE,
            ),
            OpportunityLeg(
                instrument=InstrumentId(venue=Venue.KALSHI, symbol=m.ticker, outcome=Outcome.NO),
                side=Side.BUY,
                limit_price=10_000,
                size=20 * SIZE_ONE,
            ),
        )
        # 20 shares: above the venues' minimum even after a fee taken in shares (5 shares
        # were rejected as min_size); limit 0.01: FOKs do not fill, books and cash stay.
        root = SupervisorSpec(children=(ChildSpec(id="trading", start=spec),))
        async with open_tree(root, name="bench", shutdown=new_shutdown()) as tree:
            while Hold.RECONCILIATION in handles.control.ladder.holds:
                await handles.control.wait_change()
            for i in range(warmup + n):
                now = time.monotonic_ns()
                opp = Opportunity(
                    opportunity_id=f"b{i}",
                    strategy="bench",
                    legs=legs,
                    expected_edge=1,
                    fees=0,
                    venue_ts_ms=0,
                    recv_ns=now,
                    detect_ns=now,
                )
                rec.all_out = trio.Event()
                await opps.send(opp)
                await rec.all_out.wait()
                await trio.sleep(0.002)  # let the responses settle before the next one
            orders = handles.control.stats_sources["executor"]()["orders"]
            print(
                f"executor: {orders.get('sent_now', 0)} of {orders.get('sent', 0)} orders"
                " written from the step that received their execution"
            )
            tree.request_shutdown("bench done")

        # Floor 1: two raw mailbox hops (same Mailbox, BLOCK), one message in flight.
        hops.add(await raw_hops(2, n))

        body = msgspec.json.encode(
            {
                "ticker": m.ticker,
                "side": "no",
                "action": "buy",
                "count_fp": "5.00",
                "no_price_dollars": "0.0100",
                "time_in_force": "fill_or_kill",
            }
        )
        await raw_send_floor(sim.kalshi_rest_url + "/portfolio/orders", body, n, warmup, raw_send)

        # Reference (not a floor): a plain httpx POST of the same shape, call -> written.
        t_call = 0

        async def trace(event: str, info: dict[str, Any]) -> None:
            if event == "http11.send_request_body.complete":
                plain.record_value(max(1, (time.perf_counter_ns() - t_call) // 1000))

        async with httpx.AsyncClient(base_url=sim.kalshi_rest_url) as client:
            for i in range(warmup + n):
                if i == warmup:
                    plain.reset()
                t_call = time.perf_counter_ns()
                await client.post(
                    "/portfolio/orders",
                    content=body,
                    headers={"content-type": "application/json"},
                    extensions={"trace": trace},
                )


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="arbtree bench trading")
    parser.add_argument("-n", type=int, default=500, help="measured opportunities")
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args(argv)
    hists = trio.run(_bench, args.n, args.warmup)
    print("detection -> first / last leg's order request written to the socket (SendTimes)")
    for name, h in hists.items():
        print(_fmt(name, h))
    p = hists["first_leg"]
    floor50 = hists["floor_hops"].get_value_at_percentile(50) + hists[
        "floor_send"
    ].get_value_at_percentile(50)
    floor99 = hists["floor_hops"].get_value_at_percentile(99) + hists[
        "floor_send"
    ].get_value_at_percentile(99)
    print(f"floor (hops + send)          p50={floor50} us  p99={floor99} us")
    print(
        f"ratio first_leg/floor         p50={p.get_value_at_percentile(50) / max(1, floor50):.2f}"
        f"  p99={p.get_value_at_percentile(99) / max(1, floor99):.2f}"
    )
    print()
    print("\n".join(fund_costs.report()))
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(run(sys.argv[1:]))
