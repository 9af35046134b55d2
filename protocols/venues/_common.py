"""Small helpers shared by the venue decoders (number coercion with typed errors)."""

from __future__ import annotations

import msgspec

from protocols.errors import FixedPointError

_MAX_MS_DIGITS = 16

# Everything a decoder turns into DecodeError: msgspec's own errors (malformed JSON,
# wrong types), our number parsing errors, and deep nesting (msgspec raises
# RecursionError past its depth limit).
DECODE_FAILURES: tuple[type[Exception], ...] = (
    msgspec.DecodeError,
    FixedPointError,
    ValueError,
    TypeError,
    RecursionError,
)


def ms_value(value: str | int | None) -> int:
    """An epoch-ms timestamp given as int or digit string; ``None``/``""`` -> 0."""
    if value is None or value == "":
        return 0
    if isinstance(value, int):
        if value < 0:
            raise FixedPointError(value, "negative timestamp")
        return value
    if len(value) > _MAX_MS_DIGITS or not value.isdigit() or not value.isascii():
        raise FixedPointError(value, "bad timestamp")
    return int(value)


def int_text(value: str | int) -> int:
    """An integer given as int or decimal-digit string (Polymarket ``fee_rate_bps``)."""
    if isinstance(value, int):
        return value
    if not value:
        return 0
    if len(value) > _MAX_MS_DIGITS or not value.isdigit() or not value.isascii():
        raise FixedPointError(value, "bad integer")
    return int(value)
