"""The package tree is the architecture: no import cycles, `protocols/` never imports `stack/`, and each
package imports only the layers below it (docs/architecture.md, "Dependency rules").

The graph comes from grimp (the engine of import-linter) over the source, TYPE_CHECKING imports included.
"""

from __future__ import annotations

import grimp
import networkx as nx
import pytest

PROTOCOL_LAYERS = ("compiler", "apps", "transport", "network", "link", ("physical", "sync", "security"), "packets",
                   "common")
STACK_LAYERS = ("cli", "sweep", "multiprocess", ("api", "compile", "report", "report_circuits", "report_estimates",
                                                  "report_nodes", "report_pairs", "runtime", "workloads", "emulation"),
                "quantum",
                "timing", "core", "scenario")
"""Highest first. A tuple is one layer of siblings that must not import each other (except inside the
top-level runtime modules, which form a chain: api → {runtime, workloads}, report → report_circuits → runtime,
{report, report_circuits} → report_estimates → report_pairs, report → report_nodes → {report_circuits (when the run
has circuits), report_pairs, runtime}, runtime → workloads → emulation)."""


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("protocols", "stack", exclude_type_checking_imports=False)


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every set of modules that import each other in a circle: the strongly connected components of more than
    one module, and modules that import themselves (empty when the graph is a DAG). Components, not every
    elementary cycle: their number grows combinatorially once a few forbidden edges are added (the test of
    the check below took 44 s that way), a component's size only linearly."""
    edges = [(module, imported) for module in graph.modules
             for imported in graph.find_modules_directly_imported_by(module)]
    imports = nx.DiGraph(edges)
    circles = [sorted(component) for component in nx.strongly_connected_components(imports) if len(component) > 1]
    circles += [[module] for module, imported in nx.selfloop_edges(imports)]
    return sorted(circles)


def layer_violations(graph: grimp.ImportGraph, container: str, layers: tuple) -> list[str]:
    present = {module.split(".")[1] for module in graph.find_descendants(container)}
    spec = []
    for layer in layers:
        names = layer if isinstance(layer, tuple) else (layer,)
        names = tuple(name for name in names if name in present)
        if names:
            spec.append(grimp.Layer(*names, independent=container == "protocols"))
    illegal = graph.find_illegal_dependencies_for_layers(layers=spec, containers={container})
    return sorted(f"{dep.importer} imports {dep.imported} via "
                  + ", ".join(f"{sorted(r.heads)}→{sorted(r.tails)}" for r in dep.routes) for dep in illegal)


def test_no_import_cycles(graph: grimp.ImportGraph) -> None:
    assert import_cycles(graph) == []


def test_protocols_never_import_the_runtime(graph: grimp.ImportGraph) -> None:
    chain = graph.find_shortest_chain(importer="protocols", imported="stack", as_packages=True)
    assert chain is None, f"protocols imports stack: {' → '.join(chain or ())}"


@pytest.mark.parametrize(("container", "layers"), [("protocols", PROTOCOL_LAYERS), ("stack", STACK_LAYERS)])
def test_packages_import_only_lower_layers(graph: grimp.ImportGraph, container: str, layers: tuple) -> None:
    assert layer_violations(graph, container, layers) == []


def test_the_checks_catch_a_cycle_and_an_upward_import() -> None:
    """The rules above are not vacuous: one forbidden import makes each of them fail."""
    graph = grimp.build_graph("protocols", "stack", exclude_type_checking_imports=False)
    graph.add_import(importer="stack.core.kernel", imported="stack.runtime")
    graph.add_import(importer="protocols.physical.node", imported="protocols.link.layer")
    graph.add_import(importer="protocols.common", imported="stack.core.kernel")
    assert any("stack.core.kernel" in cycle for cycle in import_cycles(graph))
    assert any("stack.core imports stack" in v for v in layer_violations(graph, "stack", STACK_LAYERS))
    assert any("protocols.physical imports protocols.link" in v
               for v in layer_violations(graph, "protocols", PROTOCOL_LAYERS))
    assert graph.find_shortest_chain(importer="protocols", imported="stack", as_packages=True) is not None
