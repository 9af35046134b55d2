"""Structured logging: plain or JSON lines, run id and actor path, secrets redacted.

* :func:`configure_logging` installs one handler on the root logger (plain text or one JSON
  object per line) with the run id on every record and a redacting formatter. Records are
  formatted and written by a thread, never by the Trio thread (:mod:`.log_queue`);
  :func:`close_logging` writes what is queued and stops it.
* The actor path comes from the record's ``actor_path`` attribute (``extra={"actor_path":
  ...}``), or from ``actor``/``path`` when an adapter supplies those instead.
* Tick-level logging goes to loggers under ``arbtree.tick`` at DEBUG only; they are silenced
  unless ``tick_debug`` is set, whatever the root level.
* :class:`SampledLogger` is for errors on hot paths: the first N per key, then every Kth,
  each line carrying how many were suppressed since the previous one.
* :func:`redact` masks API keys, tokens, passwords, private keys (PEM and 0x-hex),
  ``Authorization`` headers and any value registered with :func:`register_secret`.
"""

from __future__ import annotations

import atexit
import datetime as _dt
import logging
import re
import sys
import threading
from collections.abc import Iterable
from typing import IO, Any

import msgspec

from actors.observability.log_queue import LogSink
from protocols.config.observability import LoggingConfig

__all__ = [
    "TICK_LOGGER",
    "JsonFormatter",
    "PlainFormatter",
    "RedactionFilter",
    "SampledLogger",
    "close_logging",
    "configure_logging",
    "installed_log_sink",
    "redact",
    "register_secret",
]

TICK_LOGGER = "arbtree.tick"
MASK = "***"

_SECRET_KEYS: set[str] = {
    "api_key",
    "apikey",
    "api_secret",
    "secret",
    "client_secret",
    "token",
    "access_token",
    "refresh_token",
    "bearer",
    "password",
    "passwd",
    "passphrase",
    "private_key",
    "privatekey",
    "signing_key",
    "authorization",
    "cookie",
    "dsn_password",
}
_secret_values: set[str] = set()
_lock = threading.Lock()
_key_re: re.Pattern[str]
_key_probes: tuple[str, ...]  # the keys without "_" and "-": see redact

_PEM_RE = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.DOTALL
)
_HEX_KEY_RE = re.compile(r"\b0x[0-9a-fA-F]{64}\b")
_BEARER_RE = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_URL_PASSWORD_RE = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@/\s]+(@)", re.IGNORECASE)


def _compile_key_re() -> None:
    global _key_re, _key_probes
    _key_probes = tuple(sorted({k.replace("_", "").replace("-", "") for k in _SECRET_KEYS}))
    keys = sorted((re.escape(k).replace("_", "[_-]?") for k in _SECRET_KEYS), key=len)
    alternatives = "|".join(reversed(keys))
    # key = value, key: value, "key": "value", key=value&..., also KEY_WITH_PREFIX=value
    _key_re = re.compile(
        r"(?P<key>[\"']?[A-Za-z0-9_-]*(?:" + alternatives + r")[\"']?\s*[:=]\s*)"
        r"(?P<quote>[\"'])?(?P<value>(?(quote)[^\"'\n]*|[^\s,;&}\]\)]+))",
        re.IGNORECASE,
    )


_compile_key_re()


def register_secret(value: str, *, key: str | None = None) -> None:
    """Mask ``value`` wherever it appears in a log line; optionally add a secret key name."""
    with _lock:
        if value and len(value) >= 6:
            _secret_values.add(value)
        if key:
            _SECRET_KEYS.add(key.lower())
            _compile_key_re()


def add_secret_keys(keys: Iterable[str]) -> None:
    with _lock:
        _SECRET_KEYS.update(k.lower() for k in keys if k)
        _compile_key_re()


def redact(text: str) -> str:
    """Mask every secret this module knows how to recognise in ``text``."""
    if not text:
        return text
    for value in _secret_values:
        if value in text:
            text = text.replace(value, MASK)
    text = _PEM_RE.sub("[REDACTED PRIVATE KEY]", text)
    text = _HEX_KEY_RE.sub("0x" + MASK, text)
    text = _BEARER_RE.sub(lambda m: f"{m.group(1)} {MASK}", text)
    text = _URL_PASSWORD_RE.sub(lambda m: f"{m.group(1)}{MASK}{m.group(2)}", text)
    if text.isascii():
        # _key_re costs far more than the rest (its name prefix backtracks at every position).
        # Any match of it holds a key, case-folded and with its "_" and "-" dropped.
        folded = text.lower().replace("_", "").replace("-", "")
        if not any(probe in folded for probe in _key_probes):
            return text
    return _key_re.sub(lambda m: f"{m.group('key')}{m.group('quote') or ''}{MASK}", text)


def _is_secret_key(key: str) -> bool:
    k = key.lower().replace("-", "_")
    return any(s in k for s in _SECRET_KEYS)


def _redact_value(key: str, value: object) -> object:
    if _is_secret_key(key):
        return MASK
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    return value


_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "run_id",
    "actor_path",
    "taskName",
}


class RedactionFilter(logging.Filter):
    """Redacts a record in place (message, args and extra fields) for any handler.

    :func:`configure_logging` also redacts the final formatted line, which covers
    exception tracebacks; add this filter to handlers configured elsewhere.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        for key in list(record.__dict__):
            if key not in _STANDARD_ATTRS:
                record.__dict__[key] = _redact_value(key, record.__dict__[key])
        return True


class _ContextFilter(logging.Filter):
    """Adds ``run_id`` and normalises the actor path onto every record."""

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id

    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id = self.run_id
        path = getattr(record, "actor_path", None)
        if path is None:
            path = getattr(record, "actor", None) or getattr(record, "path", None)
        record.actor_path = path
        return True


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {
        k: _redact_value(k, v)
        for k, v in record.__dict__.items()
        if k not in _STANDARD_ATTRS and k not in {"actor", "path"}
    }


class PlainFormatter(logging.Formatter):
    """``2026-01-01T00:00:00.123Z INFO  arbtree/feeds/kalshi  message  key=value``."""

    def format(self, record: logging.LogRecord) -> str:
        ts = _iso(record.created)
        actor = getattr(record, "actor_path", None) or record.name
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        line = f"{ts} {record.levelname:<5} [{getattr(record, 'run_id', '')}] {actor}: "
        line += record.getMessage()
        if extras:
            line += f"  {extras}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return redact(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, run_id, actor, msg, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": _iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "run_id": getattr(record, "run_id", None),
            "actor": getattr(record, "actor_path", None),
            "msg": redact(record.getMessage()),
        }
        extras = _extras(record)
        if extras:
            doc["extra"] = {k: _jsonable(v) for k, v in extras.items()}
        if record.exc_info:
            doc["exc"] = redact(self.formatException(record.exc_info))
        return msgspec.json.encode(doc).decode()


def _jsonable(value: object) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return redact(str(value))


def _iso(created: float) -> str:
    dt = _dt.datetime.fromtimestamp(created, tz=_dt.UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


_installed: LogSink | None = None


def configure_logging(
    config: LoggingConfig, *, run_id: str, stream: IO[str] | None = None
) -> LogSink:
    """Install arbtree's log pipeline on the root logger (closing one installed before):
    records are queued and formatted and written by a thread (see :mod:`.log_queue`)."""
    add_secret_keys(config.redact_keys)
    close_logging()
    root = logging.getLogger()
    if config.file:
        output: logging.Handler = logging.FileHandler(config.file, encoding="utf-8")
    else:
        output = logging.StreamHandler(stream if stream is not None else sys.stderr)
    output.setFormatter(JsonFormatter() if config.format == "json" else PlainFormatter())
    output.addFilter(_ContextFilter(run_id))
    global _installed
    sink = _installed = LogSink(output, config.queue_size)
    root.addHandler(sink.handler)
    root.setLevel(config.level.upper())
    logging.getLogger(TICK_LOGGER).setLevel(logging.DEBUG if config.tick_debug else logging.INFO)
    return sink


def installed_log_sink() -> LogSink | None:
    """The pipeline :func:`configure_logging` installed, for its statistics."""
    return _installed


@atexit.register
def close_logging() -> None:
    """Write what is queued, stop the writer thread and take the handler off the root
    logger. Registered with :mod:`atexit`: the thread is a daemon, and what is still
    queued when the interpreter exits would otherwise be lost."""
    global _installed
    if _installed is not None:
        logging.getLogger().removeHandler(_installed.handler)
        _installed.close()
        _installed = None


class SampledLogger:
    """Rate-limits a repeated hot-path error: first ``first`` per key, then every ``every``th.

    ``log.error("decode", "bad frame from %s", venue)``: the 11th..999th occurrences of
    ``decode`` are counted, not logged; the 1000th is logged with ``suppressed=989`` and
    ``occurrences=1000``. Costs a dict lookup and an integer add when suppressed.
    """

    def __init__(self, logger: logging.Logger, *, first: int = 10, every: int = 1000) -> None:
        self.logger = logger
        self.first = max(0, first)
        self.every = max(1, every)
        self._counts: dict[str, int] = {}
        self._suppressed: dict[str, int] = {}

    def counts(self) -> dict[str, int]:
        return dict(self._counts)

    def log(self, level: int, key: str, msg: str, *args: object, exc: bool = False) -> bool:
        n = self._counts.get(key, 0) + 1
        self._counts[key] = n
        if n > self.first and (n - self.first) % self.every != 0:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False
        suppressed = self._suppressed.pop(key, 0)
        self.logger.log(
            level,
            msg,
            *args,
            exc_info=exc,
            extra={"sample_key": key, "occurrences": n, "suppressed": suppressed},
        )
        return True

    def error(self, key: str, msg: str, *args: object, exc: bool = False) -> bool:
        return self.log(logging.ERROR, key, msg, *args, exc=exc)

    def warning(self, key: str, msg: str, *args: object) -> bool:
        return self.log(logging.WARNING, key, msg, *args)
