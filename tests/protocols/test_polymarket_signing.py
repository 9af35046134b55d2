"""Polymarket V2 order signing and L2 headers, held to Polymarket's own SDK byte for byte."""

from __future__ import annotations

import random

import msgspec
import pytest
from eth_account import Account
from py_clob_client_v2.config import get_contract_config
from py_clob_client_v2.order_utils.exchange_order_builder_v2 import ExchangeOrderBuilderV2
from py_clob_client_v2.order_utils.model.order_data_v2 import OrderV2
from py_clob_client_v2.order_utils.model.side import Side as SdkSide
from py_clob_client_v2.order_utils.model.signature_type_v2 import SignatureTypeV2
from py_clob_client_v2.signer import Signer
from py_clob_client_v2.signing.hmac import build_hmac_signature

from protocols.messages import Side
from protocols.venues import polymarket as pm
from protocols.venues.polymarket.l2auth import l2_headers, l2_signature, verify_l2_headers
from protocols.venues.polymarket.signing import POLYGON, OrderSigner, SigningError

# The well-known first key of local Ethereum dev chains (Hardhat/Anvil): never funded.
KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
FUNDER = "0x1111111111111111111111111111111111111111"
ZERO32 = "0x" + "00" * 32


def random_order(rng: random.Random, signature_type: int) -> pm.SignedOrder:
    side = rng.choice((Side.BUY, Side.SELL))
    maker_amount, taker_amount = pm.order_amounts(
        side, rng.randrange(1, 100) * 10_000, rng.randrange(1, 10_000) * 1_000_000
    )
    return pm.SignedOrder(
        salt=rng.getrandbits(48),
        maker=ADDRESS if signature_type == 0 else FUNDER,
        signer=ADDRESS,
        token_id=str(rng.getrandbits(256)),
        maker_amount=maker_amount,
        taker_amount=taker_amount,
        side=side.name,
        expiration="0",
        signature_type=signature_type,
        timestamp=str(1_790_000_000_000 + rng.randrange(10**9)),
        metadata=ZERO32 if rng.random() < 0.5 else "0x" + rng.randbytes(32).hex(),
        builder=ZERO32,
        signature="",
    )


def sdk_hash_and_signature(order: pm.SignedOrder, *, neg_risk: bool) -> tuple[str, str]:
    contracts = get_contract_config(POLYGON)
    exchange = contracts.neg_risk_exchange_v2 if neg_risk else contracts.exchange_v2
    builder = ExchangeOrderBuilderV2(exchange, POLYGON, Signer(KEY, POLYGON))
    sdk_order = OrderV2(
        salt=str(order.salt),
        maker=order.maker,
        signer=order.signer,
        tokenId=order.token_id,
        makerAmount=order.maker_amount,
        takerAmount=order.taker_amount,
        side=SdkSide.BUY if order.side == "BUY" else SdkSide.SELL,
        signatureType=SignatureTypeV2(order.signature_type),
        timestamp=order.timestamp,
        metadata=order.metadata,
        builder=order.builder,
    )
    typed = builder.build_order_typed_data(sdk_order)
    return builder.build_order_hash(typed), builder.build_order_signature(typed)


def test_digest_and_signature_match_the_sdk_for_every_signature_type_and_exchange() -> None:
    rng = random.Random(20261121)
    signer = OrderSigner.from_hex(KEY)
    assert signer.address == ADDRESS
    seen = set()
    for case in range(24):
        signature_type, neg_risk = case % 3, bool(case // 3 % 2)
        order = random_order(rng, signature_type)
        signed, order_hash = signer.sign(order, neg_risk=neg_risk)
        assert (order_hash, signed.signature) == sdk_hash_and_signature(order, neg_risk=neg_risk)
        assert msgspec.structs.replace(signed, signature="") == order  # nothing else changed
        seen.add(order_hash)
    assert len(seen) == 24


def recovered_signer(order: pm.SignedOrder, *, neg_risk: bool) -> str:
    """The address eth-account recovers from the order's signature over the SDK's hash."""
    order_hash, _ = sdk_hash_and_signature(order, neg_risk=neg_risk)
    return str(
        Account._recover_hash(
            bytes.fromhex(order_hash[2:]), signature=bytes.fromhex(order.signature[2:])
        )
    )


def test_the_venue_recovers_the_signer_and_notices_any_change() -> None:
    signer = OrderSigner.from_hex(KEY)
    order = random_order(random.Random(3), 0)
    signed, _ = signer.sign(order, neg_risk=False)
    assert recovered_signer(signed, neg_risk=False) == ADDRESS
    # Signed for the standard exchange, checked against the neg-risk one: another signer.
    assert recovered_signer(signed, neg_risk=True) != ADDRESS
    tampered = msgspec.structs.replace(signed, maker_amount=str(int(order.maker_amount) + 1))
    assert recovered_signer(tampered, neg_risk=False) != ADDRESS


def test_bad_keys_orders_and_chains_are_refused_without_quoting_the_key() -> None:
    with pytest.raises(SigningError, match="32 hex-encoded bytes") as info:
        OrderSigner.from_hex("0xnot-a-key-but-secret")
    assert "secret" not in str(info.value)
    assert info.value.__cause__ is None
    with pytest.raises(SigningError, match="chain id 1"):
        OrderSigner.from_hex(KEY, chain_id=1)
    signer = OrderSigner.from_hex(KEY)
    assert KEY[2:] not in repr(signer)
    assert ADDRESS in repr(signer)
    order = msgspec.structs.replace(random_order(random.Random(1), 0), maker="0x1234")
    with pytest.raises(SigningError, match="20-byte address"):
        signer.sign(order, neg_risk=False)
    with pytest.raises(SigningError, match="cannot be encoded"):
        signer.sign(msgspec.structs.replace(order, maker=ADDRESS, side="HOLD"), neg_risk=False)


SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I="


def test_l2_signature_matches_the_sdk_and_the_venue_check_names_what_is_wrong() -> None:
    body = b'{"order":{"salt":1},"owner":"k","orderType":"FOK"}'
    assert l2_signature(SECRET, "1790000000", "post", "/order", body) == build_hmac_signature(
        SECRET, "1790000000", "POST", "/order", body.decode()
    )
    # The query string is not signed (the SDK signs the bare path of a GET with params).
    assert l2_signature(SECRET, "1", "GET", "/balance-allowance?asset_type=COLLATERAL", b"") == (
        build_hmac_signature(SECRET, "1", "GET", "/balance-allowance")
    )
    headers = l2_headers(
        address=ADDRESS,
        api_key="k",
        secret=SECRET,
        passphrase="p",
        timestamp_s=1790000000,
        method="POST",
        path="/order",
        body=body,
    )
    account = {"address": ADDRESS.lower(), "api_key": "k", "secret": SECRET, "passphrase": "p"}
    assert verify_l2_headers(headers, method="POST", path="/order", body=body, **account) == ""
    lowered = {k.lower(): v for k, v in headers.items()}
    assert verify_l2_headers(lowered, method="POST", path="/order", body=body, **account) == ""
    checks = [
        ({**headers, "POLY_ADDRESS": FUNDER}, body, "address"),
        ({**headers, "POLY_API_KEY": "other"}, body, "api key"),
        ({**headers, "POLY_PASSPHRASE": "other"}, body, "passphrase"),
        (headers, body + b" ", "bad signature"),
        ({**headers, "POLY_TIMESTAMP": "1790000001"}, body, "bad signature"),
    ]
    for sent, sent_body, reason in checks:
        assert reason in verify_l2_headers(
            sent, method="POST", path="/order", body=sent_body, **account
        )
