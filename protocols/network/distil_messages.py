"""Network layer: DISTIL and DISTIL_ACK (docs/wire.md §9.3.8) as the two distillers send them.

A hop's rounds (:mod:`protocols.network.distiller`, :class:`HopMessages`) name their pairs by link id and
sequence number (Scope HOP) and go to the hop's peer; the ends' rounds (:mod:`protocols.network.end_distiller`,
:class:`EndMessages`) name them by Pair ID (Scope END_TO_END), cross the whole circuit, and carry in the Outcome
byte, besides the outcome, the keep parity and the survivor's Bell state the tail announced. The initiator's
DISTIL is retransmitted until its DISTIL_ACK comes (the node's outbox, key ``("distil", *round)`` or
``("distil-e2e", *round)``); the responder keeps the DISTIL_ACK it sent for a retransmitted DISTIL.
"""

from __future__ import annotations

from dataclasses import replace

from protocols.common import QNCP_PORT, Actions
from protocols.network.circuit import Circuit
from protocols.network.context import Node
from protocols.network.distil_state import Round
from protocols.network.types import Handle
from protocols.packets import linkservice as ll
from protocols.packets.qncp import Distil
from protocols.packets.qncp_common import DISTIL, DISTIL_ACK, SCOPE_END_TO_END, SCOPE_HOP, STATUS_OK

HopRound = tuple[Handle, int, int, int]
"""A hop's round: (circuit, link id, kept pair sequence, sacrificed pair sequence)."""
EndRound = tuple[Handle, int, int]
"""An end-to-end round: (circuit, kept pair's Pair ID, sacrificed pair's Pair ID)."""


def repeated(node: Node, found: Round, sender: int) -> Actions:
    """A retransmitted DISTIL: the same DISTIL_ACK again (none yet while this end's Distill is under way)."""
    return Actions(send=[(node.qncp(sender), found.answer)]) if found.answer else Actions()


def expired(node: Node, message: Distil, sender: int) -> Actions:
    """DISTIL_ACK with Status EXPIRE: this end does not hold the pairs ``message`` names."""
    ack = replace(message, msg_type=DISTIL_ACK, status=ll.ERR_EXPIRE)
    return Actions(send=[(node.qncp(sender), ack.encode())])


class HopMessages:
    """DISTIL and DISTIL_ACK of one node's hop rounds."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def encode(self, kind: int, circuit: Circuit, key: HopRound, found: Round, outcome: int,
               status: int = STATUS_OK) -> bytes:
        rule = circuit.hop(self.node.half(found.kept).side).distil  # type: ignore[union-attr]
        assert rule is not None
        hop = circuit.hop(circuit.side_of(key[1]) or 0)
        return Distil(kind, circuit.handle[1], circuit.head, hop.label, key[2], key[1], SCOPE_HOP, int(rule.protocol),
                      key[3], found.level, outcome, status).encode()

    def send(self, circuit: Circuit, key: HopRound, found: Round, now: int) -> Actions:
        """The initiator's DISTIL with its outcome, to the hop's peer until DISTIL_ACK."""
        message = self.encode(DISTIL, circuit, key, found, found.outcome)
        peer = circuit.hop(circuit.side_of(key[1]) or 0).peer
        return self.node.reliable(("distil", *key), peer, QNCP_PORT, message, now)

    def answer(self, circuit: Circuit, key: HopRound, found: Round, outcome: int, status: int) -> Actions:
        """The responder's DISTIL_ACK (kept in ``found`` for a retransmitted DISTIL)."""
        hop = circuit.hop(circuit.side_of(key[1]) or 0)
        message = self.encode(DISTIL_ACK, circuit, key, found, outcome, status)
        found.answer = message
        return Actions(send=[(self.node.qncp(hop.peer), message)])

    def acked(self, key: HopRound) -> bool:
        """Whether a DISTIL_ACK for round ``key`` answers a DISTIL still retransmitted (it no longer is)."""
        return self.node.outbox.ack(("distil", *key))


class EndMessages:
    """DISTIL and DISTIL_ACK of one node's end-to-end rounds, and the Outcome bits each round announces."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.announced: dict[EndRound, tuple[int, int]] = {}
        """Each round's (keep parity, survivor Bell state): the END_TO_END Outcome fields besides the outcome."""

    def announce(self, key: EndRound, parity: int, survivor: int) -> None:
        self.announced[key] = (parity, survivor)

    def forget(self, key: EndRound) -> None:
        self.announced.pop(key, None)

    def encode(self, kind: int, circuit: Circuit, key: EndRound, found: Round, outcome: int,
               status: int = STATUS_OK) -> bytes:
        rule = circuit.end_distil
        assert rule is not None
        link_id, label = circuit.first_link
        parity, survivor = self.announced.get(key, (0, 0))
        return Distil(kind, circuit.handle[1], circuit.head, label, key[1], link_id, SCOPE_END_TO_END,
                      int(rule.protocol), key[2], found.level, outcome, status, keep_parity=parity,
                      survivor=survivor).encode()

    def send(self, circuit: Circuit, key: EndRound, found: Round, now: int) -> Actions:
        """The tail's DISTIL with its outcome, across the circuit to the head until DISTIL_ACK."""
        message = self.encode(DISTIL, circuit, key, found, found.outcome)
        return self.node.reliable(("distil-e2e", *key), circuit.head, QNCP_PORT, message, now,
                                  hops=len(circuit.route) - 1)

    def answer(self, circuit: Circuit, key: EndRound, found: Round, outcome: int, status: int) -> Actions:
        """The head's DISTIL_ACK (kept in ``found`` for a retransmitted DISTIL)."""
        message = self.encode(DISTIL_ACK, circuit, key, found, outcome, status)
        found.answer = message
        return Actions(send=[(self.node.qncp(circuit.tail), message)])

    def acked(self, key: EndRound) -> bool:
        """Whether a DISTIL_ACK for round ``key`` answers a DISTIL still retransmitted (it no longer is)."""
        return self.node.outbox.ack(("distil-e2e", *key))
