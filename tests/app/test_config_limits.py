"""Every configuration value is checked for range and finiteness at load: a bad one stops
``arbtree run`` with exit 2 and one line naming the key, the value and what it accepts,
before anything (sim, database, run directory) starts.

The keys are found by walking the schema (``protocols.config.limits.limited_fields``), so a
key added later is covered by these tests without editing them.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.shutdown_phases import new_shutdown
from arbtree import cli
from arbtree.config import AppConfig, load_app_config
from protocols.config.limits import DecimalRange, LimitedField, is_bounded, limited_fields
from protocols.config.load import ConfigError, show_value
from protocols.fixed import format_units

FIELDS = list(limited_fields(AppConfig))


# -- building a TOML file that sets one key ---------------------------------------------------


def _required(info: mi.StructType) -> dict[str, Any]:
    """Placeholder values for a table's required keys (so only the key under test is bad)."""
    out: dict[str, Any] = {}
    for field in info.fields:
        if not field.required:
            continue
        kind = field.type
        if isinstance(kind, mi.EnumType):
            out[field.encode_name] = next(iter(kind.cls)).value
        else:
            out[field.encode_name] = "x"
    return out


def document_setting(key: str, value: Any) -> tuple[dict[str, Any], str]:
    """A document whose only bad value is ``value`` at ``key`` (``[]``: an array item or a
    table entry), and the key as an error message names it."""
    info: mi.Type = mi.type_info(AppConfig)
    root: dict[str, Any] = {}
    node: Any = root
    named: list[str] = []
    parts = key.replace("[]", ".[]").split(".")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        while isinstance(info, mi.UnionType):
            info = next(t for t in info.types if not isinstance(t, mi.NoneType))
        if part == "[]":
            if isinstance(info, mi.DictType):
                info = info.value_type
                named.append(".k")
                child: Any = value if last else {}
                node["k"] = child
            else:
                assert isinstance(info, (mi.ListType, mi.VarTupleType))
                info = info.item_type
                named.append("[0]")
                child = value if last else {}
                node.append(child)
                if isinstance(info, mi.StructType):
                    child.update(_required(info))
            node = child
            continue
        assert isinstance(info, mi.StructType), key
        field = next(f for f in info.fields if f.encode_name == part)
        info = field.type
        named.append(f".{part}" if named else part)
        if last:
            node[part] = value
            break
        inner = info
        while isinstance(inner, mi.UnionType):
            inner = next(t for t in inner.types if not isinstance(t, mi.NoneType))
        child = [] if isinstance(inner, (mi.ListType, mi.VarTupleType)) else {}
        if isinstance(inner, mi.StructType):
            child.update(_required(inner))
        node[part] = child
        node = child
    return root, "".join(named)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_document(doc: dict[str, Any]) -> str:
    return "".join(f"{name} = {toml_value(value)}\n" for name, value in doc.items())


def run_cli(tmp_path: Path, text: str, *extra: str) -> tuple[int, str]:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = cli.main(
            ["run", "--config", str(config), "--run-dir", str(tmp_path / "run"), *extra]
        )
    return code, err.getvalue()


# -- bad values for one key ------------------------------------------------------------------


def _bounds(info: mi.Type) -> mi.IntType | mi.FloatType | DecimalRange:
    if isinstance(info, mi.Metadata):
        decimal = (info.extra or {})["decimal"]
        assert isinstance(decimal, DecimalRange)
        return decimal
    assert isinstance(info, (mi.IntType, mi.FloatType))
    return info


def _int_range(info: mi.IntType) -> tuple[int, int]:
    """The smallest and the largest accepted int."""
    lo = info.ge if info.ge is not None else info.gt + 1 if info.gt is not None else None
    hi = info.le if info.le is not None else info.lt - 1 if info.lt is not None else None
    assert lo is not None
    assert hi is not None
    return lo, hi


def _float_range(info: mi.FloatType) -> tuple[float, float]:
    """The two bounds (whether each is included is in ``ge`` / ``le``)."""
    lo = info.ge if info.ge is not None else info.gt
    hi = info.le if info.le is not None else info.lt
    assert lo is not None
    assert hi is not None
    return lo, hi


def edge_values(field: LimitedField) -> list[Any]:
    """The nearest bad values on both sides, the non-finite ones and wrong types."""
    bounds = _bounds(field.info)
    if isinstance(bounds, DecimalRange):
        below = bounds.lo if bounds.lo_open else bounds.lo - 1
        return [
            format_units(below),
            format_units(bounds.hi + 1),
            "abc",
            "1e400",
            "nan",
            "0.0000001",
            5,
            [],
        ]
    if isinstance(bounds, mi.IntType):
        lo, hi = _int_range(bounds)
        return [lo - 1, hi + 1, 2**70, 1.5, "abc", True]
    lo_f, hi_f = _float_range(bounds)
    below_f = math.nextafter(lo_f, -math.inf) if bounds.ge is not None else lo_f
    above_f = math.nextafter(hi_f, math.inf) if bounds.le is not None else hi_f
    return [below_f, above_f, math.nan, math.inf, -math.inf, "abc", True]


def bad_values(field: LimitedField) -> st.SearchStrategy[Any]:
    """Any value the key must refuse."""
    wrong_type = st.sampled_from(["abc", True, [1], {"a": 1}])
    bounds = _bounds(field.info)
    if isinstance(bounds, DecimalRange):
        below = bounds.lo if bounds.lo_open else bounds.lo - 1
        out = st.integers(max_value=below) | st.integers(min_value=bounds.hi + 1, max_value=10**20)
        garbage = st.text(alphabet="0123456789.-e+xE ", min_size=0, max_size=12).filter(
            lambda s: not _parses(s)
        )
        return out.map(format_units) | garbage | st.floats() | st.integers() | wrong_type
    if isinstance(bounds, mi.IntType):
        lo, hi = _int_range(bounds)
        ints = st.integers(max_value=lo - 1, min_value=-(2**70)) | st.integers(
            min_value=hi + 1, max_value=2**70
        )
        return ints | st.floats() | wrong_type
    lo_f, hi_f = _float_range(bounds)
    floats = st.floats(max_value=lo_f, exclude_max=bounds.ge is not None) | st.floats(
        min_value=hi_f, exclude_min=bounds.le is not None
    )
    return floats | st.just(math.nan) | wrong_type


def _parses(text: str) -> bool:
    from protocols.errors import FixedPointError
    from protocols.fixed import parse_units

    try:
        parse_units(text)
    except FixedPointError:
        return False
    return True


def assert_refused(code: int, err: str, named: str, value: Any) -> None:
    lines = err.splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    line = lines[0]
    assert f": {named}: " in line, line
    if not isinstance(value, dict):
        assert f"got {show_value(value)}" in line, line
    assert "accepted: " in line, line


# -- the tests -------------------------------------------------------------------------------


def test_the_walk_finds_the_keys_the_issue_named() -> None:
    keys = {f.key for f in FIELDS}
    for key in (
        "run.shutdown_deadline_s",
        "run.status_interval_s",
        "sim.markets",
        "sim.rate",
        "storage.mailbox_capacity",
        "observability.control.port",
        "trading.fund.limits.max_notional_per_order",
        "trading.fund.paper_balances[]",
        "market.feeds[].reconnect.max_s",
    ):
        assert key in keys


@pytest.mark.parametrize("field", FIELDS, ids=[f.key for f in FIELDS])
def test_every_number_like_key_has_a_lower_and_an_upper_bound(field: LimitedField) -> None:
    assert is_bounded(field.info), f"{field.key} needs msgspec.Meta bounds (or a DecimalRange)"


@pytest.mark.parametrize("field", FIELDS, ids=[f.key for f in FIELDS])
def test_every_key_refuses_its_edge_values_in_one_line(
    field: LimitedField, tmp_path: Path, no_run: list[Any]
) -> None:
    for value in edge_values(field):
        doc, named = document_setting(field.key, value)
        code, err = run_cli(tmp_path, toml_document(doc))
        assert_refused(code, err, named, value)
    assert no_run == []
    assert not (tmp_path / "run").exists()


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_bad_value_for_any_key_exits_2_with_one_line(
    data: st.DataObject, tmp_path: Path, no_run: list[Any]
) -> None:
    field = data.draw(st.sampled_from(FIELDS), label="key")
    value = data.draw(bad_values(field), label="value")
    doc, named = document_setting(field.key, value)
    code, err = run_cli(tmp_path, toml_document(doc))
    assert_refused(code, err, named, value)
    assert no_run == []


def test_the_built_in_configuration_is_within_every_limit() -> None:
    load_app_config(None)  # raises ConfigError otherwise


_DEEP = r"nested too deeply|run\.seed: Expected `int`, got `(array|object)`"
ISSUE_CASES = {
    "decimal-abc": ('[trading.fund.limits]\nmax_notional_per_order = "abc"\n', "max_notional"),
    "decimal-1e400": ('[trading.fund.limits]\nmax_notional_per_order = "1e400"\n', "1e400"),
    "port-70000": ("[observability.control]\nport = 70000\n", "observability.control.port"),
    "mailbox-negative": ("[storage]\nmailbox_capacity = -1\n", "storage.mailbox_capacity"),
    "markets-zero": ("[sim]\nmarkets = 0\n", "sim.markets"),
    "markets-negative": ("[sim]\nmarkets = -3\n", "sim.markets"),
    "markets-1e23": ("[sim]\nmarkets = 1e23\n", "sim.markets"),
    "markets-huge-int": ("[sim]\nmarkets = 100000000000000000000000\n", "sim.markets"),
    "rate-inf": ("[sim]\nrate = inf\n", "sim.rate"),
    "status-negative": ("[run]\nstatus_interval_s = -1\n", "run.status_interval_s"),
    "status-zero": ("[run]\nstatus_interval_s = 0\n", "run.status_interval_s"),
    "deadline-zero": ("[run]\nshutdown_deadline_s = 0\n", "run.shutdown_deadline_s"),
    "deadline-negative": ("[run]\nshutdown_deadline_s = -5\n", "run.shutdown_deadline_s"),
    "negative-loss-limit": ('[trading.fund.limits]\ndaily_loss_limit = "-50"\n', "daily_loss"),
    "non-loopback-host": ('[observability.control]\nhost = "0.0.0.0"\n', "not a loopback"),
    # Nested deeper than Python's recursion limit (RecursionError), unless a test before
    # raised the limit: then the key's type is what is refused. One line either way.
    "deep-nesting": ("[run]\nseed = " + "[" * 3000 + "]" * 3000 + "\n", _DEEP),
    "deep-tables": ("[run]\nseed = " + "{b = " * 3000 + "1" + "}" * 3000 + "\n", _DEEP),
    "not-utf8": ("[run]\nrun_dir = '\udcff'\n", "not UTF-8"),
}


@pytest.mark.parametrize("case", sorted(ISSUE_CASES))
def test_the_issues_bad_configurations_exit_2_with_one_line(
    case: str, tmp_path: Path, no_run: list[Any]
) -> None:
    text, expected = ISSUE_CASES[case]
    config = tmp_path / "bad.toml"
    config.write_bytes(text.encode("utf-8", "surrogateescape"))
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = cli.main(["run", "--config", str(config), "--run-dir", str(tmp_path / "run")])
    lines = err.getvalue().splitlines()
    assert code == 2, err.getvalue()
    assert len(lines) == 1, err.getvalue()
    assert re.search(expected, lines[0]), lines[0]
    assert "Traceback" not in err.getvalue()
    assert no_run == []
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("option", "value", "key"),
    [
        ("--duration", "nan", "run.duration_s"),
        ("--duration", "-1", "run.duration_s"),
        ("--duration", "inf", "run.duration_s"),
        ("--control-port", "70000", "observability.control.port"),
        ("--seed", "-1", "run.seed"),
    ],
)
def test_a_bad_command_line_value_names_the_option(
    option: str, value: str, key: str, tmp_path: Path, no_run: list[Any]
) -> None:
    code, err = run_cli(tmp_path, "", option, value)
    lines = err.splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"arbtree run: configuration error: {option}: {key}: "), err
    assert "accepted: " in lines[0]
    assert no_run == []


def _shutdown_deadline_floor() -> float:
    info = next(f.info for f in FIELDS if f.key == "run.shutdown_deadline_s")
    assert isinstance(info, mi.FloatType)
    assert info.ge is not None
    return info.ge


@pytest.mark.parametrize("value", [0.0, -5.0, 1e-9, 0.5, "floor"])
async def test_no_accepted_shutdown_deadline_skips_a_phase(
    value: float | str, autojump_clock: trio.testing.MockClock
) -> None:
    """Either the deadline is refused at load, or with it every phase runs (each phase's
    task here takes 50 ms, as a flush or a checkpoint may)."""
    deadline = _shutdown_deadline_floor() if value == "floor" else float(value)
    try:
        config = msgspec.convert(
            {"run": {"shutdown_deadline_s": deadline}}, AppConfig, str_keys=True
        )
    except msgspec.ValidationError:
        with pytest.raises(ConfigError, match=r"run\.shutdown_deadline_s"):
            load_app_config(None, {"run.shutdown_deadline_s": ("test", deadline)})
        return
    coordinator = new_shutdown(config.run.shutdown_deadline_s)

    async def takes_a_while() -> None:
        await trio.sleep(0.05)

    for phase in coordinator.phases:
        coordinator.add_task(phase.name, "work", takes_a_while)
    report = await coordinator.run()
    skipped = [p.phase for p in report.phases if p.outcome.name == "SKIPPED"]
    assert skipped == []
