"""Polymarket CLOB V2 order signatures (EIP-712). Pure computation given a key; the L2
request headers are in :mod:`.l2auth`. Imported only for live Polymarket (the SDK takes
~0.5 s to import).

The order type, the exchange's EIP-712 domain and the contract addresses are Polymarket's
own, read from its SDK (``py-clob-client-v2``); ECDSA is eth-keys (on libsecp256k1 through
coincurve, far faster than its pure-Python fallback). The digest is put together here
from a precomputed domain separator rather than by eth-account's generic encoder
(``bench/signing_costs.py`` measures both): every member of ``Order`` is a static 32-byte
ABI word, so its encoding is their concatenation. The tests hold both the digest and the
signature byte for byte to the SDK's own encoder and signer.
"""

from __future__ import annotations

from typing import Final

import attrs
import msgspec
from eth_keys.datatypes import PrivateKey
from eth_utils.crypto import keccak
from py_clob_client_v2.config import get_contract_config
from py_clob_client_v2.order_utils.exchange_order_builder_v2 import (
    CTF_EXCHANGE_NAME_HASH,
    CTF_EXCHANGE_VERSION_HASH,
    DOMAIN_TYPE_HASH,
    ORDER_TYPE_HASH,
)

from protocols.venues.polymarket.rest import SignedOrder

POLYGON: Final = 137
# Order.signatureType: who signs for the maker (POLY_1271 contract wallets are not supported).
SIGNATURE_TYPES: Final = {"eoa": 0, "proxy": 1, "safe": 2}
_SIDES: Final = {"BUY": 0, "SELL": 1}


class SigningError(ValueError):
    """An order or a key that cannot be signed (bad address, bad key, unknown chain)."""


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _address_word(address: str) -> bytes:
    raw = bytes.fromhex(address.removeprefix("0x"))
    if len(raw) != 20:
        raise SigningError(f"not a 20-byte address: {address!r}")
    return raw.rjust(32, b"\0")


def _bytes32(value: str) -> bytes:
    raw = bytes.fromhex(value.removeprefix("0x"))
    if len(raw) > 32:
        raise SigningError(f"longer than 32 bytes: {value!r}")
    return raw.rjust(32, b"\0")


def domain_separator(chain_id: int, exchange: str) -> bytes:
    """EIP-712 domain separator of the CTF Exchange V2 contract at ``exchange``."""
    return keccak(
        DOMAIN_TYPE_HASH
        + CTF_EXCHANGE_NAME_HASH
        + CTF_EXCHANGE_VERSION_HASH
        + _word(chain_id)
        + _address_word(exchange)
    )


def exchange_separators(chain_id: int) -> tuple[bytes, bytes]:
    """(standard, neg-risk) exchange domain separators: an order on a neg-risk market is
    signed for the neg-risk exchange, any other for the standard one."""
    try:
        contracts = get_contract_config(chain_id)
    except Exception as exc:  # the SDK raises a bare Exception for an unknown chain
        raise SigningError(f"no Polymarket exchange contracts for chain id {chain_id}") from exc
    return (
        domain_separator(chain_id, contracts.exchange_v2),
        domain_separator(chain_id, contracts.neg_risk_exchange_v2),
    )


def order_digest(order: SignedOrder, separator: bytes) -> bytes:
    """The EIP-712 digest of ``order`` (its venue id is this, in hex): what is signed."""
    try:
        side = _SIDES[order.side]
        struct = b"".join(
            (
                ORDER_TYPE_HASH,
                _word(order.salt),
                _address_word(order.maker),
                _address_word(order.signer),
                _word(int(order.token_id)),
                _word(int(order.maker_amount)),
                _word(int(order.taker_amount)),
                _word(side),
                _word(order.signature_type),
                _word(int(order.timestamp)),
                _bytes32(order.metadata),
                _bytes32(order.builder),
            )
        )
    except (KeyError, ValueError, OverflowError) as exc:
        raise SigningError(f"order cannot be encoded: {exc}") from exc
    return keccak(b"\x19\x01" + separator + keccak(struct))


@attrs.frozen(repr=False)
class OrderSigner:
    """Signs orders with one EOA key. Never printed: its repr names only the address."""

    _key: PrivateKey
    chain_id: int
    _separators: tuple[bytes, bytes]

    @classmethod
    def from_hex(cls, private_key: str, chain_id: int = POLYGON) -> OrderSigner:
        try:
            key = PrivateKey(bytes.fromhex(private_key.strip().removeprefix("0x")))
        except Exception:  # never chain the cause: it may quote the key
            raise SigningError("the Polymarket private key is not 32 hex-encoded bytes") from None
        return cls(key, chain_id, exchange_separators(chain_id))

    @property
    def address(self) -> str:
        """The signer's checksummed address (``Order.signer``, ``POLY_ADDRESS``)."""
        return str(self._key.public_key.to_checksum_address())

    def __repr__(self) -> str:
        return f"OrderSigner(address={self.address!r}, chain_id={self.chain_id})"

    def sign(self, order: SignedOrder, *, neg_risk: bool) -> tuple[SignedOrder, str]:
        """``order`` with its signature (65 bytes r, s, v in 27/28, hex), and its hash."""
        digest = order_digest(order, self._separators[neg_risk])
        sig = self._key.sign_msg_hash(digest)
        signature = "0x" + (_word(sig.r) + _word(sig.s) + bytes((sig.v + 27,))).hex()
        return msgspec.structs.replace(order, signature=signature), "0x" + digest.hex()
