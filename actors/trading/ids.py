"""Deterministic client order ids: derived from the opportunity id and the leg, so a retry
or a restart can never create a second order for the same intent (invariant I1)."""

from __future__ import annotations

import hashlib

from protocols.messages import client_order_id

__all__ = ["client_order_id", "leg_order_id", "polymarket_salt", "unwind_order_id"]


def leg_order_id(opportunity_id: str, leg_index: int) -> str:
    """The id of leg ``leg_index`` of an opportunity (attempt 0: one order per leg)."""
    return client_order_id(opportunity_id, leg_index, 0)


def unwind_order_id(parent_client_order_id: str, attempt: int) -> str:
    """The id of unwind attempt ``attempt`` for a filled leg: distinct per attempt (each
    attempt is a new order after the previous one is known dead), same on every retry."""
    digest = hashlib.blake2b(
        f"unwind|{parent_client_order_id}|{attempt}".encode(), digest_size=12
    ).hexdigest()
    return f"unw-{digest}"


def polymarket_salt(client_order_id_: str) -> int:
    """Polymarket orders carry no client id: a salt derived from ours makes the signed order
    (and so its hash) identical on every resend, which the venue rejects as duplicated."""
    digest = hashlib.blake2b(client_order_id_.encode(), digest_size=6).digest()
    return int.from_bytes(digest, "big")
