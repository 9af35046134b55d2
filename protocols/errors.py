"""The one error type a decoder may raise, plus the fixed-point parse error it wraps.

Feeds count and log :class:`DecodeError` and carry on with the next frame; any other
exception escaping a decoder is a bug (the fuzz tests hold decoders to this).
"""

from __future__ import annotations

_SAMPLE_LIMIT = 200


class FixedPointError(ValueError):
    """A decimal string that is not a valid fixed-point number at the required scale."""

    def __init__(self, text: object, reason: str) -> None:
        self.text = text
        self.reason = reason
        super().__init__(f"{reason}: {text!r}")


class DecodeError(Exception):
    """A malformed or unexpected frame.

    ``sample`` is a bounded, printable prefix of the offending input so that a log line
    can show it without flooding (and without echoing megabytes of garbage).
    """

    def __init__(self, venue: str, reason: str, sample: bytes | str = b"") -> None:
        if isinstance(sample, bytes):
            sample = sample[:_SAMPLE_LIMIT].decode("utf-8", "replace")
        else:
            sample = sample[:_SAMPLE_LIMIT]
        self.venue = venue
        self.reason = reason
        self.sample = sample
        super().__init__(f"{venue}: {reason}")

    def to_record(self) -> dict[str, str]:
        """The JSON-friendly form used by ``arbtree decode`` and the feeds' logs."""
        return {
            "error": "DecodeError",
            "venue": self.venue,
            "reason": self.reason,
            "sample": self.sample,
        }
