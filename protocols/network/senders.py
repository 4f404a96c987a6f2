"""Network layer: who may send each message about a circuit (as the link layer checks its peer).

Hop messages come from the neighbour on the hop they name: SETUP from the previous node of its route,
SETUP_REPLY and SETUP_ACK from the next one, SETUP_REPLY_ACK from the previous one; TRACK from the left
neighbour, TRACK_ACK from the right one; EXPIRE, EXPIRE_ACK, CREDIT, CREDIT_ACK, DISTIL and DISTIL_ACK from
the neighbour on the link they name, except that an end-to-end DISTIL and its DISTIL_ACK come from the other end
of the route (only the ends take part). CONFIRM comes from the right neighbour and CONFIRM_ACK from the left
one (they are relayed hop by hop). COMPLETE, TEARDOWN and their ACKs come from a node of the route, the one
their Sender Node names. A message about a circuit this node does not know is left to its handler (which
answers a late duplicate or ignores it); any other from the wrong node is dropped and counted
(``wrong_sender``).
"""

from __future__ import annotations

from protocols.network.circuit import Circuit
from protocols.network.context import Node
from protocols.network.types import LEFT, RIGHT
from protocols.packets.qncp import CircuitEnd, Confirm, Distil, HopAck, PairMessage, QncpMessage, Setup, SetupReply
from protocols.packets.qncp_common import CONFIRM, SCOPE_END_TO_END, SETUP_ACK
from protocols.packets.qnp import TrackFrame


def peer(circuit: Circuit, side: int | None) -> int | None:
    """The neighbour on ``circuit``'s hop ``side`` here (None: no such hop)."""
    hop = None if side is None else circuit.hops[side]
    return None if hop is None else hop.peer


def expected(circuit: Circuit, message: QncpMessage) -> int | None:
    """The node ``message`` about ``circuit`` must come from (None: none may send it to this node). The rule's
    home; :meth:`protocols.network.inbox.Inbox.receive` writes out its PairMessage and Confirm cases on the
    per-pair path (a call there costs more than noise)."""
    if isinstance(message, PairMessage):            # the commonest first (the classes are disjoint)
        return circuit.peers.get(message.link_id)
    if isinstance(message, SetupReply):
        return peer(circuit, RIGHT)
    if isinstance(message, HopAck):
        return peer(circuit, RIGHT if message.msg_type == SETUP_ACK else LEFT)
    if isinstance(message, Confirm):
        return peer(circuit, RIGHT if message.msg_type == CONFIRM else LEFT)
    if isinstance(message, Distil) and message.scope == SCOPE_END_TO_END:
        return circuit.tail if circuit.is_head else circuit.head if circuit.is_tail else None
    if isinstance(message, Distil):
        return peer(circuit, circuit.side_of(message.link_id))
    return None


def qncp_from_expected(node: Node, message: QncpMessage, sender: int) -> bool:
    """Whether ``sender`` may send ``message`` to this node."""
    if isinstance(message, Setup):
        index = message.hop_index
        return message.route[index] != node.node_id or message.route[index - 1] == sender
    if isinstance(message, CircuitEnd):
        circuit = node.circuits.get((message.head_node, message.circuit_id))
        return message.sender_node == sender and (circuit is None or sender in circuit.route)
    circuit = node.circuits.get((message.head_node, message.circuit_id))
    return circuit is None or expected(circuit, message) == sender


def track_from_expected(node: Node, frame: TrackFrame, sender: int) -> bool:
    """Whether ``sender`` may send this TRACK: the left neighbour of the circuit it names."""
    handle = node.circuits.by_id.get(frame.circuit_id)
    circuit = None if handle is None else node.circuits.get(handle)
    return circuit is None or peer(circuit, LEFT) == sender
