"""The named scenarios: which nemeses a run's schedule draws from.

``all`` is every scenario below but the ``only-*`` ones (one per nemesis, for chasing a
single fault).
"""

from __future__ import annotations

import attrs

from arbtree.chaos.nemeses import CATEGORIES, NEMESES


@attrs.frozen
class Scenario:
    name: str
    description: str
    nemeses: tuple[str, ...] = ()
    kind: str = "system"  # "system": the running system; "config": start-up refusals


def _category(category: str) -> tuple[str, ...]:
    return tuple(n.name for n in NEMESES.values() if n.category == category)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("steady", "no faults: the invariants hold on a quiet run"),
        *(
            Scenario(category, f"every {category} fault, drawn by the seed", _category(category))
            for category in CATEGORIES
        ),
        Scenario("mixed", "faults of every category, drawn by the seed", tuple(NEMESES)),
        Scenario(
            "config",
            "numeric configuration keys at negative, huge, nan, inf: exit 2, one line, "
            "nothing started",
            kind="config",
        ),
    )
}
SCENARIOS.update(
    {
        f"only-{n.name}": Scenario(f"only-{n.name}", n.description, (n.name,))
        for n in NEMESES.values()
    }
)
ALL = tuple(name for name in SCENARIOS if not name.startswith("only-"))


def resolve(name: str) -> list[Scenario]:
    if name == "all":
        return [SCENARIOS[n] for n in ALL]
    if name not in SCENARIOS:
        raise KeyError(f"unknown scenario {name!r}: see `arbtree chaos --list`")
    return [SCENARIOS[name]]
