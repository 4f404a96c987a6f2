"""Network layer: each end's ERR EXPIRE reports of its circuit's end-to-end pairs (docs/architecture.md,
"Bounded reports").

An end reports pair n expired at most once, whichever paths learn of it, and keeps no per-pair set for the
circuit's life. The paths: at the tail, a CONFIRM_ACK EXPIRE or the give-up of CONFIRM(n) (exclusive, each
once, before n is settled) and the poison of its delivered half; at the head, its first answer to CONFIRM(n)
when its half is gone, the poison of its delivered half, and the pairs it never heard of (once no CONFIRM of
theirs can be answered, or at COMPLETE). A poison reports n only through the delivered half, which dies once;
a half whose pair another path reported is detached from it (``e2e`` None). The tail keeps the pairs a poison
reported before they were settled (``EndState.retracted``); the head asks its ``reported`` pairs
(:class:`protocols.network.end_state.Reported`), whose mark follows its ``answered`` floor. Here too: the head's
``answered`` records of its CONFIRMs (:meth:`EndReports.heard`), and whether a delivered half is over
(:meth:`EndReports.over`, ``EndPoint.over``).
"""

from __future__ import annotations

from collections.abc import Callable

from protocols.common import Actions
from protocols.network.circuit import Circuit
from protocols.network.context import Node
from protocols.network.end_state import EndState
from protocols.network.pair_records import PairRecords
from protocols.network.relay import confirm_lifetime_ns, delivered_linger_ns, poison_wait_ns
from protocols.network.service import Service
from protocols.network.types import Half, Handle


class EndReports:
    """The ERR EXPIREs of the ends of one node's circuits."""

    def __init__(self, node: Node, service: Service, state: Callable[[Circuit], EndState],
                 states: dict[Handle, EndState]) -> None:
        self.node = node
        self.service = service
        self.state = state
        """The end's bookkeeping of a circuit (:meth:`protocols.network.endpoint.EndPoint.state`)."""
        self.states = states
        """Those bookkeepings by circuit (``EndPoint.states``, read here without adding one)."""

    def over(self, half: Half) -> bool:
        """Whether ``half``, delivered at this end, is over: nothing of this end's still needs it, so a new link OK
        for its key (the 16-bit link sequence came round) may take the key. The tail's half of a pair not yet
        settled is not over (a give-up of its CONFIRM poisons it); every other delivered half is: the head's, and
        the tail's once settled. (Such a half lingers, :meth:`linger`; a poison for its pair still on its way after a
        new pair took its key would find the new half: docs/architecture.md, "Known limits".)"""
        state = self.states.get(half.circuit)
        n = half.e2e
        return state is None or n is None or state.delivered.get(n) != half.key

    def linger(self, circuit: Circuit, state: EndState, half: Half, now: int) -> None:
        """``half``, delivered here, is over (the head's at its answer, the tail's at its pair's settling): forgotten
        once no message naming it can come (:func:`protocols.network.relay.delivered_linger_ns`). Its qubit is the
        application's: forgetting it frees none."""
        linger = state.linger_ns
        if not linger:
            linger = state.linger_ns = delivered_linger_ns(self.node, circuit)
        self.node.linger(half, circuit, now, linger)

    def answered(self, state: EndState, circuit: Circuit) -> PairRecords[int]:
        """The head's answers to the CONFIRMs of ``circuit``'s pairs (``state``, its bookkeeping, keeps them), kept
        while a copy can arrive."""
        if state.answered is None:
            state.answered = PairRecords(confirm_lifetime_ns(self.node, circuit))
        return state.answered

    def kept_until(self, circuit: Circuit) -> int:
        """Until when the head must still know ``circuit``, closed (0: no CONFIRM came; the tail's own give-up
        comes within its linger): while a give-up's poison may reach the delivered half of the last pair it
        answered (:func:`protocols.network.relay.poison_wait_ns`), and so while a copy of that CONFIRM may come
        (an unknown circuit's EXPIRE would have the tail report a pair the head delivered expired)."""
        state = self.states.get(circuit.handle)
        answered = None if state is None else state.answered
        if not circuit.is_head or answered is None or not answered.made:
            return 0
        return answered.made[-1][0] + poison_wait_ns(self.node, circuit)

    def heard(self, circuit: Circuit, now: int) -> tuple[PairRecords[int], Actions | None]:
        """A CONFIRM came to the head: its answers (:meth:`answered`) with those older than every copy's bound
        forgotten, and the ERR EXPIREs of the pairs whose CONFIRMs its floor passed unanswered (:meth:`unheard`;
        None when the floor passed none)."""
        state = self.state(circuit)
        answered = self.answered(state, circuit)
        answered.forget(now)
        return answered, (self.unheard(circuit, state) if state.reported.mark < answered.floor else None)

    def expire(self, circuit: Circuit, n: int) -> Actions:
        """Report pair n expired to the application (the callers make sure it is the pair's only report)."""
        self.state(circuit).reported.add(n)
        return self.service.expire(circuit, n)

    def unsettled(self, circuit: Circuit, n: int) -> Actions:
        """The tail learned its unsettled pair n expired (CONFIRM_ACK EXPIRE, or its CONFIRM given up): reported
        unless a poison of its half did it already; the half, if still delivered, is detached from n (e2e None),
        so that a poison reaching it later reports nothing."""
        state = self.state(circuit)
        if n in state.retracted:
            return Actions()
        key = state.delivered.get(n)
        half = None if key is None else self.node.half(key)
        if half is not None and half.e2e == n:
            half.e2e = None
        return self.expire(circuit, n)

    def on_retracted(self, circuit: Circuit, half: Half, now: int) -> Actions:
        """A delivered half died (poison): its pair is expired at this end (once: the half is dead now; a half
        whose pair was reported expired otherwise was detached from it)."""
        n = half.e2e
        if n is None:
            return Actions()
        state = self.state(circuit)
        if n in state.delivered:            # the tail, before the pair's CONFIRM is answered
            state.retracted.add(n)
        return self.expire(circuit, n)

    def unanswerable(self, circuit: Circuit, n: int) -> Actions:
        """The head's first answer to CONFIRM(n) is EXPIRE (its half is gone): reported, unless the COMPLETE
        path reported n before this CONFIRM came."""
        return Actions() if n in self.state(circuit).reported else self.expire(circuit, n)

    def unheard(self, circuit: Circuit, state: EndState) -> Actions:
        """The head's ``answered`` floor passed pairs it never answered (their CONFIRMs were all lost, and the
        tail gave them up): no CONFIRM of theirs will be answered now (:meth:`PairRecords.late`), so they are
        reported expired (before, at COMPLETE), and the mark of its reported pairs moves to the floor."""
        assert state.answered is not None
        reported = state.reported
        reported.close_below(state.answered.floor)
        if not reported.missing:
            return Actions()
        measuring = {confirm.e2e_seq for confirm, _ in state.waiting.values()}   # answered at the result
        actions = Actions()
        for n in sorted(reported.missing - measuring):
            actions.extend(self.expire(circuit, n))
        return actions

    def completed(self, circuit: Circuit) -> Actions:
        """The head learned the circuit is complete: the pairs it never reported (never heard of, above its
        ``answered`` floor) are reported expired."""
        actions = Actions()
        for n in self.state(circuit).reported.unreported(circuit.number):
            actions.extend(self.expire(circuit, n))
        return actions
