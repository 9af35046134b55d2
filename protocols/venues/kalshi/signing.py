"""Kalshi request signing: RSA-PSS (SHA-256, salt = digest length) over ``timestamp +
METHOD + path``. Pure computation given a key; :func:`verify_signature` is the venue's
side, for the simulated venue and tests.
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def load_private_key(pem: bytes, password: bytes | None = None) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=password)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("Kalshi API keys are RSA keys")
    return key


def sign_request(
    key: rsa.RSAPrivateKey, key_id: str, timestamp_ms: int, method: str, path: str
) -> dict[str, str]:
    """The three ``KALSHI-ACCESS-*`` headers for one request.

    Signs ``timestamp + METHOD + path`` with the query string removed (path includes the
    ``/trade-api/v2`` prefix; for the websocket handshake use ``GET /trade-api/ws/v2``).
    """
    ts = str(timestamp_ms)
    message = (ts + method.upper() + path.split("?", 1)[0]).encode()
    signature = key.sign(
        message,
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
        hashes.SHA256(),
    )
    return {
        "KALSHI-ACCESS-KEY": key_id,
        "KALSHI-ACCESS-TIMESTAMP": ts,
        "KALSHI-ACCESS-SIGNATURE": base64.b64encode(signature).decode(),
    }


def verify_signature(
    public_key: rsa.RSAPublicKey, signature_b64: str, timestamp_ms: int, method: str, path: str
) -> bool:
    """Check a signature as the venue would (used by the simulated venue and tests)."""
    from cryptography.exceptions import InvalidSignature

    message = (str(timestamp_ms) + method.upper() + path.split("?", 1)[0]).encode()
    try:
        public_key.verify(
            base64.b64decode(signature_b64),
            message,
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
            hashes.SHA256(),
        )
    except (InvalidSignature, ValueError):
        return False
    return True
