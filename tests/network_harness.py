"""Network-layer engines of a repeater chain driven directly, with the link layer and the medium played here.

:class:`Chain` holds one :class:`~protocols.network.layer.NetworkLayer` per node of ``a — r1 — … — b`` (ids:
a = 1, b = 2, r1 = 3, …, as in tests/network_scenarios.py). Datagrams between engines go through a queue
the test empties in order, or shuffled and duplicated (at once: each hop's ``delay_ns`` only sets the
engines' retransmission intervals). The link layer is simulated: a hop CREATE is
acknowledged at once, and :meth:`Chain.pair` makes a link pair of a chosen Bell state for the hop's open
request (OK-K to both ends, the master's first). A tiny medium keeps which pair each slot holds, so the
true end-to-end Bell state of every delivered pair is known: a Bell measurement of halves of pairs in
states b₁ and b₂ with outcome m leaves the far halves in b₁ ⊕ b₂ ⊕ m.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from protocols.common import LINK_SERVICE_PORT, NETWORK_SERVICE_PORT, Actions, Address
from protocols.link.admission import LinkOption
from protocols.network.layer import NetworkLayer
from protocols.network.topology import LinkCaps, NodeCaps, Topology
from protocols.network.types import NetworkConfig
from protocols.packets import linkservice as ll
from protocols.physical.hardware import BellMeasure, BellMeasureResult, Discard, Measure, MeasureResult

PURPOSE = 7


def ip(node: int) -> str:
    return f"198.18.{node >> 8}.{node & 0xFF}"


def node_of(address: str) -> int:
    octets = address.split(".")
    return int(octets[2]) << 8 | int(octets[3])


@dataclass
class LinkRequest:
    origin: int
    peer: int
    create_id: int
    label: int
    remaining: int
    closed: bool = False


@dataclass
class Qubit:
    pair: int
    """Index into Chain.pairs."""


@dataclass
class Pair:
    bell: int
    members: list[tuple[int, int]] = field(default_factory=list)
    """(node, slot) of each half."""


class Chain:
    def __init__(self, hops: int, *, window: int = 1, qubits: int = 4, config: NetworkConfig | None = None,
                 listen: bool = True, extra_nodes: tuple[int, ...] = (), comm: dict[int, int] | None = None,
                 cutoffs: dict[int, int] | None = None, t2_ns: float = math.inf, delay_ns: int = 100) -> None:
        self.route = [1] + [i + 2 for i in range(1, hops)] + [2]
        comm = comm or {}
        nodes = [NodeCaps(n, f"n{n}", ip(n), communication_qubits=comm.get(n, 2),
                          storage_qubits=0 if n in comm else qubits - 2, t2_ns=t2_ns)
                 for n in sorted({*self.route, *extra_nodes})]
        links = [LinkCaps(i + 1, f"l{i + 1}", a, b, (LinkOption(None, 1.0, 1.0, (1.0, 0.0, 0.0, 0.0)),),
                          cycle_ns=1000, delay_ns=delay_ns, confirm_timeout_ns=10_000)
                 for i, (a, b) in enumerate(itertools.pairwise(self.route))]
        self.topology = Topology(nodes, links)
        self.link_of = {frozenset((a, b)): i + 1 for i, (a, b) in enumerate(itertools.pairwise(self.route))}
        self.app = {n: (ip(n), 49152) for n in self.route}
        config = config or NetworkConfig(window=window)
        self.engines = {n.node_id: NetworkLayer(n.node_id, self.topology, {}, np.random.default_rng(n.node_id),
                                                config, cutoffs=cutoffs) for n in nodes}
        if listen:
            self.engines[2].purposes[PURPOSE] = self.app[2]
        self.now = 0
        self.queue: deque[tuple[int, bytes, Address, int]] = deque()
        self.held: set[int] = set()
        self.waiting: deque[tuple[int, bytes, Address, int]] = deque()
        self.received: dict[int, list[Any]] = {n: [] for n in self.route}
        self.requests: list[LinkRequest] = []
        self.seq = dict.fromkeys(self.link_of.values(), 0)
        self.create_ids = dict.fromkeys(self.engines, 0)
        self.hardware: list[tuple[int, Any]] = []
        self.deadlines: dict[int, int | None] = {}
        self.pairs: list[Pair] = []
        self.slots: dict[tuple[int, int], int] = {}
        self.free: dict[int, list[int]] = {n: list(range(qubits)) for n in self.engines}
        self.delivered: dict[int, dict[int, tuple[int, int]]] = {n: {} for n in self.route}
        """Per end: pair n → (the OK's Bell state, the pair's true Bell state)."""
        self.sent: list[tuple[int, int, bytes]] = []
        """Every datagram between engines: (from node, port, payload)."""
        self.lose: Callable[[int, int, bytes], bool] = lambda source, target, payload: False
        """Datagrams (from node, to node, payload) the channel loses (after recording them in ``sent``)."""

    # -- driving ----------------------------------------------------------------------------------
    def apply(self, node: int, actions: Actions) -> None:
        for destination, payload in actions.send:
            dst_ip, port = destination
            if port == LINK_SERVICE_PORT:
                self._link_create(node, ll.Create.decode(payload))
            elif port == NETWORK_SERVICE_PORT or port >= 49152:
                self._to_app(node_of(dst_ip), ll.decode_upward(payload))
            else:
                target = node_of(dst_ip)
                self.sent.append((node, port, payload))
                if not self.lose(node, target, payload):
                    self.queue.append((target, payload, (ip(node), port), port))
        for command in actions.hardware:
            self.hardware.append((node, command))
            if isinstance(command, Discard):
                self._release_slot(node, command.slot)
        self.deadlines[node] = actions.deadline

    def _to_app(self, node: int, message: Any) -> None:
        """An application's message; a kept qubit is read (its true Bell state) and given back at once."""
        self.received[node].append(message)
        if isinstance(message, ll.OkKeep):
            self.delivered[node][message.sequence_number] = (message.bell_state, self.true_bell(node, message.lqid))
            self._release_slot(node, message.lqid)

    def create(self, remote: int = 2, number: int = 1, **fields: Any) -> None:
        """The head's application sends a CREATE."""
        create = ll.Create(remote_node_id=remote, purpose_id=PURPOSE, number=number, **fields)
        self.apply(1, self.engines[1].receive(create.encode(), self.app[1], NETWORK_SERVICE_PORT, self.now))

    def run(self, rng: random.Random | None = None, duplicate: float = 0.0, limit: int = 100_000) -> None:
        """Deliver every queued datagram (in order, or in a random order with duplicates); datagrams to the
        nodes in ``self.held`` wait (in ``self.waiting``) until :meth:`release`."""
        for _ in range(limit):
            while self.queue and self.queue[0][0] in self.held:
                self.waiting.append(self.queue.popleft())
            if not self.queue:
                return
            if rng is not None:
                index = rng.randrange(len(self.queue))
                self.queue.rotate(-index)
            item = self.queue.popleft()
            if rng is not None and rng.random() < duplicate and item[3] != NETWORK_SERVICE_PORT:
                self.queue.append(item)                 # the channel duplicates datagrams, not the link layer OKs
            target, payload, source, port = item
            self.apply(target, self.engines[target].receive(payload, source, port, self.now))
        raise AssertionError("datagrams kept coming")

    def release(self) -> None:
        self.held = set()
        self.queue.extend(self.waiting)
        self.waiting.clear()
        self.run()

    def advance(self, to: int) -> None:
        """Let time pass to ``to``, running every timer due on the way."""
        while True:
            due = [(t, n) for n, t in self.deadlines.items() if t is not None and t <= to]
            if not due:
                break
            at, node = min(due)
            self.now = max(self.now, at)
            self.deadlines[node] = None
            self.apply(node, self.engines[node].on_timer(self.now))
            self.run()
        self.now = to

    # -- the link layer and the medium --------------------------------------------------------------
    def _link_create(self, node: int, create: ll.Create) -> None:
        """The link layer's side of a CREATE: a windowed request opened (ACK), credited or closed (no answer;
        a CLOSE also ends the request at the peer, as the link layer's abort does: ERR TIMEOUT there)."""
        if create.window in (ll.WINDOW_CREDIT, ll.WINDOW_CLOSE):
            request = next((r for r in reversed(self.requests) if r.origin == node and r.peer == create.remote_node_id
                            and r.label == create.purpose_id and not r.closed), None)
            if request is None:
                return
            if create.window == ll.WINDOW_CREDIT:
                request.remaining += create.number
                return
            request.closed, request.remaining = True, 0
            err = ll.Err(request.create_id, ll.ERR_TIMEOUT, origin_node=node)
            self.apply(request.peer, self.engines[request.peer].receive(
                err.encode(), (ip(request.peer), LINK_SERVICE_PORT), NETWORK_SERVICE_PORT, self.now))
            return
        self.create_ids[node] += 1
        create_id = self.create_ids[node]
        self.requests.append(LinkRequest(node, create.remote_node_id, create_id, create.purpose_id, create.number))
        self.apply(node, self.engines[node].receive(ll.Ack(create_id).encode(), (ip(node), LINK_SERVICE_PORT),
                                                    NETWORK_SERVICE_PORT, self.now))

    def open_request(self, hop: int) -> LinkRequest | None:
        a, b = self.route[hop - 1], self.route[hop]
        return next((r for r in self.requests if {r.origin, r.peer} == {a, b} and r.remaining > 0), None)

    def pair(self, hop: int, bell: int = 0, to: tuple[int, ...] | None = None, queued: bool = False) -> int:
        """A link pair on ``hop`` (1..K) for its open request: OK-K at both ends (the master's first; only at
        the nodes ``to`` when given); its sequence number. ``queued``: the OKs join the datagram queue (so a
        shuffled run may deliver them after TRACKs) instead of arriving at once."""
        request = self.open_request(hop)
        assert request is not None, f"no open link request on hop {hop}"
        request.remaining -= 1
        link = self.link_of[frozenset((request.origin, request.peer))]
        seq = self.seq[link]
        self.seq[link] += 1
        pair = Pair(bell)
        self.pairs.append(pair)
        for node in sorted((request.origin, request.peer)):
            slot = self.free[node].pop(0)
            self.slots[(node, slot)] = len(self.pairs) - 1
            pair.members.append((node, slot))
            peer = request.peer if node == request.origin else request.origin
            ok = ll.OkKeep(request.create_id, slot, 0, bell, seq, request.label, peer, 0xFFFF, 0)
            if to is not None and node not in to:
                continue
            if queued:
                self.queue.append((node, ok.encode(), (ip(node), LINK_SERVICE_PORT), NETWORK_SERVICE_PORT))
            else:
                self.apply(node, self.engines[node].receive(ok.encode(), (ip(node), LINK_SERVICE_PORT),
                                                            NETWORK_SERVICE_PORT, self.now))
        if not queued:
            self.run()
        return seq

    def finish(self) -> None:
        """Serve the link requests still open (their pairs are discarded: the circuits are over), answer the
        hardware, and let every timer run out."""
        for _ in range(100):
            for hop in range(1, len(self.route)):
                while self.open_request(hop) is not None:
                    self.pair(hop)
            self.answer()
            if not any(r.remaining for r in self.requests) and not self.hardware:
                break
        self.advance(self.now + 10**11)

    def link_err(self, hop: int, node: int, code: int, seq: int | None = None, create_id: int | None = None) -> None:
        """A link ERR to ``node``'s network layer about the hop's request (EXPIRE of ``seq`` when given)."""
        request = next(r for r in self.requests if self.route[hop - 1] in (r.origin, r.peer)
                       and self.route[hop] in (r.origin, r.peer))
        if seq is not None:
            request = next(r for r in reversed(self.requests)
                           if {r.origin, r.peer} == {self.route[hop - 1], self.route[hop]})
        err = ll.Err(create_id or request.create_id, code, int(seq is not None), seq or 0,
                     0 if seq is None else (seq + 1) & 0xFFFF, request.origin)
        self.apply(node, self.engines[node].receive(err.encode(), (ip(node), LINK_SERVICE_PORT),
                                                    NETWORK_SERVICE_PORT, self.now))
        self.run()

    def _release_slot(self, node: int, slot: int) -> None:
        self.slots.pop((node, slot), None)
        if slot not in self.free[node]:
            self.free[node].append(slot)

    def answer(self, m: int = 0, success: bool = True, outcome: int = 0) -> None:
        """Answer every pending hardware command: Bell measurements with outcome ``m``, measurements with
        ``outcome``."""
        pending, self.hardware = self.hardware, []
        for node, command in pending:
            if isinstance(command, BellMeasure):
                a = self.slots.pop((node, command.slot_a))
                b = self.slots.pop((node, command.slot_b))
                self.free[node] += [command.slot_a, command.slot_b]
                far = [h for h in self.pairs[a].members + self.pairs[b].members if h[0] != node]
                joined = Pair(self.pairs[a].bell ^ self.pairs[b].bell ^ m, far)
                self.pairs.append(joined)
                for half in far:
                    self.slots[half] = len(self.pairs) - 1
                result = BellMeasureResult(command.slot_a, command.slot_b, m if success else 0, success)
                self.apply(node, self.engines[node].handle(result, self.now))
            elif isinstance(command, Measure):
                self.slots.pop((node, command.slot), None)
                self.free[node].append(command.slot)
                self.apply(node, self.engines[node].handle(MeasureResult(command.slot, 0, command.basis, outcome),
                                                           self.now))
        self.run()

    def true_bell(self, node: int, slot: int) -> int:
        return self.pairs[self.slots[(node, slot)]].bell

    def oks(self, node: int) -> list[ll.OkKeep]:
        return [m for m in self.received[node] if isinstance(m, ll.OkKeep)]

    def errs(self, node: int) -> list[ll.Err]:
        return [m for m in self.received[node] if isinstance(m, ll.Err)]

    def settled(self) -> bool:
        return all(engine.settled() for engine in self.engines.values())
