"""Kalshi Trade API v2 orders over HTTP: paper (the sim, unsigned) and live (RSA-PSS signed
requests, keys from the environment only)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import httpx
import msgspec

from actors.trading.client_base import LiveModeRefused, OrderEntry, Secret, now_ns
from actors.trading.http_transport import request
from actors.trading.send_timing import SendTimes
from actors.trading.venue_clients import AccountSnapshot, Ambiguous, OrderStatus
from protocols.fixed import PRICE_ONE, parse_units
from protocols.messages import (
    InstrumentId,
    OrderIntent,
    OrderReject,
    OrderState,
    Outcome,
    Venue,
)
from protocols.venues import kalshi as kwire


class _KOrder(msgspec.Struct, kw_only=True):
    order_id: str
    client_order_id: str = ""
    ticker: str = ""
    side: str = ""
    action: str = ""
    status: str = ""
    fill_count_fp: str = "0"
    initial_count_fp: str = "0"
    remaining_count_fp: str = "0"
    taker_fees_dollars: str = "0"
    maker_fees_dollars: str = "0"
    taker_fill_cost_dollars: str = "0"
    maker_fill_cost_dollars: str = "0"


class _KOrderBody(msgspec.Struct):
    order: _KOrder


class _KOrders(msgspec.Struct):
    orders: list[_KOrder] = []


class _KBalance(msgspec.Struct):
    balance: int = 0
    balance_dollars: str | None = None


_K_STATE = {
    "resting": OrderState.OPEN,
    "executed": OrderState.FILLED,
    "canceled": OrderState.CANCELLED,
}


def _k_status(o: _KOrder, instrument: InstrumentId, tick: int) -> OrderStatus:
    filled = parse_units(o.fill_count_fp or "0")
    cost = parse_units(o.taker_fill_cost_dollars or "0") + parse_units(
        o.maker_fill_cost_dollars or "0"
    )
    fee = parse_units(o.taker_fees_dollars or "0") + parse_units(o.maker_fees_dollars or "0")
    avg = 0
    if filled:
        # Not rounded to the tick: a fill across levels has an off-tick average, and
        # booking it on the tick would drift the cash by up to half a tick per share.
        # Rounded up to 1e-6, so the booked cost is never below the venue's.
        avg = -(-cost * PRICE_ONE // filled)
    state = _K_STATE.get(o.status, OrderState.OPEN)
    if state is OrderState.OPEN and filled:
        state = OrderState.PARTIALLY_FILLED
    return OrderStatus(
        client_order_id=o.client_order_id,
        venue_order_id=o.order_id,
        instrument=instrument,
        state=state,
        size=parse_units(o.initial_count_fp or "0"),
        filled_size=filled,
        avg_price=avg,
        fee=fee,
    )


@attrs.define(eq=False)
class KalshiClient(OrderEntry):
    """Kalshi Trade API v2 orders. ``signer`` adds the RSA-PSS headers (live); paper
    mode against the sim sends unsigned requests."""

    http: httpx.AsyncClient
    prefix: str = "/trade-api/v2"  # the path prefix signed along with the path
    signer: Callable[[str, str], dict[str, str]] | None = None
    tick: int = 10_000
    venue: Venue = Venue.KALSHI
    send_times: SendTimes | None = None  # set by the executor: when orders hit the socket

    def _headers(self, method: str, path: str, *, signed: bool = True) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if self.signer is not None and signed:
            headers.update(self.signer(method, self.prefix + path))
        return headers

    def order_parts(
        self, intent: OrderIntent, *, signed: bool = True
    ) -> tuple[str, bytes, dict[str, str]]:
        inst = intent.instrument
        req = kwire.create_order_request(
            inst.symbol,
            inst.outcome or Outcome.YES,
            intent.side,
            intent.limit_price,
            intent.size,
            intent.client_order_id,
            intent.time_in_force,
        )
        path = "/portfolio/orders"
        return path, kwire.encode_create_order(req), self._headers("POST", path, signed=signed)

    def order_result(self, intent: OrderIntent, resp: httpx.Response) -> OrderStatus | OrderReject:
        """What the venue's reply to a create-order request says about the order."""
        inst = intent.instrument
        if resp.status_code in (200, 201):
            try:
                body = msgspec.json.decode(resp.content, type=_KOrderBody)
            except msgspec.DecodeError as exc:
                raise Ambiguous(f"undecodable 2xx response: {exc}") from exc
            return _k_status(body.order, inst, self.tick)
        decoded = kwire.decode_create_order_response(resp.content)
        outcome = kwire.order_outcome(
            decoded, resp.status_code, intent.client_order_id, inst, now_ns()
        )
        if isinstance(outcome, OrderReject):
            err = _kalshi_error(resp)
            if err:
                outcome = OrderReject(
                    client_order_id=outcome.client_order_id,
                    instrument=inst,
                    reason=_KALSHI_REASONS.get(err, outcome.reason),
                    venue_code=err,
                    retryable=outcome.retryable,
                    ack_ns=outcome.ack_ns,
                )
            return outcome
        raise Ambiguous("unexpected Kalshi response")

    async def lookup(self, client_order_id: str, instrument: InstrumentId) -> OrderStatus | None:
        path = "/portfolio/orders"
        resp = await request(
            self.http,
            "GET",
            path,
            params={"client_order_id": client_order_id},
            headers=self._headers("GET", path),
        )
        if resp.status_code != 200:
            raise Ambiguous(f"lookup HTTP {resp.status_code}")
        orders = msgspec.json.decode(resp.content, type=_KOrders).orders
        mine = [o for o in orders if o.client_order_id == client_order_id]
        return _k_status(mine[0], instrument, self.tick) if mine else None

    async def cancel(self, client_order_id: str, venue_order_id: str) -> bool:
        path = f"/portfolio/orders/{venue_order_id}"
        resp = await request(self.http, "DELETE", path, headers=self._headers("DELETE", path))
        return resp.status_code == 200

    async def warm(self) -> None:
        """A cheap read that opens (or keeps alive) a pooled connection, so an order does
        not pay a TCP connect. Errors are the caller's to count."""
        path = "/portfolio/balance"
        await request(self.http, "GET", path, headers=self._headers("GET", path))

    async def account(self) -> AccountSnapshot:
        path = "/portfolio/balance"
        resp = await request(self.http, "GET", path, headers=self._headers("GET", path))
        if resp.status_code != 200:
            raise Ambiguous(f"balance HTTP {resp.status_code}")
        bal = msgspec.json.decode(resp.content, type=_KBalance)
        cash = parse_units(bal.balance_dollars) if bal.balance_dollars else bal.balance * 10_000
        path = "/portfolio/orders"
        resp = await request(self.http, "GET", path, headers=self._headers("GET", path))
        orders = (
            msgspec.json.decode(resp.content, type=_KOrders).orders
            if (resp.status_code == 200)
            else []
        )
        resting = tuple(o.client_order_id or o.order_id for o in orders if o.status == "resting")
        positions: dict[str, int] | None = None
        path = "/portfolio/positions"
        resp = await request(self.http, "GET", path, headers=self._headers("GET", path))
        if resp.status_code == 200:
            positions = _kalshi_positions(resp.content)
        return AccountSnapshot(
            venue=self.venue, cash=cash, open_orders=resting, positions=positions
        )

    async def aclose(self) -> None:
        await self.http.aclose()


_KALSHI_REASONS = {
    "insufficient_balance": "insufficient_balance",
    "insufficient_position": "insufficient_position",
    "market_not_found": "unknown_instrument",
    "invalid_parameters": "invalid_order",
}


def _kalshi_error(resp: httpx.Response) -> str:
    try:
        body: Any = resp.json()
    except ValueError:
        return ""
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return str(err.get("code", ""))
    return str(body.get("code", "")) if isinstance(body, dict) else ""


class _KPosition(msgspec.Struct):
    ticker: str
    position_fp: str | None = None
    position: int | None = None


class _KPositions(msgspec.Struct):
    market_positions: list[_KPosition] = []


def _kalshi_positions(content: bytes) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in msgspec.json.decode(content, type=_KPositions).market_positions:
        size = parse_units(p.position_fp) if p.position_fp is not None else (p.position or 0)
        if size > 0:
            out[InstrumentId(venue=Venue.KALSHI, symbol=p.ticker, outcome=Outcome.YES).key()] = size
        elif size < 0:
            out[InstrumentId(venue=Venue.KALSHI, symbol=p.ticker, outcome=Outcome.NO).key()] = -size
    return out


def kalshi_signer_from_env(
    env: dict[str, str] | None = None,
) -> Callable[[str, str], dict[str, str]]:
    """RSA-PSS signer from ``KALSHI_API_KEY_ID`` and ``KALSHI_PRIVATE_KEY_PATH`` (or the PEM
    itself in ``KALSHI_PRIVATE_KEY``). Keys never come from config files."""
    environ = os.environ if env is None else env
    key_id = environ.get("KALSHI_API_KEY_ID", "")
    pem_text = environ.get("KALSHI_PRIVATE_KEY", "")
    key_path = environ.get("KALSHI_PRIVATE_KEY_PATH", "")
    if not key_id or not (pem_text or key_path):
        raise LiveModeRefused(
            "live Kalshi needs KALSHI_API_KEY_ID and KALSHI_PRIVATE_KEY_PATH (or "
            "KALSHI_PRIVATE_KEY) in the environment"
        )
    pem = Secret(pem_text or Path(key_path).read_text())
    key = kwire.load_private_key(pem.reveal().encode())
    del pem

    def sign(method: str, path: str) -> dict[str, str]:
        return kwire.sign_request(key, key_id, int(time.time() * 1000), method, path)

    return sign
