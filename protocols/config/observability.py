"""Configuration for the control endpoint (metrics, health, tree, actions) and logging."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec


class ControlConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The HTTP control endpoint.

    ``port = 0`` lets the OS pick a free port; the chosen URL is written to
    ``<run_dir>/control.json`` for ``arbtree inspect``. Give a fixed port when Prometheus
    scrapes the process.
    """

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 0
    # Binding anything but a loopback address exposes the actions to the network;
    # it must be asked for explicitly.
    allow_non_loopback: bool = False
    stream_interval_s: float = 1.0  # /tree/stream default period
    min_stream_interval_s: float = 0.01  # floor for ?interval= on /tree/stream
    max_body_bytes: int = 65536
    token_file: str | None = None  # default: <run_dir>/control.token
    graceful_timeout_s: float = 1.0


class LoggingConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Structured logging: plain text or one JSON object per line."""

    level: str = "INFO"
    format: Literal["plain", "json"] = "plain"
    file: str | None = None  # None: standard error
    tick_debug: bool = False  # let the tick-level loggers (arbtree.tick.*) emit DEBUG
    sample_first: int = 10  # sampled hot-path error loggers: log the first N per key ...
    sample_every: int = 1000  # ... then every Kth, with the count suppressed in between
    redact_keys: tuple[str, ...] = ()  # extra key names whose values are masked
    # Records queued for the writer thread, at most; a full queue drops and counts (0: no
    # queue, each record is formatted and written where it is logged).
    queue_size: Annotated[int, msgspec.Meta(ge=0)] = 10_000


class ObservabilityConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    control: ControlConfig = msgspec.field(default_factory=ControlConfig)
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)
