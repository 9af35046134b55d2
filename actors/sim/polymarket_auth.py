"""The simulated CLOB playing the real one for a live-mode client: every private request
must carry valid L2 headers, and every order an EIP-712 signature by the account's key.

The order's digest here comes from Polymarket's SDK (its generic EIP-712 encoder) and the
signer from eth-account's recovery, not from arbtree's own signer, so a live-mode test
checks the client against a second implementation. The order's venue id is that digest,
as on the real venue.
"""

from __future__ import annotations

from typing import Any

import attrs
from eth_account import Account
from py_clob_client_v2.config import get_contract_config
from py_clob_client_v2.order_utils.exchange_order_builder_v2 import ExchangeOrderBuilderV2
from py_clob_client_v2.order_utils.model.order_data_v2 import OrderV2
from py_clob_client_v2.order_utils.model.side import Side
from py_clob_client_v2.order_utils.model.signature_type_v2 import SignatureTypeV2

from actors.sim.http import Request
from protocols.venues.polymarket.l2auth import same_address, verify_l2_headers


class _NoKey:
    """The venue's builder never signs: it is used for typed data and hashes only."""

    def address(self) -> str:
        return ""


@attrs.frozen(repr=False)
class PolymarketAuth:
    """One account the simulated CLOB accepts: the signer's address, the wallet its orders
    may be made for (``funder``), and its L2 API key."""

    address: str
    api_key: str
    secret: str
    passphrase: str
    funder: str = ""  # "" = the signer's own address (EOA orders)
    chain_id: int = 137
    neg_risk_tokens: frozenset[str] = frozenset()

    def __repr__(self) -> str:
        return f"PolymarketAuth(address={self.address!r}, api_key={self.api_key!r})"

    def check_request(self, r: Request) -> str:
        """ "" if the request's L2 headers are this account's and sign it, else why not."""
        return verify_l2_headers(
            r.headers,
            address=self.address,
            api_key=self.api_key,
            secret=self.secret,
            passphrase=self.passphrase,
            method=r.method,
            path=r.path,
            body=r.body,
        )

    def check_subscription(self, auth: Any) -> bool:
        """Does a user-channel subscription's ``auth`` object carry this account's key?"""
        return isinstance(auth, dict) and (
            auth.get("apiKey"),
            auth.get("secret"),
            auth.get("passphrase"),
        ) == (self.api_key, self.secret, self.passphrase)

    def check_order(self, body: dict[str, Any]) -> tuple[str, str]:
        """(the order's hash, "") for a well-signed order of this account, else ("", why)."""
        o = body["order"]
        if body.get("owner") != self.api_key:
            return "", "the order's owner is not the api key"
        if not same_address(str(o["signer"]), self.address):
            return "", "the order's signer is not the api key's address"
        if not same_address(str(o["maker"]), self.funder or self.address):
            return "", "the order's maker is not the account's funder"
        contracts = get_contract_config(self.chain_id)
        token = str(o["tokenId"])
        exchange = (
            contracts.neg_risk_exchange_v2
            if token in self.neg_risk_tokens
            else contracts.exchange_v2
        )
        builder = ExchangeOrderBuilderV2(exchange, self.chain_id, _NoKey())
        typed = builder.build_order_typed_data(
            OrderV2(
                salt=str(o["salt"]),
                maker=o["maker"],
                signer=o["signer"],
                tokenId=token,
                makerAmount=str(o["makerAmount"]),
                takerAmount=str(o["takerAmount"]),
                side=Side.BUY if o["side"] == "BUY" else Side.SELL,
                signatureType=SignatureTypeV2(int(o["signatureType"])),
                timestamp=str(o["timestamp"]),
                metadata=o["metadata"],
                builder=o["builder"],
            )
        )
        order_hash = builder.build_order_hash(typed)
        try:
            signer = Account._recover_hash(
                bytes.fromhex(order_hash[2:]), signature=bytes.fromhex(o["signature"][2:])
            )
        except Exception:
            return "", "invalid order signature"
        if not same_address(signer, self.address):
            return "", "invalid order signature"
        return order_hash, ""
