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

A CONFIRM's first passage also keeps the pair's swap record here :func:`poison_wait_ns` longer (a give-up's
poison follows it; :mod:`protocols.network.swap_records`).

A relay forgets the answer for pair n :func:`confirm_lifetime_ns` after it first heard of n, when no copy of
CONFIRM(n) can still come (:mod:`protocols.network.pair_records`); a copy of a pair it forgot, or one that
comes after that bound for a pair it never heard of, is counted (``late_confirms``) and dropped: its sender
no longer waits for an answer, and passing it on would start a new series of tries towards the head.
"""

from __future__ import annotations

from collections.abc import Callable

from protocols.common import QNCP_PORT, Actions, sending
from protocols.network.circuit import Circuit
from protocols.network.context import LINK_RESOLUTION_CONFIRMS, Node, rto_between
from protocols.network.pair_records import PairRecords
from protocols.network.types import LEFT, RIGHT, SWAPPED, Handle
from protocols.packets import linkservice as ll
from protocols.packets.qncp import Confirm
from protocols.packets.qncp_common import CONFIRM, CONFIRM_ACK, REASON_UNKNOWN


def confirm_retries(node: Node, circuit: Circuit) -> int:
    """How often a node retransmits a CONFIRM towards the head: twice the reliable retries (an answer needs
    a round trip) for each hop between it and the head (its answer comes from there)."""
    return 2 * node.config.reliable_retries * max(1, circuit.index)


def confirm_interval(node: Node, circuit: Circuit) -> int:
    """The retransmission interval of a CONFIRM towards the head: the circuit's end-to-end one, once set, else
    this node's RTO to the head."""
    return circuit.e2e_rto_ns or node.rto(circuit.head)


def confirm_lifetime_ns(node: Node, circuit: Circuit) -> int:
    """How long after the tail numbered pair n a copy of CONFIRM(n) may still reach this node: for each node k
    between this one (excluded) and the tail, its tries ((2 · reliable retries · k) + 1 intervals of its RTO to
    the head: the first send, the retransmissions, the wait before it gives up) and one RTO over its hop to
    node k − 1 (more than the hop's one-way delay and jitter). Node k starts no later than its right
    neighbour's last copy arrives, so the sum bounds the whole route's relay of CONFIRM(n)."""
    topology, route, head = node.topology, circuit.route, circuit.head

    def rto(a: int, b: int) -> int:
        return rto_between(topology, a, b)

    total = 0
    for k in range(circuit.index + 1, len(route)):
        tries = 2 * node.config.reliable_retries * max(1, k)
        total += (tries + 1) * rto(route[k], head) + rto(route[k], route[k - 1])
    return total


def poison_wait_ns(node: Node, circuit: Circuit) -> int:
    """How long after the first CONFIRM of pair n passes this repeater the tail's poison of n (a give-up) may
    still reach it: the tail's tries from its first CONFIRM(n), sent before this passage ((2 · R · K) + 1
    intervals of its RTO to the head: the first send, the retransmissions, the wait before it gives up; a relay's
    UNKNOWN answer comes no later, or is not taken), then, for each hop between the tail and this node, an
    EXPIRE's tries (R + 1 RTOs of the hop: the first copy, R retransmissions, the last one's way, under one RTO)."""
    topology, route = node.topology, circuit.route
    retries = node.config.reliable_retries

    def rto(a: int, b: int) -> int:
        return rto_between(topology, a, b)

    tail = len(route) - 1
    total = (2 * retries * max(1, tail) + 1) * rto(route[tail], circuit.head)
    for k in range(circuit.index + 1, len(route)):
        total += (retries + 1) * rto(route[k], route[k - 1])
    return total


def delivered_linger_ns(node: Node, circuit: Circuit) -> int:
    """How long an end keeps a delivered half, final, for the messages that may still name it (docs/architecture.md,
    "Delivered halves at the ends"): at the head from its answer to the pair's CONFIRM, at the tail from settling
    the pair. Any poison of the pair left its origin by τ_n (the tail numbering it) + a retraction's span
    (:data:`~protocols.network.context.LINK_RESOLUTION_CONFIRMS` of the route's longest confirm timeout), then
    crosses each hop within R + 1 of its RTOs; at the head the tail's give-up's poison comes by τ_n +
    :func:`poison_wait_ns`; and never less than the circuit's linger (a TRACK's copies at the tail)."""
    topology, route = node.topology, circuit.route
    retries = node.config.reliable_retries
    journey, confirm = 0, 0
    for k in range(1, len(route)):
        journey += (retries + 1) * rto_between(topology, route[k], route[k - 1])
        link = topology.link_between(route[k], route[k - 1])
        confirm = max(confirm, 0 if link is None else link.confirm_timeout_ns)
    longest = max(circuit.linger_ns, LINK_RESOLUTION_CONFIRMS * confirm + journey)
    return max(longest, poison_wait_ns(node, circuit)) if circuit.is_head else longest


def send_confirm(node: Node, circuit: Circuit, message: Confirm, now: int) -> Actions:
    """Send ``message`` (a CONFIRM) to the next node towards the head, retransmitted until answered."""
    key = ("confirm", circuit.handle, message.e2e_seq)
    return node.reliable(key, circuit.hop(LEFT).peer, QNCP_PORT, message.encode(), now,
                         confirm_retries(node, circuit), interval=confirm_interval(node, circuit))


class Relayed(PairRecords[Confirm]):
    """One circuit's records at a repeater (:class:`PairRecords` of the answers) and what its relay of a CONFIRM
    or an answer needs that is fixed for the circuit (reckoned once, at its first CONFIRM, not once a pair): the
    left neighbour's QNCP address, the right neighbour's, the CONFIRM's retries and retransmission interval, and
    how long a swap record is kept once its pair's CONFIRM passed (:func:`poison_wait_ns`)."""

    __slots__ = ("interval", "poison_ns", "retries", "to_head", "to_tail")

    def __init__(self, node: Node, circuit: Circuit) -> None:
        super().__init__(confirm_lifetime_ns(node, circuit))
        self.to_head = node.qncp(circuit.hop(LEFT).peer)
        self.to_tail = node.qncp(circuit.hop(RIGHT).peer)
        self.retries = confirm_retries(node, circuit)
        self.interval = confirm_interval(node, circuit)
        self.poison_ns = poison_wait_ns(node, circuit)


class Relay:
    """The CONFIRMs a repeater passes on towards the head, and their answers back towards the tail."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.on_failed: Callable[[Circuit], None] = lambda circuit: None
        """An answer passed on towards the tail (or this relay's own, on giving up) is EXPIRE: the pair, numbered,
        has failed (the hops' pipeline cap counts it as ended)."""
        self.answers: dict[Handle, Relayed] = {}
        """Per circuit, per pair: the answer passed back, or the CONFIRM while it is on its way to the head
        (forgotten :func:`confirm_lifetime_ns` after the pair's first CONFIRM came)."""

    def forget(self, circuit: Circuit) -> None:
        self.answers.pop(circuit.handle, None)

    def on_confirm(self, circuit: Circuit, message: Confirm, now: int, data: bytes | None = None) -> Actions:
        """A CONFIRM from the right neighbour: pass it on once, answer copies once the answer is here. ``data``:
        the bytes it came as, passed on as they are when they are ``message.encode()`` (:func:`relayable`)."""
        answers = self.answers.get(circuit.handle)
        if answers is None:                 # (not `or`: empty records are false)
            answers = self._answers(circuit)
        made = answers.made
        if made and made[0][0] <= now - answers.keep_ns:     # (forget's own test, before calling it)
            answers.forget(now, _on_its_way)
        n = message.e2e_seq
        answer = answers.values.get(n)
        if answer is not None:
            if answer.msg_type == CONFIRM:
                return Actions()
            return Actions(send=[(answers.to_tail, answer.encode())])
        if n < answers.floor:               # (answers.late(n): n is not among the values)
            self.node.counters.late_confirms += 1
            return Actions()
        answers.put(n, message, now)
        self._keep_swap_record(circuit, message.head_pair_seq, answers.poison_ns, now)
        if data is None or data[19] or data[22] or data[23]:    # (not relayable(data), written out)
            data = message.encode()
        return self.node.outbox.send(("confirm", circuit.handle, n), answers.to_head, data,
                                     answers.interval, answers.retries, now)

    def on_confirm_ack(self, circuit: Circuit, message: Confirm, now: int, data: bytes | None = None) -> Actions:
        """The left neighbour answered: back towards the tail (and to every later copy). ``data``: as
        :meth:`on_confirm`'s."""
        n = message.e2e_seq
        if not self.node.outbox.ack(("confirm", circuit.handle, n)):
            return Actions()
        if message.status == ll.ERR_EXPIRE:
            self.on_failed(circuit)
        answers = self.answers.get(circuit.handle)
        if answers is None:                 # (not `or`: empty records are false)
            answers = self._answers(circuit)
        answers.put(n, message, now)
        if data is None or data[19] or data[22] or data[23]:    # (not relayable(data), written out)
            data = message.encode()
        return sending([(answers.to_tail, data)])

    def _keep_swap_record(self, circuit: Circuit, pair_id: int, wait_ns: int, now: int) -> None:
        """The first CONFIRM of the pair whose TRACK had Pair ID ``pair_id`` passes: its swap record here (both
        halves) is kept at least ``wait_ns`` from now, for a give-up's poison to follow."""
        node = self.node
        left_key = node.swaps.pop(circuit.handle, pair_id)
        left = None if left_key is None else node.halves.get(left_key)
        if left is None or left.state is not SWAPPED or left.partner is None:
            return                          # (dead: its poison went both ways already)
        until = now + wait_ns
        for half in (left, node.halves.get(left.partner)):
            if half is not None and half.state is SWAPPED and (half.forget_at is None or half.forget_at < until):
                node.linger(half, circuit, now, wait_ns)

    def kept_until(self, circuit: Circuit) -> int:
        """Until when ``circuit``, closed, must still be known here (0: no CONFIRM passed): while the swap record
        of the last pair whose CONFIRM passed is kept for a give-up's poison (``poison_ns``; the copies of that
        CONFIRM, answered from ``answers``, come within it on a route whose tail is the node farthest from the
        head, docs/architecture.md, "Swap records and the tail's give-up")."""
        answers = self.answers.get(circuit.handle)
        if answers is None or not answers.made:
            return 0
        return answers.made[-1][0] + answers.poison_ns

    def _answers(self, circuit: Circuit) -> Relayed:
        """``circuit``'s records, made at its first CONFIRM (not setdefault: no new records a CONFIRM)."""
        answers = self.answers[circuit.handle] = Relayed(self.node, circuit)
        return answers

    def gave_up(self, circuit: Circuit, n: int, now: int) -> Actions:
        """No answer from the left after every try: the head's fate of pair n is unknown here."""
        answers = self.answers.get(circuit.handle)
        sent = None if answers is None else answers.get(n)
        if answers is None or sent is None or sent.msg_type != CONFIRM:
            return Actions()
        answer = Confirm(CONFIRM_ACK, sent.circuit_id, sent.head_node, n, sent.head_pair_seq, sent.tail_pair_seq,
                         sent.bell_state, sent.goodness, status=ll.ERR_EXPIRE, reason=REASON_UNKNOWN)
        answers.put(n, answer, now)
        self.on_failed(circuit)
        return Actions(send=[(answers.to_tail, answer.encode())])


def relayable(data: bytes) -> bool:
    """Whether a CONFIRM or CONFIRM_ACK's bytes, as :func:`protocols.packets.qncp.decode_confirm` accepts them, are
    exactly their message's encoding, so a relay may pass them on as they came: its three Reserved bytes are 0
    (the decoder checks Version and Length and keeps every other byte as a field the encoder writes back)."""
    return not (data[19] or data[22] or data[23])


def _on_its_way(record: Confirm) -> bool:
    """A CONFIRM still retransmitted towards the head (its answer, or this node's give-up, is to come)."""
    return record.msg_type == CONFIRM
