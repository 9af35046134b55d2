"""Decode TOML configuration into typed Structs with errors a user can act on.

msgspec already reports the JSON-path of a bad value and the expected type
(``Expected `int`, got `str` - at `$.trading.max_open_positions```); this module adds the
file name, turns ``$.a.b`` into the TOML key ``a.b``, shows the value and what the key
accepts (:mod:`protocols.config.limits`), and refuses to guess: an unknown key, a wrong
type, a value out of range or a missing value stops the run before anything starts, with
one line.
"""

from __future__ import annotations

import copy
import datetime
import json
import re
import tomllib
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import msgspec.inspect as mi

from protocols.config.limits import DecimalOutOfRange, check_decimals, describe, type_at

T = TypeVar("T")

_AT_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_KEY_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_SHOW_LIMIT = 60
_ONE_LINE = re.compile(r"\s*[\r\n]+\s*")
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
        super().__init__(_ONE_LINE.sub(" ", where + problem))  # always one line


def parse_toml(data: bytes | str, *, source: str = "<config>") -> dict[str, Any]:
    """TOML text as plain tables and values; ``ConfigError`` if it is not TOML."""
    try:
        text = data.decode() if isinstance(data, bytes) else data
        return tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise ConfigError(source, None, f"not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, None, f"not valid TOML ({exc})") from None
    except RecursionError:
        raise ConfigError(source, None, "not valid TOML (nested too deeply)") from None


def convert_config(raw: dict[str, Any], type_: type[T], *, source: str = "<config>") -> T:
    """Plain tables into ``type_``: types, ranges and decimal strings checked; a mismatch
    raises ``ConfigError`` naming the key, the value and what the key accepts."""
    try:
        config = _convert(raw, type_)
    except msgspec.ValidationError as exc:
        key, problem = _explain(str(exc))
        if key is not None and key.endswith("[...]"):
            key = _table_entry(copy.deepcopy(raw), type_, key)
        raise ConfigError(source, key, problem + _value_and_range(raw, type_, key)) from None
    except RecursionError:
        raise ConfigError(source, None, "nested too deeply") from None
    try:
        check_decimals(config)
    except DecimalOutOfRange as exc:
        suffix = _value_and_range(raw, type_, exc.key)
        raise ConfigError(source, exc.key, exc.problem + suffix) from None
    return config


def _convert(raw: dict[str, Any], type_: type[T]) -> T:
    builtin = (datetime.datetime, datetime.date, datetime.time)
    return msgspec.convert(raw, type_, builtin_types=builtin, str_keys=True)


def decode_config(data: bytes | str, type_: type[T], *, source: str = "<config>") -> T:
    """Decode TOML text into ``type_``; raise ``ConfigError`` naming the key on any mismatch."""
    return convert_config(parse_toml(data, source=source), type_, source=source)


def load_config(path: Path, type_: type[T]) -> T:
    return decode_config(read_config(path), type_, source=str(path))


def read_config(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(str(path), None, f"cannot read file ({exc.strerror})") from None


def value_at(raw: Any, key: str) -> Any:
    """The plain value at a dotted key (``a.b[0].c``), ``msgspec.UNSET`` if there is none."""
    node = raw
    for name, index in _KEY_PART.findall(key):
        try:
            node = node[int(index)] if index else node[name]
        except (KeyError, IndexError, TypeError, ValueError):
            return msgspec.UNSET
    return node


def show_value(value: Any) -> str:
    """A value as TOML would write it, cut to one short line."""
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dict):
        text = "a table"
    elif isinstance(value, list):
        text = "an array"
    else:
        text = repr(value)
    return text if len(text) <= _SHOW_LIMIT else text[: _SHOW_LIMIT - 3] + "..."


def _table_entry(raw: Any, type_: Any, key: str) -> str:
    """msgspec names a bad table value ``key[...]``: find which entry it is."""
    table_key = key.removesuffix("[...]")
    table = value_at(raw, table_key)
    if not isinstance(table, dict):
        return key
    for name, value in list(table.items()):
        table.clear()
        table[name] = value  # the table with this one entry: does it still fail?
        try:
            _convert(raw, type_)
        except msgspec.ValidationError:
            return f"{table_key}.{name}"
    return key


def _value_and_range(raw: Any, type_: Any, key: str | None) -> str:
    if not key:
        return ""
    parts = []
    value = value_at(raw, key)
    if value is not msgspec.UNSET and not isinstance(value, dict):
        parts.append(f"got {show_value(value)}")
    info = type_at(type_, key)
    if info is not None and not isinstance(info, mi.StructType):
        parts.append(f"accepted: {describe(info)}")
    return f" ({'; '.join(parts)})" if parts else ""


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
