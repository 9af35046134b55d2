"""The sim's own loopback control API: inject and heal faults, read the venue's state.

``arbtree sim --control-port N`` serves it beside the venue, so a fault can be injected
into a sim that runs in its own process (and outlives the bot), and a checker can read
what the venue holds (orders, fills, per-market positions and cash) after a run.
Loopback only; every request but ``GET /health`` needs ``Authorization: Bearer <token>``.

| request | answer |
|---|---|
| ``GET /health`` | ``{"ok": true}`` |
| ``GET /state`` | accounts, orders (with fills), per-market positions, fault history |
| ``POST /faults`` | ``{"kind", "venue"?, "count"?, "duration"?, "delay"?}`` -> injected now |
| ``POST /faults/clear`` | every pending fault dropped, stalls ended |
"""

from __future__ import annotations

import secrets
from typing import Any

import trio

from actors.sim.config import FaultKind, FaultSpec, Venue
from actors.sim.http import Reply, Request, serve_http
from actors.sim.matching.orders import Account, Order
from actors.sim.venue.server import SimVenue, check_loopback


def venue_state(sim: SimVenue) -> dict[str, Any]:
    """What the venue holds now, in plain JSON (1e-6 units throughout)."""
    ex = sim.exchange
    markets = []
    for m in sim.markets:
        poly, kal = ex.poly.positions, ex.kalshi.positions
        markets.append(
            {
                "index": m.index,
                "ticker": m.ticker,
                "yes_token": m.yes_token,
                "no_token": m.no_token,
                "polymarket": {"yes": poly.get(m.yes_token, 0), "no": poly.get(m.no_token, 0)},
                "kalshi": {
                    "yes": kal.get(f"{m.ticker}:yes", 0),
                    "no": kal.get(f"{m.ticker}:no", 0),
                },
            }
        )
    return {
        "now_ms": sim.now_ms(),
        "accounts": {"polymarket": _account(ex.poly), "kalshi": _account(ex.kalshi)},
        "markets": markets,
        "orders": [_order(o) for o in ex.orders.values()],
        "faults": [
            {"at": at, "kind": spec.kind.value, "venue": spec.venue and spec.venue.value}
            for at, spec in sim.faults.history
        ],
    }


def _account(acct: Account) -> dict[str, Any]:
    return {"cash": acct.cash, "reserved": acct.reserved, "positions": dict(acct.positions)}


def _order(o: Order) -> dict[str, Any]:
    return {
        "venue": o.venue,
        "order_id": o.order_id,
        "client_order_id": o.client_order_id,
        "instrument": o.instrument,
        "market": o.market.index,
        "outcome": o.outcome,
        "side": "buy" if o.buy else "sell",
        "price": o.price,
        "size": o.size,
        "filled": o.filled,
        "status": o.status,
        "tif": o.tif,
        "created_ms": o.created_ms,
        "trade_ids": list(o.trade_ids),
        # Polymarket takes a buy's taker fee in shares: what the position is short of.
        "fee_shares": o.fee_shares,
        "failed": o.failed,  # of ``filled``: trades that settled FAILED (nothing moved)
    }


def parse_fault(body: Any) -> FaultSpec:
    """A ``FaultSpec`` from a request body; ``ValueError`` names what is wrong."""
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    try:
        kind = FaultKind(body.get("kind"))
    except ValueError:
        known = ", ".join(k.value for k in FaultKind)
        raise ValueError(f"unknown fault kind {body.get('kind')!r} (known: {known})") from None
    venue = body.get("venue")
    try:
        parsed_venue = None if venue is None else Venue(venue)
    except ValueError:
        raise ValueError(f"unknown venue {venue!r}") from None
    count, duration, delay = body.get("count", 1), body.get("duration", 1.0), body.get("delay", 1.0)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 1_000_000:
        raise ValueError("count must be an integer in 1..1000000")
    for name, value in (("duration", duration), ("delay", delay)):
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 3600:
            raise ValueError(f"{name} must be a number of seconds in 0..3600")
    return FaultSpec(
        kind, venue=parsed_venue, count=count, duration=float(duration), delay=float(delay)
    )


class SimControl:
    """The request handler over one running ``SimVenue``."""

    def __init__(self, sim: SimVenue, token: str) -> None:
        self.sim = sim
        self.token = token

    async def handle(self, request: Request) -> Reply:
        if request.path == "/health" and request.method == "GET":
            return Reply(200, {"ok": True})
        presented = request.headers.get("authorization", "")
        scheme, _, value = presented.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(
            value.strip().encode(), self.token.encode()
        ):
            return Reply(401, {"ok": False, "error": "unauthorized: missing or wrong bearer token"})
        route = (request.method, request.path.rstrip("/"))
        if route == ("GET", "/state"):
            return Reply(200, venue_state(self.sim))
        if route == ("POST", "/faults"):
            try:
                spec = parse_fault(request.json())
            except ValueError as exc:
                return Reply(400, {"ok": False, "error": str(exc)})
            self.sim.faults.inject(spec)
            return Reply(200, {"ok": True, "kind": spec.kind.value})
        if route == ("POST", "/faults/clear"):
            self.sim.faults.clear()
            return Reply(200, {"ok": True})
        return Reply(404, {"ok": False, "error": f"no route {request.method} {request.path}"})


async def serve_sim_control(
    sim: SimVenue,
    token: str,
    port: int = 0,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the control API for ``sim`` on its (loopback) host; reports the bound port."""
    check_loopback(sim.host)
    control = SimControl(sim, token)
    await serve_http(control.handle, sim.host, port, task_status=task_status)
