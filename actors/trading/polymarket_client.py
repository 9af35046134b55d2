"""Polymarket CLOB orders over HTTP: paper (the sim, unsigned orders, no auth headers) and
live (EIP-712 signed orders and L2 headers on every private request, from a
:class:`~actors.trading.polymarket_account.PolymarketAccount`)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import attrs
import httpx
import msgspec

from actors.trading.client_base import OrderEntry, now_ns
from actors.trading.http_transport import request
from actors.trading.ids import polymarket_salt
from actors.trading.polymarket_account import PolymarketAccount
from actors.trading.send_timing import SendTimes
from actors.trading.venue_clients import AccountSnapshot, Ambiguous, OrderStatus
from protocols.fixed import PRICE_ONE, SIZE_ONE, parse_units
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
from protocols.venues import polymarket as pwire

PAPER_OWNER = "00000000-0000-4000-8000-00000000517a"  # the sim's API key
_ZERO32 = "0x" + "00" * 32
_PAPER_ADDRESS = "0x" + "00" * 20
_PAPER_SIGNATURE = "0x" + "00" * 65
_BALANCE = "/balance-allowance?asset_type=COLLATERAL"  # the query string is not signed
_TYPES = {TimeInForce.FOK: "FOK", TimeInForce.IOC: "FAK", TimeInForce.GTC: "GTC"}
_P_STATE = {"LIVE": OrderState.OPEN, "MATCHED": OrderState.FILLED, "CANCELED": OrderState.CANCELLED}


class _POrder(msgspec.Struct):
    id: str
    status: str = ""
    original_size: str = "0"
    size_matched: str = "0"
    price: str = "0"


class _PBalance(msgspec.Struct):
    balance: str = "0"


class _PPosition(msgspec.Struct):
    """One entry of the data API's ``/positions``: ``size`` in shares (a JSON number)."""

    asset: str
    size: float = 0.0
    outcome: str = ""


_P_POSITIONS = msgspec.json.Decoder(list[_PPosition])


def _poly_positions(content: bytes) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in _P_POSITIONS.decode(content):
        size = round(p.size * SIZE_ONE)
        if size:
            outcome = Outcome.NO if p.outcome.lower() == "no" else Outcome.YES
            out[InstrumentId(venue=Venue.POLYMARKET, symbol=p.asset, outcome=outcome).key()] = size
    return out


def sim_order_hash(order: pwire.SignedOrder) -> str:
    """The simulated venue's order id: sha256 over the order's JSON object with sorted keys
    (msgspec sorts a struct's fields by their wire names; the real venue's id is the
    EIP-712 hash, computed by the signing library)."""
    return "0x" + hashlib.sha256(msgspec.json.encode(order, order="sorted")).hexdigest()


@attrs.define(slots=True)
class _Memo:
    """One order's request body, and its venue id: from signing (live), or computed when
    something first asks for it (paper)."""

    body: bytes
    order: pwire.SignedOrder
    order_id: str = ""


@attrs.define(eq=False)
class PolymarketClient(OrderEntry):
    """Polymarket CLOB orders. Paper mode (no ``credentials``) posts unsigned orders to the
    sim; live mode signs each order once (EIP-712; ``arbtree bench protocols`` prints the
    cost) when its body is first built, and its venue id is then the signed order's hash."""

    http: httpx.AsyncClient
    owner: str = PAPER_OWNER  # live: the account's API key
    address: str = _PAPER_ADDRESS
    order_id_fn: Callable[[pwire.SignedOrder], str] = sim_order_hash
    credentials: PolymarketAccount | None = None
    neg_risk_tokens: frozenset[str] = frozenset()  # signed for the neg-risk exchange
    send_times: SendTimes | None = None  # set by the executor: when orders hit the socket
    tick: int = 10_000
    venue: Venue = Venue.POLYMARKET
    positions_url: str = ""  # the data API's base URL; "" = this client's base URL
    # Bodies are memoized per client order id so a resend is byte-identical (same hash).
    _bodies: dict[str, _Memo] = attrs.field(factory=dict)
    # Venue ids of orders another client instance sent (an earlier executor incarnation):
    # their bodies are gone, but a lookup needs only the id (see ``recall``).
    _recalled: dict[str, str] = attrs.field(factory=dict)

    def _memo(self, intent: OrderIntent) -> _Memo:
        memo = self._bodies.get(intent.client_order_id)
        if memo is None:
            memo = self._bodies[intent.client_order_id] = self._build(intent)
        return memo

    def _build(self, intent: OrderIntent, *, signed: bool = True) -> _Memo:
        maker_amount, taker_amount = pwire.order_amounts(
            intent.side, intent.limit_price, intent.size
        )
        account = self.credentials
        maker = signer = self.address
        if account is not None:
            maker, signer = account.funder, account.signer.address
        token = intent.instrument.symbol
        order = pwire.SignedOrder(
            salt=polymarket_salt(intent.client_order_id),
            maker=maker,
            signer=signer,
            token_id=token,
            maker_amount=maker_amount,
            taker_amount=taker_amount,
            side="BUY" if intent.side is Side.BUY else "SELL",
            expiration="0",
            signature_type=account.signature_type if account is not None else 0,
            timestamp=str(int(time.time() * 1000)),
            metadata=_ZERO32,
            builder=_ZERO32,
            signature=_PAPER_SIGNATURE,
        )
        order_id = ""
        if account is not None and signed:
            order, order_id = account.signer.sign(order, neg_risk=token in self.neg_risk_tokens)
        body = pwire.encode_post_order(
            pwire.PostOrderBody(
                order=order, owner=self.owner, order_type=_TYPES[intent.time_in_force]
            )
        )
        return _Memo(body, order, order_id)

    def _order_id(self, memo: _Memo) -> str:
        if not memo.order_id:  # hashed on first use: after the write, on the same-step path
            memo.order_id = self.order_id_fn(memo.order)
        return memo.order_id

    def recall(self, client_order_id: str, venue_order_id: str) -> None:
        """An order sent by an earlier client (its memo is gone): look it up by this id."""
        self._recalled[client_order_id] = venue_order_id

    def forget(self, client_order_id: str) -> None:
        """The order reached a final state: it is neither resent nor looked up again, so
        its memoized body goes (the memo holds only orders still in flight or unresolved)."""
        self._bodies.pop(client_order_id, None)
        self._recalled.pop(client_order_id, None)

    def expected_order_id(self, intent: OrderIntent) -> str:
        """The venue's id of this order, known before it is sent (the order hash): the
        user channel may report its fills before the REST reply arrives."""
        return self._order_id(self._memo(intent))

    def _headers(
        self, method: str, path: str, body: bytes = b"", *, signed: bool = True
    ) -> dict[str, str]:
        """Live: the L2 auth headers (signed over this body); paper: none."""
        headers = {"content-type": "application/json"} if body else {}
        if self.credentials is not None and signed:
            headers.update(self.credentials.headers(method, path, body))
        return headers

    def order_parts(
        self, intent: OrderIntent, *, signed: bool = True
    ) -> tuple[str, bytes, dict[str, str]]:
        # Unsigned (a rehearsal): built the same way, neither signed nor memoized.
        body = self._memo(intent).body if signed else self._build(intent, signed=False).body
        return "/order", body, self._headers("POST", "/order", body, signed=signed)

    def order_result(self, intent: OrderIntent, resp: httpx.Response) -> OrderStatus | OrderReject:
        """What the venue's reply to a post-order request says about the order."""
        order_id = self.expected_order_id(intent)
        decoded = pwire.decode_post_order_response(resp.content)
        if not (resp.status_code == 200 and decoded.success):
            out = pwire.order_outcome(decoded, intent.client_order_id, intent.instrument, now_ns())
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
            client_order_id=intent.client_order_id,
            venue_order_id=decoded.order_i_d or order_id,
            instrument=intent.instrument,
            state=state,
            size=intent.size,
            filled_size=shares,
            avg_price=avg,
            fee=-1,
        )

    async def lookup(self, client_order_id: str, instrument: InstrumentId) -> OrderStatus | None:
        memo = self._bodies.get(client_order_id)
        if memo is not None:
            order_id = self._order_id(memo)
        elif client_order_id in self._recalled:
            order_id = self._recalled[client_order_id]
        else:
            raise Ambiguous(f"no local record of {client_order_id}: cannot compute its hash")
        path = f"/data/order/{order_id}"
        resp = await request(self.http, "GET", path, headers=self._headers("GET", path))
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
            client_order_id=client_order_id,
            venue_order_id=o.id,
            instrument=instrument,
            state=state,
            size=size,
            filled_size=filled,
            avg_price=0,
            fee=-1,
        )

    async def cancel(self, client_order_id: str, venue_order_id: str) -> bool:
        body = msgspec.json.encode({"orderID": venue_order_id})
        resp = await request(
            self.http,
            "DELETE",
            "/order",
            content=body,
            headers=self._headers("DELETE", "/order", body),
        )
        if resp.status_code != 200:
            return False
        return venue_order_id in (resp.json().get("canceled") or [])

    async def warm(self) -> None:
        """A cheap read that opens (or keeps alive) a pooled connection (see KalshiClient)."""
        await request(self.http, "GET", _BALANCE, headers=self._headers("GET", _BALANCE))

    async def account(self) -> AccountSnapshot:
        resp = await request(self.http, "GET", _BALANCE, headers=self._headers("GET", _BALANCE))
        if resp.status_code != 200:
            raise Ambiguous(f"balance HTTP {resp.status_code}")
        cash = int(msgspec.json.decode(resp.content, type=_PBalance).balance or "0")
        positions: dict[str, int] | None = None
        funder = self.credentials.funder if self.credentials is not None else self.address
        url = f"{self.positions_url}/positions?user={funder}&sizeThreshold=0"
        resp = await request(self.http, "GET", url)
        if resp.status_code == 200:  # else None: a missing report is not "flat"
            positions = _poly_positions(resp.content)
        return AccountSnapshot(venue=self.venue, cash=cash, open_orders=(), positions=positions)

    async def aclose(self) -> None:
        await self.http.aclose()
