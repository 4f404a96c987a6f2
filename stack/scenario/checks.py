"""Checks of a scenario as a whole: size limits, one link per pair of nodes, PTP reachability.

Each raises :class:`ScenarioError` naming the key to fix and, for a limit, the limit and
where it comes from (docs/scenario.md, "Limits"). Every check is linear in the scenario's size.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from stack.scenario.table import ScenarioError
from stack.scenario.types import LinkConfig, NodeConfig, WorkloadConfig

MAX_NODES = 0xFFFF
"""Node ids are 16 bits in a node's addresses (IPv4 198.18.(id >> 8).(id & 255), MAC 02:00:00:00:hi:lo)."""
MAX_LINKS = 0xFFFF
"""The Link ID is 16 bits on the wire (heralds, photon frames, EGP)."""
MAX_WORKLOAD = 0x7FFF
"""Purpose IDs are 16 bits, below 0x8000 (the network layer's link labels take the rest); an entry's default
purpose id is its index + 1."""
MAX_APPLICATIONS_PER_NODE = 65536 - 49152
"""Each application of a node (workload origin, or listening remote) binds its own UDP port from 49152."""


def check_count(source: str, key: str, data: Any, limit: int, what: str, why: str) -> None:
    """A table or array of more than ``limit`` entries is rejected before it is read."""
    if isinstance(data, dict | list) and len(data) > limit:
        raise ScenarioError(source, key, f"{len(data)} {what}; at most {limit} ({why})")


def check_one_link_per_pair(source: str, links: list[LinkConfig]) -> None:
    """Two QPUs share at most one link (a CREATE names the remote node, not the link)."""
    first: dict[frozenset[str], str] = {}
    for link in links:
        other = first.setdefault(frozenset((link.a, link.b)), link.name)
        if other != link.name:
            raise ScenarioError(source, f"links.{link.name}",
                                f"{link.a!r} and {link.b!r} already share link {other!r} (one link per pair of nodes)")


def check_source_channels(source: str, nodes: dict[str, NodeConfig], links: list[LinkConfig]) -> None:
    users = Counter(link.source for link in links if link.source is not None)
    for name, count in users.items():
        if 2 * count > nodes[name].channels:
            raise ScenarioError(source, f"nodes.{name}.channels",
                                f"{count} links need {2 * count} channels, the source has {nodes[name].channels}")


def check_ptp_reachable(source: str, nodes: dict[str, NodeConfig], links: list[LinkConfig]) -> None:
    """PTP runs between every two PTP nodes over the links' fibre: they must all be connected by it."""
    parent = {name: name for name in nodes}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for link in links:
        for end in (link.a, link.b):
            parent[root(end)] = root(link.middle)
    members = [node for node in nodes.values() if node.clock.ptp != "off"]
    for node in members[1:]:
        if root(node.name) != root(members[0].name):
            raise ScenarioError(source, f"nodes.{node.name}.ptp",
                                f"no fibre path to PTP node {members[0].name!r} (PTP nodes talk over the links' "
                                "fibre)")


def check_applications(source: str, workload: list[WorkloadConfig]) -> None:
    """No node runs more applications than it has application ports."""
    apps: Counter[str] = Counter()
    for index, item in enumerate(workload):
        apps[item.node] += 1
        apps[item.remote] += item.listen
        for name in (item.node, item.remote):
            if apps[name] > MAX_APPLICATIONS_PER_NODE:
                raise ScenarioError(source, f"workload[{index}]",
                                    f"{name!r} would run more than {MAX_APPLICATIONS_PER_NODE} applications (each "
                                    "binds a UDP port from 49152)")
