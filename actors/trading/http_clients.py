"""HTTP venue clients (httpx, one pooled keep-alive AsyncClient per venue, explicit
timeouts) for the simulated venue (paper) and the real venues (live).

Transport errors are classified for the executor's safety rules: connect errors and pool
timeouts never reached the venue (:class:`NotSent`); anything after the request may have
been written (read/write timeout, reset, server closed without a reply, 5xx) is
:class:`Ambiguous`; 429 is :class:`RateLimited`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import httpx
import msgspec

from actors.trading.http_transport import (
    StartedRequest,
    build_request,
    finish_request,
    make_http_client,
    request,
    send_request,
    start_request,
)
from actors.trading.ids import polymarket_salt
from actors.trading.send_timing import SendTimes, Trace
from actors.trading.venue_clients import (
    AccountSnapshot,
    Ambiguous,
    OrderStatus,
)
from protocols.config.trading import ExecutorConfig
from protocols.fixed import PRICE_ONE, parse_units
from protocols.messages import (
    InstrumentId,
    OrderIntent,
    OrderReject,
    OrderState,
    Outcome,
    Side,
    TimeInForce,
    Venue,
)
from protocols.venues import kalshi as kwire
from protocols.venues import polymarket as pwire

LIVE_ENV = "ARBTREE_LIVE"


class LiveModeRefused(RuntimeError):
    """Live trading was requested without both switches, or cannot be done safely."""


@attrs.frozen(repr=False)
class Secret:
    """A secret value that never shows up in a repr, a log line or a traceback."""

    _value: str

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


def check_live_switches(cfg: ExecutorConfig, env: dict[str, str] | None = None) -> None:
    """Raise unless live mode has both the config flag and ``ARBTREE_LIVE=yes``."""
    environ = os.environ if env is None else env
    if cfg.mode != "live":
        return
    missing = []
    if not cfg.live:
        missing.append("the config flag executor.live = true")
    if environ.get(LIVE_ENV) != "yes":
        missing.append(f"the environment variable {LIVE_ENV}=yes")
    if missing:
        raise LiveModeRefused(
            "live trading refused: executor.mode is 'live' but "
            + " and ".join(missing)
            + " is missing (both switches are required; paper mode is the default)"
        )


def _now_ns() -> int:
    return time.monotonic_ns()


# ===================================================================== Kalshi


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


_K_STATE = {"resting": OrderState.OPEN, "executed": OrderState.FILLED,
            "canceled": OrderState.CANCELLED}  # fmt: skip


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
        client_order_id=o.client_order_id, venue_order_id=o.order_id, instrument=instrument,
        state=state, size=parse_units(o.initial_count_fp or "0"), filled_size=filled,
        avg_price=avg, fee=fee,
    )  # fmt: skip


class _OrderEntry:
    """A venue client's order entry: ``order_parts`` builds the request, ``order_result``
    reads the reply; it is sent the usual way (``place``) or written from the caller's
    own step when a pooled connection is idle (``start_place``, then ``finish_place``)."""

    http: httpx.AsyncClient
    send_times: SendTimes | None  # set by the executor: when orders hit the socket

    def order_parts(self, intent: OrderIntent) -> tuple[str, bytes, dict[str, str]]:
        """(path, body, headers) of the POST that places ``intent``."""
        raise NotImplementedError

    def order_result(self, intent: OrderIntent, resp: httpx.Response) -> OrderStatus | OrderReject:
        raise NotImplementedError

    def _trace(self, intent: OrderIntent) -> Trace | None:
        timing = self.send_times
        return timing.trace_for(intent) if timing is not None else None

    async def place(self, intent: OrderIntent) -> OrderStatus | OrderReject:
        path, body, headers = self.order_parts(intent)
        req = build_request(self.http, "POST", path, body, headers, self._trace(intent))
        return self.order_result(intent, await send_request(self.http, req))

    def start_place(self, intent: OrderIntent) -> StartedRequest | None:
        path, body, headers = self.order_parts(intent)
        return start_request(self.http, "POST", path, body, headers, self._trace(intent))

    async def finish_place(
        self, intent: OrderIntent, started: StartedRequest
    ) -> OrderStatus | OrderReject:
        return self.order_result(intent, await finish_request(started))


@attrs.define(eq=False)
class KalshiClient(_OrderEntry):
    """Kalshi Trade API v2 orders. ``signer`` adds the RSA-PSS headers (live); paper
    mode against the sim sends unsigned requests."""

    http: httpx.AsyncClient
    prefix: str = "/trade-api/v2"  # the path prefix signed along with the path
    signer: Callable[[str, str], dict[str, str]] | None = None
    tick: int = 10_000
    venue: Venue = Venue.KALSHI
    send_times: SendTimes | None = None  # set by the executor: when orders hit the socket

    def _headers(self, method: str, path: str) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if self.signer is not None:
            headers.update(self.signer(method, self.prefix + path))
        return headers

    def order_parts(self, intent: OrderIntent) -> tuple[str, bytes, dict[str, str]]:
        inst = intent.instrument
        req = kwire.create_order_request(
            inst.symbol, inst.outcome or Outcome.YES, intent.side, intent.limit_price,
            intent.size, intent.client_order_id, intent.time_in_force,
        )  # fmt: skip
        path = "/portfolio/orders"
        return path, kwire.encode_create_order(req), self._headers("POST", path)

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
        outcome = kwire.order_outcome(decoded, resp.status_code, intent.client_order_id, inst,
                                      _now_ns())  # fmt: skip
        if isinstance(outcome, OrderReject):
            err = _kalshi_error(resp)
            if err:
                outcome = OrderReject(
                    client_order_id=outcome.client_order_id, instrument=inst,
                    reason=_KALSHI_REASONS.get(err, outcome.reason), venue_code=err,
                    retryable=outcome.retryable, ack_ns=outcome.ack_ns,
                )  # fmt: skip
            return outcome
        raise Ambiguous("unexpected Kalshi response")

    async def lookup(self, client_order_id: str, instrument: InstrumentId) -> OrderStatus | None:
        path = "/portfolio/orders"
        resp = await request(self.http, "GET", path, params={"client_order_id": client_order_id},
                              headers=self._headers("GET", path))  # fmt: skip
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
        orders = msgspec.json.decode(resp.content, type=_KOrders).orders if (
            resp.status_code == 200) else []  # fmt: skip
        resting = tuple(o.client_order_id or o.order_id for o in orders if o.status == "resting")
        positions: dict[str, int] | None = None
        path = "/portfolio/positions"
        resp = await request(self.http, "GET", path, headers=self._headers("GET", path))
        if resp.status_code == 200:
            positions = _kalshi_positions(resp.content)
        return AccountSnapshot(venue=self.venue, cash=cash, open_orders=resting,
                               positions=positions)  # fmt: skip

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


# ================================================================= Polymarket

_ZERO32 = "0x" + "00" * 32
_PAPER_ADDRESS = "0x" + "00" * 20
_PAPER_SIGNATURE = "0x" + "00" * 65
_TYPES = {TimeInForce.FOK: "FOK", TimeInForce.IOC: "FAK", TimeInForce.GTC: "GTC"}
_P_STATE = {"LIVE": OrderState.OPEN, "MATCHED": OrderState.FILLED,
            "CANCELED": OrderState.CANCELLED}  # fmt: skip


class _POrder(msgspec.Struct):
    id: str
    status: str = ""
    original_size: str = "0"
    size_matched: str = "0"
    price: str = "0"


class _PBalance(msgspec.Struct):
    balance: str = "0"


def sim_order_hash(order_json: bytes) -> str:
    """The simulated venue's order id: sha256 over the order object with sorted keys (the
    real venue's id is the EIP-712 hash, computed by the signing library)."""
    obj = msgspec.json.decode(order_json)
    return "0x" + hashlib.sha256(msgspec.json.encode(obj, order="sorted")).hexdigest()


def poly_l2_headers(
    api_key: str, secret: Secret, passphrase: Secret, address: str, method: str, path: str,
    body: bytes,
) -> dict[str, str]:  # fmt: skip
    """Polymarket L2 auth: urlsafe-b64 HMAC-SHA256 over ``ts + METHOD + path + body``."""
    ts = str(int(time.time()))
    key = base64.urlsafe_b64decode(secret.reveal())
    msg = (ts + method.upper() + path).encode() + body
    sig = base64.urlsafe_b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()
    return {"POLY_ADDRESS": address, "POLY_SIGNATURE": sig, "POLY_TIMESTAMP": ts,
            "POLY_API_KEY": api_key, "POLY_PASSPHRASE": passphrase.reveal()}  # fmt: skip


@attrs.define(eq=False)
class PolymarketClient(_OrderEntry):
    """Polymarket CLOB orders. Paper mode posts unsigned (zero-signature) orders to the sim;
    live mode needs an order signer, which this build does not provide (see
    :func:`build_clients`)."""

    http: httpx.AsyncClient
    owner: str = "00000000-0000-4000-8000-00000000517a"
    address: str = _PAPER_ADDRESS
    order_id_fn: Callable[[bytes], str] = sim_order_hash
    send_times: SendTimes | None = None  # set by the executor: when orders hit the socket
    tick: int = 10_000
    venue: Venue = Venue.POLYMARKET
    # Bodies are memoized per client order id so a resend is byte-identical (same hash).
    _bodies: dict[str, tuple[bytes, str]] = attrs.field(factory=dict)

    def _body(self, intent: OrderIntent) -> tuple[bytes, str]:
        memo = self._bodies.get(intent.client_order_id)
        if memo is not None:
            return memo
        maker_amount, taker_amount = pwire.order_amounts(intent.side, intent.limit_price,
                                                          intent.size)  # fmt: skip
        order = pwire.SignedOrder(
            salt=polymarket_salt(intent.client_order_id), maker=self.address,
            signer=self.address, token_id=intent.instrument.symbol, maker_amount=maker_amount,
            taker_amount=taker_amount, side="BUY" if intent.side is Side.BUY else "SELL",
            expiration="0", signature_type=0, timestamp=str(int(time.time() * 1000)),
            metadata=_ZERO32, builder=_ZERO32, signature=_PAPER_SIGNATURE,
        )  # fmt: skip
        body = pwire.encode_post_order(
            pwire.PostOrderBody(
                order=order, owner=self.owner, order_type=_TYPES[intent.time_in_force]
            )
        )
        order_id = self.order_id_fn(msgspec.json.encode(order))
        self._bodies[intent.client_order_id] = (body, order_id)
        return body, order_id

    def forget(self, client_order_id: str) -> None:
        """The order reached a final state: it is neither resent nor looked up again, so
        its memoized body goes (the memo holds only orders still in flight or unresolved)."""
        self._bodies.pop(client_order_id, None)

    def expected_order_id(self, intent: OrderIntent) -> str:
        """The venue's id of this order, known before it is sent (the order hash): the
        user channel may report its fills before the REST reply arrives."""
        return self._body(intent)[1]

    def order_parts(self, intent: OrderIntent) -> tuple[str, bytes, dict[str, str]]:
        return "/order", self._body(intent)[0], {"content-type": "application/json"}

    def order_result(self, intent: OrderIntent, resp: httpx.Response) -> OrderStatus | OrderReject:
        """What the venue's reply to a post-order request says about the order."""
        order_id = self._body(intent)[1]
        decoded = pwire.decode_post_order_response(resp.content)
        if not (resp.status_code == 200 and decoded.success):
            out = pwire.order_outcome(decoded, intent.client_order_id, intent.instrument,
                                      _now_ns())  # fmt: skip
            if isinstance(out, OrderReject):
                return out
            raise Ambiguous("unexpected Polymarket response")
        making = parse_units(decoded.making_amount) if decoded.making_amount else 0
        taking = parse_units(decoded.taking_amount) if decoded.taking_amount else 0
        shares, usdc = (taking, making) if intent.side is Side.BUY else (making, taking)
        avg = usdc * PRICE_ONE // shares if shares else 0
        if decoded.status == "live":
            state = OrderState.PARTIALLY_FILLED if shares else OrderState.OPEN
        elif decoded.status == "matched":
            state = OrderState.FILLED if shares >= intent.size else OrderState.PARTIALLY_FILLED
        else:
            state = OrderState.CANCELLED
        return OrderStatus(
            client_order_id=intent.client_order_id, venue_order_id=decoded.order_i_d or order_id,
            instrument=intent.instrument, state=state, size=intent.size, filled_size=shares,
            avg_price=avg, fee=-1,
        )  # fmt: skip

    async def lookup(self, client_order_id: str, instrument: InstrumentId) -> OrderStatus | None:
        memo = self._bodies.get(client_order_id)
        if memo is None:
            raise Ambiguous(f"no local record of {client_order_id}: cannot compute its hash")
        order_id = memo[1]
        resp = await request(self.http, "GET", f"/data/order/{order_id}")
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise Ambiguous(f"lookup HTTP {resp.status_code}")
        o = msgspec.json.decode(resp.content, type=_POrder)
        filled = parse_units(o.size_matched or "0")
        size = parse_units(o.original_size or "0")
        state = _P_STATE.get(o.status.split("_", 1)[0], OrderState.OPEN)
        if state is OrderState.OPEN and filled:
            state = OrderState.PARTIALLY_FILLED
        return OrderStatus(
            client_order_id=client_order_id, venue_order_id=o.id, instrument=instrument,
            state=state, size=size, filled_size=filled, avg_price=0, fee=-1,
        )  # fmt: skip

    async def cancel(self, client_order_id: str, venue_order_id: str) -> bool:
        resp = await request(self.http, "DELETE", "/order",
                              content=msgspec.json.encode({"orderID": venue_order_id}),
                              headers={"content-type": "application/json"})  # fmt: skip
        if resp.status_code != 200:
            return False
        return venue_order_id in (resp.json().get("canceled") or [])

    async def warm(self) -> None:
        """A cheap read that opens (or keeps alive) a pooled connection (see KalshiClient)."""
        await request(self.http, "GET", "/balance-allowance?asset_type=COLLATERAL")

    async def account(self) -> AccountSnapshot:
        resp = await request(self.http, "GET", "/balance-allowance",
                              params={"asset_type": "COLLATERAL"})  # fmt: skip
        if resp.status_code != 200:
            raise Ambiguous(f"balance HTTP {resp.status_code}")
        cash = int(msgspec.json.decode(resp.content, type=_PBalance).balance or "0")
        return AccountSnapshot(venue=self.venue, cash=cash, open_orders=(), positions=None)

    async def aclose(self) -> None:
        await self.http.aclose()


# ================================================================== building

VenueClientT = KalshiClient | PolymarketClient


def build_clients(
    cfg: ExecutorConfig, env: dict[str, str] | None = None
) -> dict[Venue, VenueClientT]:
    """Clients for every enabled venue; live mode checks both switches and the keys first
    (raises :class:`LiveModeRefused` with the reason)."""
    check_live_switches(cfg, env)
    live = cfg.mode == "live"
    out: dict[Venue, VenueClientT] = {}
    if cfg.kalshi.enabled:
        signer = kalshi_signer_from_env(env) if live else None
        if not cfg.kalshi.rest_url:
            raise ValueError("executor.kalshi.rest_url is empty")
        base = cfg.kalshi.rest_url.rstrip("/")
        prefix = "/trade-api/v2" if base.endswith("/trade-api/v2") else ""
        out[Venue.KALSHI] = KalshiClient(
            http=make_http_client(cfg.http, base), prefix=prefix, signer=signer,
            tick=parse_units(cfg.kalshi.tick_size),
        )  # fmt: skip
    if cfg.polymarket.enabled:
        if live:
            raise LiveModeRefused(
                "live Polymarket refused: CLOB V2 orders must be EIP-712 signed and this build "
                "has no vetted signing library wired in (py-clob-client-v2 is not installed); "
                "disable executor.polymarket or trade Polymarket in paper mode"
            )
        if not cfg.polymarket.rest_url:
            raise ValueError("executor.polymarket.rest_url is empty")
        out[Venue.POLYMARKET] = PolymarketClient(
            http=make_http_client(cfg.http, cfg.polymarket.rest_url.rstrip("/")),
            tick=parse_units(cfg.polymarket.tick_size),
        )
    return out
