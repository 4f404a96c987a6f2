"""Transport: teleportation of qubits between two applications, sans-IO (QTP, :mod:`protocols.packets.qtp`).

Sender: :meth:`Transport.send` Bell-measures the data qubit with the sender's half of a pair; with the result it
sends DATA (the corrections X^CX Z^CZ = the outcome XOR the pair's Bell index, and the pair's names) to the
receiver's QTP port, and retransmits it every ``retransmit_ns`` until ACK or ERR, or until the deadline
(``ok_time + budget + retransmit_ns``) when it gives up (:class:`Lost` UNANSWERED). Receiver:
:meth:`Transport.expect` registers its half of a pair; DATA for it applies the corrections (two Pauli gates),
answers ACK and delivers the qubit (:class:`Delivered`). A half still waiting at ``ok_time + budget`` (the
memory's deadline, :func:`protocols.transport.model.deadline_budget_ns`) is discarded, and ERR DEADLINE goes
to the sender. DATA that arrives before its pair's OK waits for it until that deadline, then gets ERR NOPAIR.
Answers are remembered, so a retransmitted DATA gets the same answer again. Both ends end every transfer:
delivered or lost, with the code.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any

from protocols.common import Actions, Address, ParseError
from protocols.packets import qtp
from protocols.physical.hardware import BellMeasure, BellMeasureResult, CommandRejected, Discard, Gate
from protocols.transport.transfers import (
    Counters,
    Delivered,
    Incoming,
    Lost,
    Outgoing,
    PairKey,
    PairRef,
    Phase,
    Sent,
)

REMEMBERED = 4096
"""How many answered transfers the receiver remembers (to answer a retransmitted DATA again)."""
LINGER_INTERVALS = 16
"""TIME-WAIT: retransmission intervals a receiver keeps answering after the last DATA it heard for a transfer it
answered (never past the sender's give-up). A sender without its answer retransmits every interval, so it is
left unanswered only if that many DATA copies in a row were lost (0.3**16 ≈ 4e-9 at 30 % loss), as for the
applications' exchanges (:mod:`stack.api.exchange`). Before, the receiver waited for the sender's give-up, the
pair's whole memory budget (10 s with ideal memories)."""


@dataclass(slots=True)
class Transport:
    """One application's transport engine (both roles). ``budget_ns``: how long a receiver's half may wait
    (:func:`protocols.transport.model.deadline_budget_ns` of the receiver's memory)."""

    purpose_id: int
    budget_ns: int
    retransmit_ns: int
    outgoing: dict[int, Outgoing] = field(default_factory=dict)
    incoming: dict[PairKey, Incoming] = field(default_factory=dict)
    early: dict[PairKey, tuple[qtp.Qtp, Address, int]] = field(default_factory=dict)
    answered: OrderedDict[PairKey, qtp.Qtp] = field(default_factory=OrderedDict)
    counters: Counters = field(default_factory=Counters)
    quiet_at: int = 0
    """After this time no sender is still retransmitting a DATA this end has answered, unless the last
    :data:`LINGER_INTERVALS` copies were all lost (see :meth:`quiet`)."""
    _next_seq: int = 1
    _measuring: dict[int, int] = field(default_factory=dict)

    # -- sender -------------------------------------------------------------------------------------
    def send(self, data_slot: int, pair: PairRef, peer: Address, now: int,
             budget_ns: int | None = None) -> tuple[int, Actions]:
        """Start sending the qubit in ``data_slot`` over ``pair`` to the receiver at ``peer`` (its QTP address);
        returns the transfer's sequence number and the Bell measurement to run. ``budget_ns``: the receiver's
        deadline budget, if its memory differs from this node's."""
        seq = self._next_seq
        self._next_seq = self._next_seq % 0xFFFF + 1
        budget = self.budget_ns if budget_ns is None else budget_ns
        if now >= pair.ok_time + budget:         # the receiver has discarded its half: keep the qubit
            self.counters.lost += 1
            lost = Lost(seq, pair.key, qtp.ERR_DEADLINE, f"transfer {seq}: the pair is past the receiver's memory "
                                                         "deadline; the qubit was not sent", kept=True)
            return seq, Actions(up=[lost], hardware=[Discard(pair.slot)], deadline=self.deadline())
        give_up = pair.ok_time + budget + self.retransmit_ns
        self.outgoing[seq] = Outgoing(seq, pair, peer, data_slot, give_up)
        self._measuring[data_slot] = seq
        return seq, Actions(hardware=[BellMeasure(data_slot, pair.slot)], deadline=self.deadline())

    def handle(self, event: Any, now: int) -> Actions:
        """The result of a Bell measurement this engine asked for."""
        if not isinstance(event, BellMeasureResult | CommandRejected):
            raise TypeError(f"transport cannot handle {event!r}")
        seq = self._measuring.pop(event.slot_a if isinstance(event, BellMeasureResult) else event.slot, None)
        if seq is None:
            self.counters.unexpected += 1
            return Actions(deadline=self.deadline())
        out = self.outgoing.get(seq)
        if out is None:             # given up while measuring (the receiver's ERR came first): nothing to send
            return Actions(deadline=self.deadline())
        if isinstance(event, CommandRejected) or not event.success:
            why = event.reason if isinstance(event, CommandRejected) else "the Bell measurement failed"
            return self._give_up(out, qtp.ERR_BSM, f"transfer {seq}: {why}")
        correction = event.bell_index ^ out.pair.bell_state
        p = out.pair
        out.message = qtp.Qtp(qtp.TYPE_DATA, self.purpose_id, seq, p.create_id, p.sequence_number, p.origin_node,
                              cx=correction & 1, cz=correction >> 1)
        out.to(Phase.SENT)
        out.next_at = now + self.retransmit_ns
        self.counters.sent += 1
        return Actions(send=[(out.peer, out.message.encode())], deadline=self.deadline())

    def _give_up(self, out: Outgoing, code: int, reason: str) -> Actions:
        out.to(Phase.DONE)
        del self.outgoing[out.transfer_seq]
        self.counters.lost += 1
        return Actions(up=[Lost(out.transfer_seq, out.pair.key, code, reason)], deadline=self.deadline())

    # -- receiver -----------------------------------------------------------------------------------
    def expect(self, pair: PairRef, peer: Address, now: int) -> Actions:
        """This end holds ``pair``'s half for a qubit the application at ``peer`` will send."""
        self.incoming[pair.key] = Incoming(pair, peer, pair.ok_time + self.budget_ns)
        early = self.early.pop(pair.key, None)
        if early is not None:
            return self._data(early[0], early[1], now)
        return Actions(deadline=self.deadline())

    def expired(self, key: PairKey, now: int) -> Actions:
        """The layer reported pair ``key`` expired (ERR EXPIRE): it carries no qubit. A transfer over it is lost
        at the sender (NOPAIR); at the receiver, a half waiting for it is discarded (Lost NOPAIR), and DATA for
        it is answered ERR NOPAIR, now and when it comes."""
        actions = Actions()
        out = next((o for o in self.outgoing.values() if o.pair.key == key and o.phase is Phase.SENT), None)
        if out is not None:
            actions.extend(self._give_up(out, qtp.ERR_NOPAIR, f"transfer {out.transfer_seq}: the layer reported "
                                                              "its pair expired"))
        if key in self.answered:
            return actions
        err = qtp.Qtp(qtp.TYPE_ERR, self.purpose_id, 0, key[1], key[2], key[0], error=qtp.ERR_NOPAIR)
        inc = self.incoming.pop(key, None)
        if inc is not None:                   # waiting for corrections over a pair that is gone: give it up
            self.counters.lost += 1
            actions.hardware.append(Discard(inc.pair.slot))
            actions.up.append(Lost(0, key, qtp.ERR_NOPAIR, f"pair {key}: the layer reported it expired"))
        early = self.early.pop(key, None)
        if early is not None:
            err = replace(err, transfer_seq=early[0].transfer_seq)
            actions.send.append((early[1], err.encode()))
        self._remember(key, err)
        actions.deadline = self.deadline()
        return actions

    def quiet(self, now: int) -> bool:
        """Nothing left to do or to answer: no transfer open, no half waiting, and no sender still retransmitting
        a DATA this end answered (an answer can be lost; the host keeps serving QTP until then, like TCP's
        TIME-WAIT: :data:`LINGER_INTERVALS` intervals after the last DATA heard)."""
        return not self.outgoing and not self.incoming and not self.early and now >= self.quiet_at

    def held_slots(self) -> set[int]:
        return {inc.pair.slot for inc in self.incoming.values()}

    # -- both ---------------------------------------------------------------------------------------
    def receive(self, payload: bytes, source: Address, port: int, now: int) -> Actions:
        try:
            message = qtp.Qtp.decode(payload)
        except ParseError:
            self.counters.malformed += 1
            return Actions(deadline=self.deadline())
        if message.purpose_id != self.purpose_id:
            self.counters.unexpected += 1
            return Actions(deadline=self.deadline())
        if message.type == qtp.TYPE_DATA:
            return self._data(message, source, now)
        out = self.outgoing.get(message.transfer_seq)
        if out is None and message.transfer_seq == 0:          # ERR DEADLINE before any DATA
            out = next((o for o in self.outgoing.values() if o.pair.key == message.pair), None)
        if out is None or out.pair.key != message.pair or out.peer[0] != source[0]:
            self.counters.unexpected += 1
            return Actions(deadline=self.deadline())
        if message.type == qtp.TYPE_ERR:
            return self._give_up(out, message.error, f"transfer {out.transfer_seq}: the receiver answered "
                                                     f"ERR {qtp.ERROR_CODES[message.error]}")
        if out.phase is not Phase.SENT:
            self.counters.unexpected += 1
            return Actions(deadline=self.deadline())
        out.to(Phase.DONE)
        del self.outgoing[out.transfer_seq]
        return Actions(up=[Sent(out.transfer_seq, out.pair.key)], deadline=self.deadline())

    def _data(self, message: qtp.Qtp, source: Address, now: int) -> Actions:
        key = message.pair
        if key in self.answered:
            answer = self.answered[key]
            self.quiet_at = max(self.quiet_at, now + LINGER_INTERVALS * self.retransmit_ns)   # still resending
            return Actions(send=[(source, answer.encode())], deadline=self.deadline())
        inc = self.incoming.get(key)
        if inc is None or inc.peer[0] != source[0]:
            if len(self.early) < 1024 and key not in self.early:
                self.early[key] = (message, source, now + self.budget_ns)
            return Actions(deadline=self.deadline())
        del self.incoming[key]
        self.quiet_at = max(self.quiet_at, min(inc.deadline + 2 * self.retransmit_ns,
                                               now + LINGER_INTERVALS * self.retransmit_ns))
        slot = inc.pair.slot
        gates = [Gate(name, (slot,)) for name, bit in (("X", message.cx), ("Z", message.cz)) if bit]
        ack = qtp.Qtp(qtp.TYPE_ACK, self.purpose_id, message.transfer_seq, *key[1:], key[0])
        self._remember(key, ack)
        self.counters.delivered += 1
        return Actions(send=[(source, ack.encode())], hardware=gates,
                       up=[Delivered(message.transfer_seq, slot, key)], deadline=self.deadline())

    def _remember(self, key: PairKey, answer: qtp.Qtp) -> None:
        self.answered[key] = answer
        while len(self.answered) > REMEMBERED:
            self.answered.popitem(last=False)

    def on_timer(self, now: int) -> Actions:
        actions = Actions()
        for out in [o for o in self.outgoing.values() if o.phase is Phase.SENT]:
            if now >= out.give_up_at:
                actions.extend(self._give_up(out, qtp.ERR_UNANSWERED, f"transfer {out.transfer_seq}: no answer "
                                                                      "from the receiver before the deadline"))
            elif out.next_at is not None and now >= out.next_at and out.message is not None:
                attempt = min(out.message.attempt + 1, 0xFF)
                out.message = replace(out.message, attempt=attempt)
                out.next_at = now + self.retransmit_ns
                self.counters.retransmitted += 1
                actions.send.append((out.peer, out.message.encode()))
        for key, inc in [(k, i) for k, i in self.incoming.items() if now >= i.deadline]:
            del self.incoming[key]
            err = qtp.Qtp(qtp.TYPE_ERR, self.purpose_id, 0, key[1], key[2], key[0], error=qtp.ERR_DEADLINE)
            self._remember(key, err)
            self.quiet_at = max(self.quiet_at, now + 2 * self.retransmit_ns)
            self.counters.lost += 1
            actions.hardware.append(Discard(inc.pair.slot))
            actions.send.append((inc.peer, err.encode()))
            actions.up.append(Lost(0, key, qtp.ERR_DEADLINE, f"pair {key}: no corrections before the memory's "
                                                             "deadline; the half was discarded"))
        for key, (message, source, until) in list(self.early.items()):
            if now >= until:
                del self.early[key]
                err = qtp.Qtp(qtp.TYPE_ERR, self.purpose_id, message.transfer_seq, key[1], key[2], key[0],
                              error=qtp.ERR_NOPAIR)
                actions.send.append((source, err.encode()))
        actions.deadline = self.deadline()
        return actions

    def deadline(self) -> int | None:
        times = [i.deadline for i in self.incoming.values()] if self.incoming else []
        for o in self.outgoing.values():
            if o.next_at is not None:
                times.append(o.next_at)
            if o.phase is Phase.SENT:
                times.append(o.give_up_at)
        if self.early:
            times += [until for _, _, until in self.early.values()]
        return min(times) if times else None

