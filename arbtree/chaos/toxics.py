"""Toxiproxy's vocabulary: a toxic is ``{name, type, stream, toxicity, attributes}``.

The same names, attribute units and defaults as Shopify's Toxiproxy, so a scenario reads
the same to someone who knows it (and could be replayed against a real Toxiproxy):

| type | attributes | effect on the stream it is on |
|---|---|---|
| ``latency`` | ``latency`` ms, ``jitter`` ms | each chunk delayed latency +- jitter |
| ``bandwidth`` | ``rate`` KB/s | throughput capped |
| ``slow_close`` | ``delay`` ms | the close is passed on ``delay`` ms late |
| ``timeout`` | ``timeout`` ms | data held; the connection closed after ``timeout`` (0: never) |
| ``reset_peer`` | ``timeout`` ms | connection reset (TCP RST) after ``timeout`` (0: at once) |
| ``slicer`` | ``average_size``, ``size_variation`` bytes, ``delay`` us | chunks cut small |
| ``limit_data`` | ``bytes`` | connection closed once that many bytes have passed |

``stream`` is ``upstream`` (client to server) or ``downstream`` (server to client, the
default); ``toxicity`` is the probability (drawn once per connection) that the toxic
applies to a connection.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import attrs

Stream = Literal["upstream", "downstream"]

ATTRIBUTES: dict[str, dict[str, float]] = {  # type -> attribute -> default
    "latency": {"latency": 0, "jitter": 0},
    "bandwidth": {"rate": 0},
    "slow_close": {"delay": 0},
    "timeout": {"timeout": 0},
    "reset_peer": {"timeout": 0},
    "slicer": {"average_size": 0, "size_variation": 0, "delay": 0},
    "limit_data": {"bytes": 0},
}


class ToxicError(ValueError):
    """A toxic that Toxiproxy would refuse: unknown type, stream or attribute, bad value."""


@attrs.frozen
class Toxic:
    """One toxic; build with :meth:`of` (checks and fills defaults like Toxiproxy)."""

    name: str
    type: str
    stream: Stream
    toxicity: float
    attributes: dict[str, float]

    @classmethod
    def of(
        cls,
        type: str,
        *,
        stream: str = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
        **attributes: float,
    ) -> Toxic:
        if type not in ATTRIBUTES:
            raise ToxicError(f"unknown toxic type {type!r} (known: {', '.join(ATTRIBUTES)})")
        if stream not in ("upstream", "downstream"):
            raise ToxicError(f"stream must be upstream or downstream, not {stream!r}")
        if not (isinstance(toxicity, int | float) and 0.0 <= toxicity <= 1.0):
            raise ToxicError(f"toxicity must be in 0..1, not {toxicity!r}")
        known = ATTRIBUTES[type]
        for key, value in attributes.items():
            if key not in known:
                raise ToxicError(f"{type} has no attribute {key!r} (it has {', '.join(known)})")
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ToxicError(f"{type}.{key} must be a finite number >= 0, not {value!r}")
        attrs_ = {**known, **attributes}
        if type == "slicer" and attrs_["size_variation"] >= max(attrs_["average_size"], 1):
            raise ToxicError("slicer.size_variation must be below average_size")
        if type == "bandwidth" and attrs_["rate"] <= 0:
            raise ToxicError("bandwidth.rate must be > 0 KB/s")
        chosen = name or f"{type}_{stream}"
        return cls(chosen, type, stream, float(toxicity), attrs_)  # type: ignore[arg-type]

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Toxic:
        """A toxic as Toxiproxy's API takes it: ``{"type", "stream"?, "toxicity"?, ...}``."""
        if not isinstance(body, dict) or "type" not in body:
            raise ToxicError('a toxic is a JSON object with at least "type"')
        attributes = body.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise ToxicError("attributes must be an object")
        return cls.of(
            str(body["type"]),
            stream=str(body.get("stream", "downstream")),
            toxicity=body.get("toxicity", 1.0),
            name=body.get("name"),
            **attributes,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": dict(self.attributes),
        }
