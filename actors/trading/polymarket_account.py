"""A live Polymarket account: the order signer and the L2 API credentials, read from the
environment (never from config files), and the headers every private request carries.

Variables: ``POLYMARKET_PRIVATE_KEY`` (hex) or ``POLYMARKET_PRIVATE_KEY_PATH`` (a file
holding it), ``POLYMARKET_API_KEY``, ``POLYMARKET_API_SECRET``,
``POLYMARKET_API_PASSPHRASE``, and ``POLYMARKET_FUNDER`` (the proxy or safe wallet that
holds the funds) when ``executor.polymarket.signature_type`` is ``proxy`` or ``safe``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from actors.trading.client_base import LiveModeRefused, Secret
from protocols.config.trading import VenueExecConfig
from protocols.venues.polymarket.l2auth import l2_headers, same_address

if TYPE_CHECKING:
    from protocols.venues.polymarket.signing import OrderSigner

KEY_ENV = "POLYMARKET_PRIVATE_KEY"
KEY_PATH_ENV = "POLYMARKET_PRIVATE_KEY_PATH"
API_KEY_ENV = "POLYMARKET_API_KEY"
SECRET_ENV = "POLYMARKET_API_SECRET"
PASSPHRASE_ENV = "POLYMARKET_API_PASSPHRASE"
FUNDER_ENV = "POLYMARKET_FUNDER"


@attrs.frozen
class PolymarketAccount:
    """Who signs (``signer``), whose funds (``funder``: ``Order.maker``), and the L2 key.
    Its repr shows the addresses and the API key id, never a secret."""

    signer: OrderSigner
    funder: str
    signature_type: int
    api_key: str
    secret: Secret
    passphrase: Secret

    def headers(self, method: str, path: str, body: bytes = b"") -> dict[str, str]:
        """The ``POLY_*`` headers of one request (signed now: the venue checks the time)."""
        return l2_headers(
            address=self.signer.address,
            api_key=self.api_key,
            secret=self.secret.reveal(),
            passphrase=self.passphrase.reveal(),
            timestamp_s=int(time.time()),
            method=method,
            path=path,
            body=body,
        )


def polymarket_account_from_env(
    cfg: VenueExecConfig, env: dict[str, str] | None = None
) -> PolymarketAccount:
    """The account for live Polymarket; :class:`LiveModeRefused` naming every missing or
    unusable variable (never quoting a value)."""
    # Imported here: Polymarket's SDK takes ~0.5 s to import, which paper runs never need.
    from protocols.venues.polymarket.signing import SIGNATURE_TYPES, OrderSigner, SigningError

    environ = os.environ if env is None else env
    missing = [name for name in (API_KEY_ENV, SECRET_ENV, PASSPHRASE_ENV) if not environ.get(name)]
    if not (environ.get(KEY_ENV) or environ.get(KEY_PATH_ENV)):
        missing.insert(0, f"{KEY_ENV} (or {KEY_PATH_ENV})")
    signature_type = SIGNATURE_TYPES[cfg.signature_type]
    funder = environ.get(FUNDER_ENV, "")
    if signature_type and not funder:
        missing.append(f"{FUNDER_ENV} (signature_type {cfg.signature_type!r} signs for a wallet)")
    if missing:
        raise LiveModeRefused("live Polymarket needs " + ", ".join(missing) + " in the environment")
    key_text = environ.get(KEY_ENV) or _read_key(environ[KEY_PATH_ENV])
    try:
        signer = OrderSigner.from_hex(key_text, cfg.chain_id)
    except SigningError as exc:
        raise LiveModeRefused(f"live Polymarket refused: {exc}") from None
    if not signature_type and funder and not same_address(funder, signer.address):
        raise LiveModeRefused(
            f"live Polymarket refused: {FUNDER_ENV} {funder} is not the key's address "
            f"{signer.address}, and signature_type 'eoa' trades the key's own funds "
            "(set executor.polymarket.signature_type to 'proxy' or 'safe' for a wallet)"
        )
    return PolymarketAccount(
        signer=signer,
        funder=funder or signer.address,
        signature_type=signature_type,
        api_key=environ[API_KEY_ENV],
        secret=Secret(environ[SECRET_ENV]),
        passphrase=Secret(environ[PASSPHRASE_ENV]),
    )


def _read_key(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise LiveModeRefused(f"live Polymarket refused: {KEY_PATH_ENV}: {exc.strerror}") from None
