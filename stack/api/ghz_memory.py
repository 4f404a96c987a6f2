"""What a ``kind = "ghz"`` application needs of its nodes' memories, checked before the run (docs/scenario.md).

The center (:func:`stack.api.ghz.ghz_center`) holds one half per leaf before it fuses them, so it needs as many
communication + storage qubits as there are leaves; with fewer it waits for a qubit that never frees and the run
ends in ERR TIMEOUT. A leaf that is also a repeater on the route from the center to a later leaf holds its own
half while it swaps that leaf's pair (a half on each side), so it needs 1 + 2 qubits, else the swap never
starts. A ScenarioError names ``nodes.NAME.communication_qubits`` before anything runs.

    >>> from stack.scenario import load_text
    >>> chain = load_text('''[nodes.c]
    ... kind = "qpu"
    ... communication_qubits = 1
    ... [nodes.l]
    ... kind = "qpu"
    ... [nodes.m]
    ... kind = "qpu"
    ... [links.cl]
    ... a = "c"
    ... b = "l"
    ... scheme = "coupler"
    ... [links.lm]
    ... a = "l"
    ... b = "m"
    ... scheme = "coupler"
    ... [[application]]
    ... kind = "ghz"
    ... node = "c"
    ... remotes = ["l", "m"]''', "chain.toml")
    >>> try:
    ...     check_ghz_memory(chain)
    ... except ScenarioError as error:
    ...     print(str(error)[:52])
    chain.toml: nodes.c.communication_qubits: 'c' is the
"""

from __future__ import annotations

from typing import Any

from stack.scenario import Scenario, ScenarioError

REPEATER_HALVES = 2
"""Halves a repeater holds to swap: one on each side (:data:`protocols.network.routing.REPEATER_QUBITS`)."""


def check_ghz_memory(scenario: Scenario) -> None:
    """Every GHZ application's center and every leaf that repeats for a later leaf have the memory they need."""
    for index, app in enumerate(scenario.applications):
        if app.kind == "ghz":
            _check_center(scenario, index, app)
            _check_repeating_leaves(scenario, index, app)


def _memory(scenario: Scenario, name: str) -> int:
    node = scenario.nodes[name]
    return int(node.communication_qubits + node.storage_qubits)


def _check_center(scenario: Scenario, index: int, app: Any) -> None:
    have, need = _memory(scenario, app.node), len(app.leaves)
    if have < need:
        raise ScenarioError(scenario.source, f"nodes.{app.node}.communication_qubits",
                            f"{app.node!r} is the center of application[{index}] (ghz) and holds a half of each of "
                            f"its {need} pairs at once, but has {have} communication + storage qubits: at least "
                            f"{need} (or fewer application[{index}].remotes)")


def _check_repeating_leaves(scenario: Scenario, index: int, app: Any) -> None:
    """The route of each leaf's pair (as the network layer's router chooses it) through an earlier leaf."""
    routes = _Routes(scenario)
    for position, leaf in enumerate(app.leaves):
        for name in routes.repeaters(app.node, leaf, app.service):
            if name not in app.leaves[:position]:
                continue
            have, need = _memory(scenario, name), 1 + REPEATER_HALVES
            if have < need:
                raise ScenarioError(scenario.source, f"nodes.{name}.communication_qubits",
                                    f"{name!r}, a party of application[{index}] (ghz), is also the repeater from "
                                    f"{app.node!r} to {leaf!r}: it holds its own half while it swaps a pair (a half "
                                    f"on each side), but has {have} communication + storage qubits: at least {need} "
                                    f"(or list {leaf!r} before {name!r} in application[{index}].remotes)")


class _Routes:
    """The QPUs between two ends that the network layer's router would swap at (built when first needed)."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.router: Any = None
        self.linked = {frozenset((link.a, link.b)) for link in scenario.links}

    def repeaters(self, head: str, tail: str, service: str) -> list[str]:
        """The repeaters of the pair ``head``–``tail`` served as ``service`` says (none over a link)."""
        if service == "link" or (service == "auto" and frozenset((head, tail)) in self.linked):
            return []
        if self.router is None:
            from protocols.network.routing import Router
            from stack.quantum.topology import build_topology

            self.router = Router(build_topology(self.scenario))
        nodes = self.scenario.nodes
        route = self.router.route(nodes[head].node_id, nodes[tail].node_id, 0.0)
        if isinstance(route, int):                  # no route: the run's ERR says so
            return []
        names = {node.node_id: name for name, node in nodes.items()}
        return [names[node_id] for node_id in route.nodes[1:-1]]
