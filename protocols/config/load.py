"""Decode TOML configuration into typed Structs with errors a user can act on.

msgspec already reports the JSON-path of a bad value and the expected type
(``Expected `int`, got `str` - at `$.trading.max_open_positions```); this module adds the
file name, turns ``$.a.b`` into the TOML key ``a.b`` and refuses to guess: an unknown key,
a wrong type or a missing value stops the run before anything starts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TypeVar

import msgspec

T = TypeVar("T")

_AT_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_FIELD = re.compile(
    r"^Object (?P<what>contains unknown|missing required) field `(?P<field>[^`]+)`$"
)


class ConfigError(ValueError):
    """A configuration file is unreadable or does not match the schema."""

    def __init__(self, source: str, key: str | None, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        where = f"{source}: {key}: " if key else f"{source}: "
        super().__init__(where + problem)


def decode_config(data: bytes | str, type_: type[T], *, source: str = "<config>") -> T:
    """Decode TOML text into ``type_``; raise ``ConfigError`` naming the key on any mismatch."""
    try:
        return msgspec.toml.decode(data, type=type_)
    except msgspec.ValidationError as exc:
        key, problem = _explain(str(exc))
        raise ConfigError(source, key, problem) from None
    except msgspec.DecodeError as exc:
        raise ConfigError(source, None, f"not valid TOML ({exc})") from None


def load_config(path: Path, type_: type[T]) -> T:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(str(path), None, f"cannot read file ({exc.strerror})") from None
    return decode_config(data, type_, source=str(path))


def _explain(message: str) -> tuple[str | None, str]:
    """Split msgspec's message into the TOML key it concerns and the problem."""
    key = ""
    match = _AT_PATH.search(message)
    if match is not None:
        key = match.group("path").removeprefix(".")  # ".trading.limits[0]" -> "trading.limits[0]"
        message = message[: match.start()]
    field = _FIELD.match(message)
    if field is not None:
        key = f"{key}.{field.group('field')}" if key else field.group("field")
        if field.group("what") == "contains unknown":
            message = "unknown key (not part of the configuration schema)"
        else:
            message = "required key is missing"
    return key or None, message
