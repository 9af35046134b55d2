"""Fault hooks for the chaos harness: a small synchronous API over the running sim.

``inject`` takes effect at once (connections are aborted, flags set); scheduled faults
from ``SimConfig.faults`` go through the same call. Faults are counted, not timed, where
that is what a test needs to be deterministic (REST faults hit the next ``count``
requests; malformed bursts and seq gaps are ``count`` frames/slots).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import trio

from actors.sim.config import FaultKind, FaultSpec, Venue


@attrs.define
class Faults:
    """Live fault state consulted by the websocket and HTTP servers."""

    on_ws: Callable[[FaultSpec], None]  # close / malformed / seq gap on live connections
    on_bad_hash: Callable[[int], None]
    on_trade_failed: Callable[[int], None] = lambda count: None
    stalled_until: dict[Venue, float] = attrs.Factory(dict)
    rest: list[FaultSpec] = attrs.Factory(list)
    history: list[tuple[float, FaultSpec]] = attrs.Factory(list)

    def inject(self, kind: FaultKind | FaultSpec, **fields: object) -> FaultSpec:
        """Apply a fault now. ``fields`` are those of ``FaultSpec`` (venue, count, ...)."""
        spec = kind if isinstance(kind, FaultSpec) else FaultSpec(kind, **fields)  # type: ignore[arg-type]
        self.history.append((trio.current_time(), spec))
        if spec.kind is FaultKind.WS_STALL:
            until = trio.current_time() + spec.duration
            for venue in Venue if spec.venue is None else (spec.venue,):
                self.stalled_until[venue] = until
        elif spec.kind is FaultKind.POLY_BAD_HASH:
            self.on_bad_hash(spec.count)
        elif spec.kind is FaultKind.POLY_TRADE_FAILED:
            self.on_trade_failed(spec.count)
        elif spec.kind.value.startswith("rest_"):
            self.rest.append(spec)
        else:
            self.on_ws(spec)
        return spec

    def clear(self) -> None:
        """Drop every pending fault (stalls end now)."""
        self.stalled_until.clear()
        self.rest.clear()
        self.on_bad_hash(0)
        self.on_trade_failed(0)

    def stalled(self, venue: Venue) -> bool:
        until = self.stalled_until.get(venue)
        return until is not None and trio.current_time() < until

    def take_rest(self, venue: Venue) -> FaultSpec | None:
        """Consume one pending REST fault that applies to a request for ``venue``."""
        for i, spec in enumerate(self.rest):
            if spec.venue is None or spec.venue is venue:
                if spec.count <= 1:
                    del self.rest[i]
                else:
                    self.rest[i] = attrs.evolve(spec, count=spec.count - 1)
                return spec
        return None
