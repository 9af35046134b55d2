"""Statistics callbacks as metrics: a component registers its ``statistics()`` with a
list of :class:`StatField`; :class:`StatisticsCollector` calls it at scrape time and
exports the fields as gauges or counters. Nothing is recorded on the hot path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

import attrs
import msgspec
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger("arbtree.observability.metrics")


@attrs.frozen
class StatField:
    """One field of a component's ``statistics()`` result, exported as one metric.

    ``key`` names the field (mapping key or attribute). Its value is a number, or a
    mapping ``{label_value: number}`` when ``label`` is set (e.g. rows written per table,
    ``label="table"``). Counters must be named ``..._total`` and must never decrease.
    """

    key: str
    name: str
    doc: str
    kind: Literal["gauge", "counter"] = "gauge"
    label: str | None = None
    value: Callable[[Any], float] | None = None  # converts a non-numeric value (e.g. a mode)

    def __attrs_post_init__(self) -> None:
        if self.kind == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"counter {self.name!r} must end in _total")
        if not self.name.startswith("arbtree_"):
            raise ValueError(f"metric {self.name!r} must start with arbtree_")


@attrs.define(eq=False)
class _Registration:
    source: str
    callback: Callable[[], object]
    fields: tuple[StatField, ...]
    labels: tuple[tuple[str, str], ...]


class StatisticsCollector(Collector):
    """Calls registered ``statistics()`` callbacks at scrape time."""

    def __init__(self) -> None:
        self._registrations: list[_Registration] = []
        self._shapes: dict[str, tuple[str, tuple[str, ...], str]] = {}
        self._errors: dict[str, int] = {}

    def describe(self) -> Iterable[Metric]:
        return ()

    def register(
        self,
        source: str,
        callback: Callable[[], object],
        fields: Sequence[StatField],
        *,
        labels: Mapping[str, str] | None = None,
    ) -> Callable[[], None]:
        const = tuple(sorted((labels or {}).items()))
        for field in fields:
            names = tuple(k for k, _ in const) + ((field.label,) if field.label else ())
            shape = (field.kind, names, field.doc)
            known = self._shapes.setdefault(field.name, shape)
            if known[:2] != shape[:2]:
                raise ValueError(
                    f"{source}: metric {field.name!r} already registered as {known[0]} with "
                    f"labels {known[1]}, not {field.kind} with {names}"
                )
        reg = _Registration(source, callback, tuple(fields), const)
        self._registrations.append(reg)

        def unregister() -> None:
            if reg in self._registrations:
                self._registrations.remove(reg)

        return unregister

    def collect(self) -> Iterator[Metric]:
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
        for reg in list(self._registrations):
            try:
                stats = reg.callback()
            except Exception:
                self._errors[reg.source] = self._errors.get(reg.source, 0) + 1
                log.exception("statistics callback of %s failed at scrape time", reg.source)
                continue
            values = _as_mapping(stats)
            const_names = [k for k, _ in reg.labels]
            const_values = [v for _, v in reg.labels]
            for field in reg.fields:
                if field.key not in values:
                    continue
                family = families.get(field.name)
                if family is None:
                    label_names = const_names + ([field.label] if field.label else [])
                    family = (
                        CounterMetricFamily(field.name, field.doc, labels=label_names)
                        if field.kind == "counter"
                        else GaugeMetricFamily(field.name, field.doc, labels=label_names)
                    )
                    families[field.name] = family
                value = values[field.key]
                convert = field.value or _number
                try:
                    if field.label is not None and isinstance(value, Mapping):
                        for label_value, number in value.items():
                            family.add_metric([*const_values, str(label_value)], convert(number))
                    elif field.label is None:
                        family.add_metric(const_values, convert(value))
                except (TypeError, ValueError):
                    self._errors[reg.source] = self._errors.get(reg.source, 0) + 1
                    log.warning("%s: statistics field %s is not a number", reg.source, field.key)
        yield from families.values()
        errors = CounterMetricFamily(
            "arbtree_statistics_errors_total",
            "Statistics callbacks that raised at scrape time, by source.",
            labels=["source"],
        )
        for source, count in sorted(self._errors.items()):
            errors.add_metric([source], count)
        yield errors


def _as_mapping(stats: object) -> Mapping[str, Any]:
    if isinstance(stats, Mapping):
        return stats
    if isinstance(stats, msgspec.Struct):
        return msgspec.structs.asdict(stats)
    if attrs.has(type(stats)):
        return attrs.asdict(stats, recurse=False)  # type: ignore[arg-type]
    return {k: v for k, v in vars(stats).items() if not k.startswith("_")}


def _number(value: object) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    raise TypeError(f"statistics value {value!r} is not a number")
