"""The workload's applications, built into a run: a :class:`protocols.apps.workload.EntanglementUser` at each
end of every workload entry (the origin with its CREATE, the listening responder), each a layer on its own
application port.
"""

from __future__ import annotations

from protocols.apps.workload import EntanglementUser
from protocols.common import LINK_SERVICE_PORT, NETWORK_SERVICE_PORT
from protocols.packets import linkservice as ll
from stack.core.capture import node_ip
from stack.core.kernel import VirtualPort
from stack.core.layer import Layer
from stack.emulation import Emulation, Workload, check_after_each_event
from stack.scenario import WorkloadConfig

APP_PORT_BASE = 49152
"""Applications bind consecutive ports from here on their node."""
ROTATIONS = {"Z": (0, 0, 0), "X": (0, 64, 0), "Y": (192, 0, 0)}
"""CREATE's rotation fields (2π/256 units: X1, Y, X2) that measure in each basis."""
RANDOM_BASES = {"": 0, "XZ": 1, "XYZ": 2}
"""CREATE's RL and RR: each end measures in a basis of these it picks at random per pair ("": the fixed one)."""


def create_request(remote_id: int, purpose_id: int, pairs: int, distil_fields: dict[str, int], *, keep: bool,
                   basis: str, random_basis: str, min_fidelity: float, priority: int, atomic: bool,
                   consecutive: bool, max_time_ns: int) -> ll.Create:
    """The CREATE of a request, from a workload entry or :func:`stack.api.create.create_message` (one rule for
    both): ``pairs`` pairs with node ``remote_id``, kept or measured in ``basis`` (the same at both ends) or in
    one of ``random_basis`` picked per pair, ``max_time_ns`` as :func:`max_time_field` encodes it, and
    ``distil_fields`` (:meth:`protocols.network.policy.DistilRequest.create_fields`)."""
    rot = ROTATIONS[basis]
    random = RANDOM_BASES[random_basis]
    unit, amount = max_time_field(max_time_ns)
    return ll.Create(remote_node_id=remote_id, purpose_id=purpose_id, number=pairs,
                     tpe=ll.TPE_KEEP if keep else ll.TPE_MEASURE, minimum_fidelity=ll.encode_fidelity(min_fidelity),
                     rotx1l=rot[0], rotyl=rot[1], rotx2l=rot[2], rotx1r=rot[0], rotyr=rot[1], rotx2r=rot[2],
                     priority=priority, ato=int(atomic), con=int(consecutive), tu=unit, max_time=amount, rl=random,
                     rr=random, **distil_fields)


def _distil_fields(item: WorkloadConfig) -> dict[str, int]:
    """The CREATE's distillation fields of a workload entry; the network layer's policy module (and the
    distillation models it loads) is imported only for an entry that asks for distillation."""
    if item.distill == "none":
        return {"distil": ll.DISTIL_NONE}         # distil_request("none").create_fields()
    from protocols.network.policy import distil_request

    return distil_request(item.distill, item.distill_rule, item.distill_end).create_fields()


def build_apps(emu: Emulation, responders: dict[str, dict[int, tuple[str, int]]]) -> None:
    scenario = emu.scenario
    origin_ports: dict[str, int] = {name: len(by_purpose) for name, by_purpose in responders.items()}
    for item in scenario.workload:
        node, remote = scenario.nodes[item.node], scenario.nodes[item.remote]
        random_basis = item.basis if item.basis in RANDOM_BASES else ""
        create = create_request(remote.node_id, item.purpose_id, item.pairs, _distil_fields(item),
                                keep=item.type == "keep", basis="Z" if random_basis else item.basis,
                                random_basis=random_basis, min_fidelity=item.min_fidelity, priority=item.priority,
                                atomic=item.atomic, consecutive=item.consecutive, max_time_ns=item.max_time_ns)
        service = NETWORK_SERVICE_PORT if item.service == "network" else LINK_SERVICE_PORT
        origin = EntanglementUser((node_ip(node.node_id), service), create, item.start_ns)
        responder = EntanglementUser((node_ip(remote.node_id), service), None)
        port_number = APP_PORT_BASE + origin_ports.get(item.node, 0)
        origin_ports[item.node] = origin_ports.get(item.node, 0) + 1
        apps = [(f"{item.node}/app{item.purpose_id}", node, origin, port_number)]
        if item.listen:
            apps.append((f"{item.remote}/app{item.purpose_id}", remote, responder,
                         responders[item.remote][item.purpose_id][1]))
        for name, nd, engine, number in apps:
            if not emu.runs(nd.name):
                continue
            for link_layer in emu.link_layers:
                if link_layer.node_id == nd.node_id and link_layer.clients is not None:
                    link_layer.clients.add((node_ip(nd.node_id), number))
            layer = Layer(name, nd.node_id, engine, VirtualPort(emu.kernel, name), emu.network, emu.medium,
                          [number])
            check_after_each_event(emu, layer)
            emu.layers.append(layer)
        link_id = next((link.link_id for link in scenario.links if {link.a, link.b} == {item.node, item.remote}
                        and item.service == "link"), None)
        emu.workloads.append(Workload(item, link_id, origin, responder))


def max_time_field(max_time_ns: int) -> tuple[int, int]:
    """CREATE's (Time Unit, Max Time) for a limit in ns: the finest unit that holds it, rounded up."""
    if max_time_ns <= 0:
        return 0, 0
    for unit, unit_ns in sorted(ll.TIME_UNIT_NS.items()):
        amount = -(-max_time_ns // unit_ns)
        if amount <= 0x3FFF:
            return unit, amount
    return 2, 0x3FFF
