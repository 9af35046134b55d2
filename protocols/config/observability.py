"""Configuration for the control endpoint (metrics, health, tree, actions) and logging."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

import msgspec

from protocols.config.limits import Bytes, Count, CountOrOff, Port, Seconds, StreamInterval


class ControlConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The HTTP control endpoint.

    ``port = 0`` lets the OS pick a free port; the chosen URL is written to
    ``<run_dir>/control.json`` for ``arbtree inspect``. Give a fixed port when Prometheus
    scrapes the process.
    """

    enabled: bool = True
    host: str = "127.0.0.1"
    port: Port = 0
    # Binding anything but a loopback address exposes the actions to the network;
    # it must be asked for explicitly.
    allow_non_loopback: bool = False
    stream_interval_s: StreamInterval = 1.0  # /tree/stream default period
    # The shortest ?interval= a /tree/stream client may ask for (shorter: 400): a stream
    # serializes the whole tree every interval on the trading loop.
    min_stream_interval_s: StreamInterval = 0.1
    # Concurrent /tree/stream clients at most; one more is answered 503.
    max_streams: Annotated[int, msgspec.Meta(ge=1, le=64)] = 8
    max_body_bytes: Bytes = 65536
    token_file: str | None = None  # default: <run_dir>/control.token
    graceful_timeout_s: Seconds = 1.0

    def __post_init__(self) -> None:
        if not self.allow_non_loopback and not is_loopback(self.host):
            raise ValueError(
                f"host = {self.host!r} is not a loopback address (accepted: 127.0.0.1, ::1, "
                "localhost; or allow_non_loopback = true to expose the actions)"
            )


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or ``localhost``: reachable from this machine only."""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class LoggingConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Structured logging: plain text or one JSON object per line."""

    level: str = "INFO"
    format: Literal["plain", "json"] = "plain"
    file: str | None = None  # None: standard error
    tick_debug: bool = False  # let the tick-level loggers (arbtree.tick.*) emit DEBUG
    sample_first: CountOrOff = 10  # sampled hot-path error loggers: log the first N per key ...
    sample_every: Count = 1000  # ... then every Kth, with the count suppressed in between
    redact_keys: tuple[str, ...] = ()  # extra key names whose values are masked
    # Records queued for the writer thread, at most; a full queue drops and counts (0: no
    # queue, each record is formatted and written where it is logged).
    queue_size: Annotated[int, msgspec.Meta(ge=0, le=10_000_000)] = 10_000


class ObservabilityConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    control: ControlConfig = msgspec.field(default_factory=ControlConfig)
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)
