"""Network layer: CONFIRM relayed hop by hop (network-design §4.6; docs/wire.md §9.3.6).

The tail's CONFIRM(n) does not go straight to the head: it goes to the tail's neighbour on the circuit,
which passes it on towards the head, and so on; the head's CONFIRM_ACK retraces the route. Each node
retransmits the CONFIRM it sent to its left neighbour (every end-to-end retransmission interval, so a
lossless chain sends each once) until that neighbour answers with CONFIRM_ACK, and answers every copy
of a CONFIRM it has an answer for; a copy that comes while its own is still on its way is ignored. So a
message crosses one hop at a time, and a hop's loss costs retransmissions over that hop only: at 40 %
loss per fibre a hop's round trip gets through 13 % of the time where the whole route's gets through
0.03 %.

A relay that gets no answer after all its tries answers CONFIRM_ACK EXPIRE with Reason UNKNOWN: it does
not know whether the head delivered the pair, so the tail reports the pair expired and poisons its half,
which reaches the head through the swap records (:meth:`protocols.network.endpoint.EndPoint.confirm_gave_up`).
"""

from __future__ import annotations

from protocols.common import QNCP_PORT, Actions
from protocols.network.circuit import Circuit
from protocols.network.context import Node
from protocols.network.types import LEFT, RIGHT, Handle
from protocols.packets import linkservice as ll
from protocols.packets.qncp import Confirm
from protocols.packets.qncp_common import CONFIRM, CONFIRM_ACK, REASON_UNKNOWN


def confirm_retries(node: Node, circuit: Circuit) -> int:
    """How often a node retransmits a CONFIRM towards the head: twice the reliable retries (an answer needs
    a round trip) for each hop between it and the head (its answer comes from there)."""
    return 2 * node.config.reliable_retries * max(1, circuit.index)


def send_confirm(node: Node, circuit: Circuit, message: Confirm, now: int) -> Actions:
    """Send ``message`` (a CONFIRM) to the next node towards the head, retransmitted until answered."""
    key = ("confirm", circuit.handle, message.e2e_seq)
    interval = circuit.e2e_rto_ns or node.rto(circuit.head)
    return node.reliable(key, circuit.hop(LEFT).peer, QNCP_PORT, message.encode(), now,
                         confirm_retries(node, circuit), interval=interval)


class Relay:
    """The CONFIRMs a repeater passes on towards the head, and their answers back towards the tail."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.answers: dict[Handle, dict[int, Confirm]] = {}
        """Per circuit, per pair: the answer passed back, or the CONFIRM while it is on its way to the head."""

    def forget(self, circuit: Circuit) -> None:
        self.answers.pop(circuit.handle, None)

    def on_confirm(self, circuit: Circuit, message: Confirm, now: int) -> Actions:
        """A CONFIRM from the right neighbour: pass it on once, answer copies once the answer is here."""
        answers = self._answers(circuit)
        n = message.e2e_seq
        if n in answers:
            answer = answers[n]
            return Actions() if answer.msg_type == CONFIRM else self._back(circuit, answer)
        answers[n] = message
        return send_confirm(self.node, circuit, message, now)

    def on_confirm_ack(self, circuit: Circuit, message: Confirm) -> Actions:
        """The left neighbour answered: back towards the tail (and to every later copy)."""
        if not self.node.outbox.ack(("confirm", circuit.handle, message.e2e_seq)):
            return Actions()
        self._answers(circuit)[message.e2e_seq] = message
        return self._back(circuit, message)

    def _answers(self, circuit: Circuit) -> dict[int, Confirm]:
        answers = self.answers.get(circuit.handle)
        if answers is None:                 # (not setdefault: no new dict a CONFIRM)
            answers = self.answers[circuit.handle] = {}
        return answers

    def gave_up(self, circuit: Circuit, n: int) -> Actions:
        """No answer from the left after every try: the head's fate of pair n is unknown here."""
        answers = self.answers.get(circuit.handle, {})
        sent = answers.get(n)
        if sent is None or sent.msg_type != CONFIRM:
            return Actions()
        answer = Confirm(CONFIRM_ACK, sent.circuit_id, sent.head_node, n, sent.head_pair_seq, sent.tail_pair_seq,
                         sent.bell_state, sent.goodness, status=ll.ERR_EXPIRE, reason=REASON_UNKNOWN)
        answers[n] = answer
        return self._back(circuit, answer)

    def _back(self, circuit: Circuit, answer: Confirm) -> Actions:
        return Actions(send=[(self.node.qncp(circuit.hop(RIGHT).peer), answer.encode())])
