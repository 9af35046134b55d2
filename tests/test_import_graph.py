"""The import graph: the layers of docs/design.md hold, and no module imports itself back
(annotation-only imports under ``TYPE_CHECKING`` included: a cycle there still means two
modules that cannot be read, moved or tested one without the other)."""

from __future__ import annotations

import graphlib

import grimp

# Top to bottom: a package may import only those below it (docs/design.md, "Layers").
LAYERS = ("bench", "arbtree", "actors", "supervision", "protocols")


def _graph() -> grimp.ImportGraph:
    return grimp.build_graph(*LAYERS, exclude_type_checking_imports=False, cache_dir=None)


def test_no_package_imports_a_layer_above_it() -> None:
    illegal = _graph().find_illegal_dependencies_for_layers(layers=LAYERS)
    found = [
        f"{sorted(r.heads)} -> {' -> '.join(r.middle)} -> {sorted(r.tails)}"
        for d in illegal
        for r in d.routes
    ]
    assert found == []


def test_no_import_cycle_between_modules() -> None:
    graph = _graph()
    imports = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    try:
        graphlib.TopologicalSorter(imports).prepare()
    except graphlib.CycleError as exc:
        raise AssertionError("import cycle: " + " -> ".join(exc.args[1])) from None
