"""Polymarket live-order signing cost (``arbtree bench protocols``): ``OrderSigner.sign``
per order against the floor of the same run, one raw ECDSA signature (eth-keys on
libsecp256k1) over a ready digest; the SDK's generic EIP-712 path for context."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from protocols.messages import Side
from protocols.venues import polymarket as pm
from protocols.venues.polymarket.signing import (
    POLYGON,
    OrderSigner,
    exchange_separators,
    order_digest,
)

# The first well-known key of local Ethereum dev chains (Hardhat/Anvil): never funded.
_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def _orders(n: int, rng: random.Random, address: str) -> list[pm.SignedOrder]:
    out = []
    for _ in range(n):
        side = rng.choice((Side.BUY, Side.SELL))
        maker, taker = pm.order_amounts(
            side, rng.randrange(1, 100) * 10_000, rng.randrange(5, 1000) * 1_000_000
        )
        out.append(
            pm.SignedOrder(
                salt=rng.getrandbits(48),
                maker=address,
                signer=address,
                token_id=str(rng.getrandbits(256)),
                maker_amount=maker,
                taker_amount=taker,
                side=side.name,
                expiration="0",
                signature_type=0,
                timestamp=str(1_790_000_000_000 + rng.randrange(10**9)),
                metadata="0x" + "00" * 32,
                builder="0x" + "00" * 32,
                signature="",
            )
        )
    return out


def _per_item_us(
    repeats: int, items: list[pm.SignedOrder], fn: Callable[[pm.SignedOrder], object]
) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for item in items:
            fn(item)
        best = min(best, time.perf_counter() - t0)
    return best / len(items) * 1e6


def report(n: int, repeats: int, seed: int) -> None:
    from eth_keys.datatypes import PrivateKey
    from py_clob_client_v2.config import get_contract_config
    from py_clob_client_v2.order_utils.exchange_order_builder_v2 import ExchangeOrderBuilderV2
    from py_clob_client_v2.order_utils.model.order_data_v2 import OrderV2
    from py_clob_client_v2.order_utils.model.side import Side as SdkSide
    from py_clob_client_v2.order_utils.model.signature_type_v2 import SignatureTypeV2
    from py_clob_client_v2.signer import Signer

    signer = OrderSigner.from_hex(_KEY)
    orders = _orders(n, random.Random(seed), signer.address)
    separator = exchange_separators(POLYGON)[0]
    digests = {id(o): order_digest(o, separator) for o in orders}
    key = PrivateKey(bytes.fromhex(_KEY[2:]))
    floor = _per_item_us(repeats, orders, lambda o: key.sign_msg_hash(digests[id(o)]))
    ours = _per_item_us(repeats, orders, lambda o: signer.sign(o, neg_risk=False))
    sdk = ExchangeOrderBuilderV2(
        get_contract_config(POLYGON).exchange_v2, POLYGON, Signer(_KEY, POLYGON)
    )

    def sdk_sign(o: pm.SignedOrder) -> object:
        typed = sdk.build_order_typed_data(
            OrderV2(
                salt=str(o.salt),
                maker=o.maker,
                signer=o.signer,
                tokenId=o.token_id,
                makerAmount=o.maker_amount,
                takerAmount=o.taker_amount,
                side=SdkSide.BUY if o.side == "BUY" else SdkSide.SELL,
                signatureType=SignatureTypeV2.EOA,
                timestamp=o.timestamp,
                metadata=o.metadata,
                builder=o.builder,
            )
        )
        return sdk.build_order_hash(typed), sdk.build_order_signature(typed)

    generic = _per_item_us(1, orders[: max(1, n // 10)], sdk_sign)
    print(
        f"polymarket order signing (EIP-712, live mode): {n} orders, backend "
        f"{type(key.backend).__name__}"
    )
    print(f"  {'raw ECDSA over a ready digest (floor)':<40} {floor:7.1f} us/order")
    print(
        f"  {'OrderSigner.sign (digest + signature)':<40} {ours:7.1f} us/order"
        f"  x{ours / floor:5.2f} floor"
    )
    print(
        f"  {'SDK generic encoder + sign (context)':<40} {generic:7.1f} us/order"
        f"  x{generic / floor:5.2f} floor"
    )
