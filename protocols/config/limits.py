"""The accepted range of every configuration value, declared on the schema itself.

Numbers carry ``msgspec.Meta`` bounds (msgspec checks them while decoding; NaN fails every
bound, so a bounded float is also finite). Dollar amounts, prices, sizes and rates are
decimal *strings* parsed exactly by :mod:`protocols.fixed`: their type here is a ``str``
with a :class:`DecimalRange` in the metadata's ``extra``, which
:func:`check_decimals` enforces after decoding. :func:`describe` turns a field's type into
the "accepted" part of an error message and of docs/running.md, and :func:`limited_fields`
lists every number-like key (the property tests walk it, so a new key is covered by them).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import attrs
import msgspec
import msgspec.inspect as mi

from protocols.errors import FixedPointError
from protocols.fixed import format_units, parse_units

DAY_S = 86_400.0
_ONE = 1_000_000  # 1.0 in fixed-point units
_BILLION = 1_000_000_000 * _ONE


@attrs.frozen
class DecimalRange:
    """Bounds of a decimal-string value, in 1e-6 units (``lo_open``: ``lo`` excluded)."""

    lo: int
    hi: int
    lo_open: bool = False

    def contains(self, units: int) -> bool:
        above = units > self.lo if self.lo_open else units >= self.lo
        return above and units <= self.hi

    def text(self) -> str:
        low = "<" if self.lo_open else "<="
        return f"a decimal string, {format_units(self.lo)} {low} x <= {format_units(self.hi)}"


def _decimal(lo: int, hi: int, *, lo_open: bool = False) -> msgspec.Meta:
    # No ``pattern``: msgspec's message for it names neither the table key nor the value;
    # check_decimals parses each value and names both.
    return msgspec.Meta(extra={"decimal": DecimalRange(lo, hi, lo_open)})


# -- numbers ---------------------------------------------------------------------------------
Seconds = Annotated[float, msgspec.Meta(gt=0, le=DAY_S)]  # a timer that must run
SecondsOrOff = Annotated[float, msgspec.Meta(ge=0, le=DAY_S)]  # 0 turns the timer off
Jitter = Annotated[float, msgspec.Meta(ge=0, le=1)]  # a fraction of a delay
Fraction = Annotated[float, msgspec.Meta(gt=0, le=1)]
Capacity = Annotated[int, msgspec.Meta(ge=1, le=10_000_000)]  # queue / mailbox slots
Count = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]  # attempts, thresholds, batch sizes
CountOrOff = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
Bytes = Annotated[int, msgspec.Meta(ge=1024, le=1 << 30)]
Port = Annotated[int, msgspec.Meta(ge=0, le=65_535)]
StreamInterval = Annotated[float, msgspec.Meta(ge=0.1, le=3600)]  # control /tree/stream

# -- decimal strings -------------------------------------------------------------------------
Dollars = Annotated[str, _decimal(0, _BILLION)]  # cash, buffers, tolerances
PositiveDollars = Annotated[str, _decimal(0, _BILLION, lo_open=True)]  # limits that allow trading
Shares = Annotated[str, _decimal(0, _BILLION, lo_open=True)]  # sizes and size steps
Rate = Annotated[str, _decimal(0, _ONE)]  # fee rates, per-share edges and slippage (0..1)
PriceStep = Annotated[str, _decimal(0, _ONE, lo_open=True)]  # tick sizes, fee rounding
Multiplier = Annotated[str, _decimal(0, 100 * _ONE)]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)


def _bounds(info: mi.IntType | mi.FloatType) -> str:
    kind = "`int`" if isinstance(info, mi.IntType) else "`float`"
    low = ""
    if info.ge is not None:
        low = f"{_number(info.ge)} <= "
    elif info.gt is not None:
        low = f"{_number(info.gt)} < "
    high = ""
    if info.le is not None:
        high = f" <= {_number(info.le)}"
    elif info.lt is not None:
        high = f" < {_number(info.lt)}"
    return f"{low}{kind}{high}"


def describe(info: mi.Type) -> str:
    """What a key accepts, in words: ``1 <= `int` <= 1000``, ``"sim" | "real"``, ..."""
    if isinstance(info, mi.Metadata):
        decimal = (info.extra or {}).get("decimal")
        if isinstance(decimal, DecimalRange):
            return decimal.text()
        return describe(info.type)
    if isinstance(info, (mi.IntType, mi.FloatType)):
        return _bounds(info)
    if isinstance(info, mi.UnionType):
        return " | ".join(describe(t) for t in info.types)
    if isinstance(info, mi.EnumType):
        return " | ".join(f'"{member.value}"' for member in info.cls)
    if isinstance(info, mi.LiteralType):
        return " | ".join(repr(v) if not isinstance(v, str) else f'"{v}"' for v in info.values)
    if isinstance(info, mi.DictType):
        return f"a table of {describe(info.value_type)}"
    if isinstance(info, mi.StructType):
        return "a table"
    if isinstance(info, (mi.ListType, mi.VarTupleType)):
        return f"an array of {describe(info.item_type)}"
    names = {mi.StrType: "`str`", mi.BoolType: "`bool`", mi.NoneType: "left out"}
    return names.get(type(info), type(info).__name__.removesuffix("Type").lower())


def is_bounded(info: mi.Type) -> bool:
    """A number with a lower and an upper bound, or a decimal string with a range."""
    if isinstance(info, mi.Metadata):
        return isinstance((info.extra or {}).get("decimal"), DecimalRange)
    if isinstance(info, (mi.IntType, mi.FloatType)):
        has_low = info.ge is not None or info.gt is not None
        has_high = info.le is not None or info.lt is not None
        return has_low and has_high
    return False


def is_number_like(info: mi.Type) -> bool:
    """An int, a float or a decimal string (what must be bounded)."""
    if isinstance(info, mi.Metadata):
        return is_number_like(info.type) or "decimal" in (info.extra or {})
    return isinstance(info, (mi.IntType, mi.FloatType))


@attrs.frozen
class LimitedField:
    """One number-like key of the schema: its dotted key (``[]`` marks an array item or a
    table's value) and its type."""

    key: str
    info: mi.Type


def limited_fields(type_: Any) -> Iterator[LimitedField]:
    """Every int, float and decimal-string key under ``type_`` (a Struct class)."""
    yield from _walk(mi.type_info(type_), "")


def _walk(info: mi.Type, key: str) -> Iterator[LimitedField]:
    if isinstance(info, mi.UnionType):
        for member in info.types:
            if not isinstance(member, mi.NoneType):
                yield from _walk(member, key)
        return
    if is_number_like(info):
        yield LimitedField(key, info)
        return
    if isinstance(info, mi.StructType):
        for field in info.fields:
            yield from _walk(field.type, f"{key}.{field.encode_name}" if key else field.encode_name)
    elif isinstance(info, (mi.ListType, mi.VarTupleType)):
        yield from _walk(info.item_type, f"{key}[]")
    elif isinstance(info, mi.DictType):
        yield from _walk(info.value_type, f"{key}[]")


def type_at(root: Any, key: str) -> mi.Type | None:
    """The schema type of a dotted key (``market.feeds[0].venue``), None if unknown."""
    info: mi.Type = mi.type_info(root)
    for part in key.replace("[", ".[").split("."):
        if not part:
            continue
        while isinstance(info, mi.UnionType):
            members = [t for t in info.types if not isinstance(t, mi.NoneType)]
            if len(members) != 1:
                return None
            info = members[0]
        if part.startswith("["):
            if isinstance(info, (mi.ListType, mi.VarTupleType)):
                info = info.item_type
                continue
            return None
        if isinstance(info, mi.DictType):
            info = info.value_type
            continue
        if not isinstance(info, mi.StructType):
            return None
        field = next((f for f in info.fields if f.encode_name == part), None)
        if field is None:
            return None
        info = field.type
    return info


class DecimalOutOfRange(ValueError):
    """A decimal-string value that does not parse or is outside its :class:`DecimalRange`."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}")


def check_decimals(value: Any) -> None:
    """Raise :class:`DecimalOutOfRange` for the first decimal string out of its range."""
    _check(mi.type_info(type(value)), value, "")


def _check(info: mi.Type, value: Any, key: str) -> None:
    if isinstance(info, mi.UnionType):
        if value is None:
            return
        for member in info.types:
            if not isinstance(member, mi.NoneType):
                _check(member, value, key)
        return
    if isinstance(info, mi.Metadata):
        decimal = (info.extra or {}).get("decimal")
        if isinstance(decimal, DecimalRange) and isinstance(value, str):
            try:
                units = parse_units(value)
            except FixedPointError as exc:
                problem = "not a decimal number"
                if exc.reason != problem:
                    problem = f"{problem}: {exc.reason}"
                raise DecimalOutOfRange(key, problem) from None
            if not decimal.contains(units):
                raise DecimalOutOfRange(key, "out of range")
            return
        _check(info.type, value, key)
    elif isinstance(info, mi.StructType) and isinstance(value, msgspec.Struct):
        for field in info.fields:
            sub = f"{key}.{field.encode_name}" if key else field.encode_name
            _check(field.type, getattr(value, field.name), sub)
    elif isinstance(info, (mi.ListType, mi.VarTupleType)):
        for index, item in enumerate(value):
            _check(info.item_type, item, f"{key}[{index}]")
    elif isinstance(info, mi.DictType):
        for name, item in value.items():
            _check(info.value_type, item, f"{key}.{name}")
