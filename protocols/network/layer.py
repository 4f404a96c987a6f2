"""Network layer: :class:`NetworkLayer`, the engine of one QPU (network-design §6; docs/architecture.md).

It is bound to UDP 7773 (applications' CREATEs, and the replies of its own link layer, to which it is a
client), 7774 (TRACK) and 7775 (QNCP), and gets hardware events (Bell and single-qubit measurement
results). :class:`~protocols.network.inbox.Inbox` decodes each datagram and dispatches it, and the layer each
hardware event, to the collaborator that owns the concern:

- :class:`~protocols.network.service.Service`: the application service (CREATE, ACK, OK, ERR);
- :class:`~protocols.network.signalling.Signalling`: setup, completion and teardown of circuits;
- :class:`~protocols.network.hops.Hops`: each hop's link requests and credit (its
  :class:`~protocols.network.hop_link.HopLink` the link layer's replies);
- :class:`~protocols.network.tracker.Tracker`: TRACKs and EXPIREs, the deaths of halves;
- :class:`~protocols.network.swapper.Swapper`: swapping at repeaters, the cutoff;
- :class:`~protocols.network.distiller.Distiller`: distilling a hop's pairs before they are swapped or delivered;
- :class:`~protocols.network.endpoint.EndPoint`: the ends (numbering, CONFIRM, OKs, τ_end);
- :class:`~protocols.network.end_distiller.EndDistiller`: the ends distilling end-to-end pairs before delivery;

which share the node's tables through :class:`~protocols.network.context.Node`, and merges their actions.
Deadlines live in one heap (:class:`~protocols.network.timers.Timers`); when one comes due,
:class:`~protocols.network.deadlines.Deadlines` routes it to the collaborator that set it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from protocols.common import Actions, Address, ParseError
from protocols.link.types import GenerationOver
from protocols.network.arrivals import Arrivals
from protocols.network.circuit import Circuit, CircuitState
from protocols.network.context import Node
from protocols.network.deadlines import Deadlines
from protocols.network.distiller import Distiller
from protocols.network.end_distiller import EndDistiller
from protocols.network.ending import Ending
from protocols.network.endpoint import EndPoint
from protocols.network.hops import Hops
from protocols.network.inbox import Inbox
from protocols.network.routing import Router
from protocols.network.service import Service
from protocols.network.signalling import Signalling
from protocols.network.swapper import Swapper
from protocols.network.timers import STALE
from protocols.network.topology import Topology
from protocols.network.tracker import Tracker
from protocols.network.types import NetworkConfig
from protocols.packets import linkservice as ll
from protocols.physical.hardware import BellMeasureResult, CommandRejected, DistillResult, MeasureResult, MoveResult

_RESULTS = (BellMeasureResult, MeasureResult, DistillResult)


class NetworkLayer:
    """Sans-IO network-layer engine of one QPU."""

    def __init__(self, node_id: int, topology: Topology, purposes: dict[int, Address], rng: np.random.Generator,
                 config: NetworkConfig | None = None, paths: Mapping[tuple[int, int], Sequence[int]] | None = None,
                 cutoffs: dict[int, int] | None = None, router: Router | None = None) -> None:
        self.node = node = Node(node_id, topology, config or NetworkConfig(), rng)
        self._timers = node.timers
        self.service = Service(node, router or Router(topology), purposes, paths)
        self.hops = Hops(node)
        self.tracker = Tracker(node, self.hops)
        self.swapper = Swapper(node, self.tracker, self.hops)
        self.ends = EndPoint(node, self.service, self.tracker, self.hops)
        self.distiller = Distiller(node, self.tracker, self.hops)
        self.end_distiller = EndDistiller(node, self.tracker, self.hops)
        self.ending = Ending(node, self.service, self.hops, self.ends, self.swapper, self.distiller,
                             self.end_distiller)
        self.signalling = Signalling(node, self.service, self.hops, self.ending, cutoffs)
        self.arrivals = Arrivals(node, self.hops, self.tracker, self.swapper, self.ends, self.distiller)
        self.distiller.on_ready = self.arrivals.ready
        self.hops.link.on_pair = self.arrivals.on_pair
        self.hops.link.on_expired = self.arrivals.on_expired
        self.hops.link.on_failed = self.ending.fail
        self.tracker.on_retracted = self.ends.on_retracted
        self.tracker.on_tracked = self.ends.deliver
        self.ends.on_settled = self.ending.complete
        self.ends.on_end_pair = self.end_distiller.add
        self.end_distiller.on_ready = self.ends.deliver
        self.inbox = Inbox(node, self.service, self.hops, self.tracker, self.ends, self.distiller,
                           self.end_distiller, self.ending, self.signalling)
        self.deadlines = Deadlines(node, self.hops, self.tracker, self.swapper, self.ends, self.distiller,
                                   self.end_distiller, self.ending, self.signalling)

    @property
    def node_id(self) -> int:
        return self.node.node_id

    @property
    def purposes(self) -> dict[int, Address]:
        """Purpose ID → the application listening at this node (the tail's side of a circuit)."""
        return self.service.purposes

    @property
    def counters(self) -> Any:
        return self.node.counters

    @property
    def circuits(self) -> list[Circuit]:
        return list(self.node.circuits)

    # -- the engine surface ---------------------------------------------------------------------
    def start(self, now: int) -> Actions:
        return Actions()

    def receive(self, payload: bytes, source: Address, port: int, now: int) -> Actions:
        try:
            actions = self.inbox.receive(payload, source, port, now)
        except ParseError:
            self.node.counters.malformed += 1
            actions = Actions()
        if actions.send:        # _done's body written out (most inputs are datagrams, one call fewer each):
            # tests/test_network_per_pair.py::test_receive_sets_what_done_sets holds the two equal
            self.node.count_sent(actions, now)
        deadline = self._timers.earliest
        actions.deadline = deadline if deadline != STALE else self._timers.next()
        return actions

    def handle(self, event: Any, now: int) -> Actions:
        if isinstance(event, BellMeasureResult):
            actions = self.swapper.on_result(event, now)
        elif isinstance(event, MeasureResult):
            actions = self.ends.on_measured(event, now)
        elif isinstance(event, DistillResult):
            end = self.end_distiller.expects((event.keep_slot, event.sacrifice_slot))
            actions = (self.end_distiller if end else self.distiller).on_result(event, now)
        elif isinstance(event, MoveResult):
            end = event.slot in self.end_distiller.pool.moving
            actions = (self.end_distiller if end else self.distiller).on_moved(event, now)
        elif isinstance(event, GenerationOver):
            actions = self._generation_over(now)
        elif isinstance(event, CommandRejected):
            actions = self._rejected(event, now)
        else:
            raise TypeError(f"network layer cannot handle {event!r}")
        if isinstance(event, _RESULTS):
            if self.distiller.entries:
                actions.extend(self.distiller.to_storage())     # a storage slot may have come free
            if self.end_distiller.entries:
                actions.extend(self.end_distiller.to_storage())
        return self._done(actions, now)

    def _rejected(self, event: CommandRejected, now: int) -> Actions:
        """The medium refused a command of ours (its slot held no qubit): the halves it named die, so both
        ends learn of it (EXPIRE) instead of waiting for a result that will not come."""
        if event.command == "Move":          # a pooled half's move to storage (expected when a round holds it)
            end = event.slot in self.end_distiller.pool.moving
            return (self.end_distiller if end else self.distiller).on_moved(event, now)
        self.node.counters.hardware_refusals += 1
        if event.command == "BellMeasure":
            return self.swapper.on_rejected(event.slot, now)
        if event.command == "Measure":
            return self.ends.on_rejected(event.slot, now)
        if event.command == "Distill":
            end = self.end_distiller.rejected(event.slot)
            return (self.end_distiller if end else self.distiller).on_result(event, now)
        return Actions()

    def on_timer(self, now: int) -> Actions:
        actions = Actions()
        for key in self.node.timers.due(now):
            assert isinstance(key, tuple)
            actions.extend(self.deadlines.fire(key, now))
        return self._done(actions, now)

    @property
    def resolution_ns(self) -> int:
        """A bound on how long this layer goes on after its last request: a circuit's linger (every reliable
        message's retransmissions) and the head's wait for the tail's verdict, with the longest paths (to the QPUs
        this node reaches: a QPU on an island of its own has no path to time)."""
        node = self.node
        qpus = node.topology.qpus_reached(node.node_id)
        if len(qpus) < 2:
            return 0
        return 3 * node.linger_ns(qpus, [link.link_id for link in node.topology.links])

    def held_slots(self) -> set[int]:
        return self.node.held_slots()

    def settled(self) -> bool:
        """Nothing waits for an answer, no circuit is live here, no link request of its hops is open and no
        measurement is under way."""
        node = self.node
        return (node.outbox.empty() and self.hops.settled() and self.swapper.settled() and self.ends.settled()
                and self.distiller.settled() and self.end_distiller.settled() and self.signalling.settled()
                and not any(circuit.live for circuit in node.circuits) and ("flush",) not in node.timers)

    def _generation_over(self, now: int) -> Actions:
        """The run's generation window ended: new requests get ERR TIMEOUT, and every circuit whose tail (or
        setting-up head) is here fails with TIMEOUT unless all its pairs are numbered."""
        self.node.over = True
        actions = Actions()
        for create_id in list(self.signalling.waiting):
            actions.extend(self.signalling.retry(create_id, now))          # ERR TIMEOUT: no more setups
        for circuit in self.node.circuits:
            if circuit.is_tail or circuit.state == CircuitState.SETTING_UP:
                actions.extend(self.ending.fail(circuit, ll.ERR_TIMEOUT, now))
        return actions

    # -- output ---------------------------------------------------------------------------------
    def _done(self, actions: Actions, now: int) -> Actions:
        """Count what goes out (per message type, per circuit) and set the next deadline."""
        if actions.send:                    # an ACK, a TRACK_ACK ... sends nothing: no call
            self.node.count_sent(actions, now)
        deadline = self._timers.earliest    # kept as deadlines come and go: reckoned only when it went
        actions.deadline = deadline if deadline != STALE else self._timers.next()
        return actions
