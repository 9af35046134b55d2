"""Polymarket CLOB L2 auth: the ``POLY_*`` headers every private request carries (an
HMAC over the request with the API secret). :func:`verify_l2_headers` is the venue's side,
for the simulated venue and tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def same_address(a: str, b: str) -> bool:
    """Two spellings (any checksum case) of one 20-byte address?"""
    return bool(_ADDRESS.fullmatch(a)) and a.lower() == b.lower()


def l2_signature(secret: str, timestamp: str, method: str, path: str, body: bytes) -> str:
    """urlsafe-base64 HMAC-SHA256, keyed with the urlsafe-base64-decoded API secret, over
    ``timestamp + METHOD + path + body`` (the path without its query string)."""
    key = base64.urlsafe_b64decode(secret)
    message = (timestamp + method.upper() + path.split("?", 1)[0]).encode() + body
    return base64.urlsafe_b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


def l2_headers(
    *,
    address: str,
    api_key: str,
    secret: str,
    passphrase: str,
    timestamp_s: int,
    method: str,
    path: str,
    body: bytes,
) -> dict[str, str]:
    """The five ``POLY_*`` headers of an authenticated (L2) CLOB request."""
    ts = str(timestamp_s)
    return {
        "POLY_ADDRESS": address,
        "POLY_SIGNATURE": l2_signature(secret, ts, method, path, body),
        "POLY_TIMESTAMP": ts,
        "POLY_API_KEY": api_key,
        "POLY_PASSPHRASE": passphrase,
    }


def verify_l2_headers(
    headers: dict[str, str],
    *,
    address: str,
    api_key: str,
    secret: str,
    passphrase: str,
    method: str,
    path: str,
    body: bytes,
) -> str:
    """The venue's check of an L2 request: "" if it passes, else why not. Header names are
    matched case-insensitively (a server or a proxy may have changed their case)."""
    got = {k.upper(): v for k, v in headers.items()}
    if not same_address(got.get("POLY_ADDRESS", ""), address):
        return "address is not the api key's"
    if got.get("POLY_API_KEY") != api_key:
        return "unknown api key"
    if got.get("POLY_PASSPHRASE") != passphrase:
        return "wrong passphrase"
    ts = got.get("POLY_TIMESTAMP", "")
    expected = l2_signature(secret, ts, method, path, body) if ts.isdigit() else ""
    if not expected or not hmac.compare_digest(expected, got.get("POLY_SIGNATURE", "")):
        return "bad signature"
    return ""
