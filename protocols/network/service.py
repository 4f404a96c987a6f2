"""Network layer: the application service on UDP 7773 (docs/wire.md §9.4).

Applications send CREATE to their node's port 7773 and get ACK, OK-K, OK-M and ERR back, the link-layer
service's messages end to end. Here: parsing and admission of a CREATE at the head (ERR CREATE, UNSUPP,
NORES, TIMEOUT after the run's generation window), its Create ID, the route (NOPATH, UNSUPP), and the
messages both ends send their application: OKs carry the head's Create ID, the end-to-end sequence number
n and Bell state, the far end's node id and the end's goodness; ERR EXPIRE retracts pair n; any other ERR
ends the request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from protocols.common import NETWORK_PURPOSE_BASE, Actions, Address, Basis, ParseError
from protocols.link.types import RANDOM_BASES, ROTATION_BASES, basis_choice
from protocols.network.circuit import Circuit
from protocols.network.context import Node
from protocols.network.policy import DistilRequest
from protocols.network.routing import Router
from protocols.network.types import CircuitStats, Half
from protocols.packets import linkservice as ll


@dataclass(frozen=True, slots=True)
class Admitted:
    """A CREATE the head accepted and routed."""

    create: ll.Create
    create_id: int
    app: Address
    route: tuple[int, ...]
    """The QPUs from the head (this node) to the tail."""


def rotation_basis(create: ll.Create, head: bool) -> Basis | None:
    """The fixed measurement basis of one end of a measure-directly CREATE (None: rotations we lack)."""
    angles = (create.rotx1l, create.rotyl, create.rotx2l) if head else (create.rotx1r, create.rotyr, create.rotx2r)
    return ROTATION_BASES.get(angles)


def unsupported(create: ll.Create) -> bool:
    """What the network service cannot serve: no pairs, a link label as Purpose ID, atomic requests across
    repeaters (ATO, or CON clear with create-and-keep), a link-service Window (docs/wire.md §4.1.1), and bases
    the link layer has not either."""
    if (create.number == 0 or create.purpose_id >= NETWORK_PURPOSE_BASE or create.kept_together
            or create.window != ll.WINDOW_NONE):
        return True
    try:
        DistilRequest.from_create(create)
    except ValueError:
        return True
    if create.rl or create.rr:
        return create.tpe != ll.TPE_MEASURE or create.rl not in RANDOM_BASES or create.rr not in RANDOM_BASES
    return create.tpe == ll.TPE_MEASURE and (rotation_basis(create, True) is None
                                             or rotation_basis(create, False) is None)


class Service:
    """CREATEs from applications, and every message to an application."""

    def __init__(self, node: Node, router: Router, purposes: dict[int, Address],
                 paths: Mapping[tuple[int, int], Sequence[int]] | None = None) -> None:
        self.node = node
        self.router = router
        self.purposes = purposes
        """Purpose ID → the listening application at this node (the tail's side)."""
        self.paths = dict(paths or {})
        """(remote node, Purpose ID) → an explicit route (head first) for requests from this node."""
        self.next_create_id = 1

    def on_create(self, payload: bytes, app: Address, now: int) -> tuple[Actions, Admitted | None]:
        """A CREATE from ``app``: ACK and the admitted request, or ERR."""
        node = self.node
        try:
            create = ll.Create.decode(payload)
            create.max_time_ns()
        except ParseError:
            node.counters.malformed += 1
            return self._send(app, ll.Err(0, ll.ERR_CREATE, origin_node=node.node_id)), None
        create_id = self.next_create_id
        self.next_create_id = create_id % 0xFFFF + 1
        code = self._refusal(create)
        if code:
            node.counters.refused += 1
            return self._send(app, ll.Err(create_id, code, origin_node=node.node_id)), None
        actions = self._send(app, ll.Ack(create_id))
        path = self.paths.get((create.remote_node_id, create.purpose_id))
        # with distillation asked for, pairs better than any path's link pairs are possible: the tail judges
        floor = 0.0 if create.distil != ll.DISTIL_NONE else ll.decode_fidelity(create.minimum_fidelity)
        route = self.router.route(node.node_id, create.remote_node_id, floor, path)
        if isinstance(route, int):
            node.counters.refused += 1
            return actions.extend(self._send(app, ll.Err(create_id, route, origin_node=node.node_id))), None
        return actions, Admitted(create, create_id, app, route.nodes)

    def _refusal(self, create: ll.Create) -> int:
        node = self.node
        if node.over:
            return ll.ERR_TIMEOUT
        if unsupported(create):
            return ll.ERR_UNSUPP
        if not node.topology.has_node(create.remote_node_id):
            return ll.ERR_NOPATH
        if create.remote_node_id == node.node_id or not node.topology.node(create.remote_node_id).is_qpu:
            return ll.ERR_UNSUPP
        return 0

    # -- to the applications ------------------------------------------------------------------
    def ok(self, circuit: Circuit, half: Half, n: int, bell: int, goodness: float, now: int) -> bytes:
        """The OK of end-to-end pair ``n`` for ``circuit``'s application at this end (bytes, to send or hold)."""
        create = circuit.create
        far = circuit.tail if circuit.is_head else circuit.head
        d = 0 if circuit.is_head else 1
        if create.tpe == ll.TPE_MEASURE:
            assert half.outcome is not None and half.basis is not None
            return ll.OkMeasure(circuit.create_id, half.outcome, d, half.basis, bell, n, create.purpose_id, far,
                                ll.encode_fidelity(goodness)).encode()
        assert half.slot is not None
        return ll.OkKeep(circuit.create_id, half.slot, d, bell, n, create.purpose_id, far,
                         ll.encode_fidelity(goodness), (now // 1000) & 0xFFFF).encode()

    def expire(self, circuit: Circuit, n: int) -> Actions:
        """ERR EXPIRE of end-to-end pair ``n`` (S = 1, [n, n + 1))."""
        return self.err(circuit, ll.ERR_EXPIRE, s=1, low=n, high=(n + 1) & 0xFFFF)

    def err(self, circuit: Circuit, code: int, s: int = 0, low: int = 0, high: int = 0) -> Actions:
        if circuit.app is None:
            return Actions()
        if code != ll.ERR_EXPIRE:
            circuit.stats.errors.append(code)
        return self._send(circuit.app, ll.Err(circuit.create_id, code, s, low, high, circuit.head))

    def err_admitted(self, admitted: Admitted, code: int, stats: CircuitStats) -> Actions:
        """ERR ``code`` for an admitted request that has no circuit (now)."""
        stats.errors.append(code)
        stats.ended = stats.ended or ll.ERROR_CODES.get(code, str(code))
        return self._send(admitted.app, ll.Err(admitted.create_id, code, 0, 0, 0, self.node.node_id))

    def basis(self, circuit: Circuit) -> Basis:
        """This end's measurement basis for its next pair of a measure-directly circuit."""
        head = circuit.is_head
        create = circuit.create
        if create.distil == ll.DISTIL_EXPLICIT:
            create = replace(create, pl1=0, pl2=0)      # PL1/PL2 carry the rules: the local choice is uniform
        choice = basis_choice(create, local=head)
        if choice:
            bases, weights = zip(*choice, strict=True)
            return bases[int(self.node.rng.choice(len(bases), p=[w / sum(weights) for w in weights]))]
        basis = rotation_basis(circuit.create, head)
        assert basis is not None
        return basis

    @staticmethod
    def _send(app: Address, message: ll.Ack | ll.Err) -> Actions:
        return Actions(send=[(app, message.encode())])
