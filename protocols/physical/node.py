"""Physical layer: a node's heralded-generation driver (and, re-exported, the station and the events of the
layer's service to the link layer, :mod:`protocols.physical.service`).

With a station (single- and double-click schemes) a pair exists when the station's
HERALD says so. Without one (source-in-the-middle, coupler) each end heralds its own half
locally and tells the other end in a REPORT; a pair exists when both ends did.

>>> station = Station({1: (("198.18.0.1", 7770), ("198.18.0.2", 7770))}, detection_window_ns=2)
>>> out = station.handle(Detection(1, 41, 3, ((1, 0, 100), (2, 1, 150)), (100, 101)), now=150)
>>> [dest for dest, _ in out.send]
[('198.18.0.1', 7770), ('198.18.0.2', 7770)]
>>> Herald.decode(out.send[0][1]).bell_state == BellState.PSI_MINUS
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from protocols.common import (
    BELL_STATES,
    Actions,
    Address,
    BellState,
    ParseError,
    commanding,
    earliest,
    going_up,
    sending,
)
from protocols.fastinit import fast_new
from protocols.packets.heralding import (
    MSG_HERALD,
    MSG_REPORT,
    OUTCOME_FAILURE,
    OUTCOME_SUCCESS,
    Herald,
    decode_shared_herald,
)
from protocols.packets.heralding import SHARED as SHARED_HERALDS
from protocols.packets.heralding import SIZE as HERALD_SIZE
from protocols.packets.heralding_batch import MSG_BATCH, HeraldBatch, decode_qhp
from protocols.physical.hardware import Arm, Detection, Disarm, Discard, Emitted, EmittedBlock
from protocols.physical.parts import Assembly
from protocols.physical.service import AttemptLost, BlockReady, PairReady, StartGeneration, StopGeneration
from protocols.physical.station import Station, double_click_outcome, single_click_outcome

_new_pair_ready = fast_new(PairReady)


_PHI_PLUS = BellState.PHI_PLUS          # a module constant: a member's look-up is EnumType's Python-level hook


@dataclass(frozen=True, slots=True)
class ReportingLink:
    """A link without a station: where to send this end's REPORTs, and the scheme code."""

    scheme: int
    peer: Address


class NodePhysical:
    """A node's physical layer: arms the hardware and matches emissions to heralds.

    A pair is passed up only when its HERALD (or, on a link in ``reporting``, the peer's
    REPORT) arrives. A FAILURE is simply discarded (the hardware knows and carries on); an
    emission whose confirmation has not come ``herald_timeout_ns`` after it is discarded and
    reported up as lost, since the other end may hold the pair.
    """

    def __init__(self, herald_timeout_ns: int, reporting: dict[int, ReportingLink] | None = None,
                 heralders: dict[int, Address] | None = None) -> None:
        self.herald_timeout_ns = herald_timeout_ns
        self.reporting = reporting or {}
        self.heralders = heralders or {}
        """Per link, the one address its HERALDs (its station) or REPORTs (the peer) may come from (a link not
        in it: any)."""
        self.wrong_sender = 0
        self.pending: dict[tuple[int, int], tuple[Emitted | EmittedBlock, int]] = {}
        self.early: dict[tuple[int, int], Herald | HeraldBatch] = {}
        self.parts: dict[tuple[int, int], Assembly] = {}
        """Blocks whose BATCHes came in part, by (link, first attempt)."""
        self.next_part: dict[tuple[int, int], tuple[int, int]] = {}
        """(link, the next part's first attempt) → its block's key in ``pending``."""
        self._arms: dict[int, tuple[StartGeneration, Arm]] = {}
        """Per link, the last StartGeneration and the Arm made of it (the link layer gives the same event again
        for each run of the same request and size: a circuit hop's, one a credit)."""
        self.malformed = 0
        self.unexpected = 0
        self.lost = 0
        self.failed = 0

    def handle(self, event: Any, now: int) -> Actions:
        if type(event) is Emitted:                 # one an attempt: asked first
            return self._on_emitted(event, now)
        if isinstance(event, StartGeneration):
            last = self._arms.get(event.link_id)         # the same event again (a circuit hop's, one a credit):
            return commanding([last[1] if last is not None and last[0] is event else self._arm(event)],   # its Arm
                              self._deadline())
        if isinstance(event, StopGeneration):
            return Actions(hardware=[Disarm(event.link_id)], deadline=self._deadline())
        if isinstance(event, Emitted):
            return self._on_emitted(event, now)
        if isinstance(event, EmittedBlock):
            return self._on_emitted_block(event, now)
        raise TypeError(f"physical layer cannot handle {event!r}")

    def _arm(self, start: StartGeneration) -> Arm:
        """The Arm command of ``start``, kept for its link: :meth:`handle` gives it again for the same event object
        (both are frozen) without a call."""
        arm = Arm(start.link_id, start.pairs, start.measure_basis, start.alpha, start.basis_choice, start.block)
        self._arms[start.link_id] = (start, arm)
        return arm

    def _on_emitted(self, event: Emitted, now: int) -> Actions:
        key = (event.link_id, event.attempt_seq)
        if not self.reporting and event.local_herald and not self.early:    # a station's link, no HERALD early:
            self.pending[key] = (event, event.emission_time + self.herald_timeout_ns)     # the pair waits for it
            return sending([], self._deadline())
        actions = Actions()
        link = self.reporting.get(event.link_id)
        if link is not None:
            report = Herald(OUTCOME_SUCCESS if event.local_herald else OUTCOME_FAILURE, 0, event.link_id,
                            link.scheme, event.attempt_seq, event.attempts, now, MSG_REPORT)
            actions.send.append((link.peer, report.encode()))
        if event.local_herald:
            self.pending[key] = (event, event.emission_time + self.herald_timeout_ns)
            early = self.early.pop(key, None) if self.early else None
            if isinstance(early, Herald):
                actions.extend(self._confirm(early))
            elif early is not None:             # a BATCH naming a single pair's attempt
                self.unexpected += 1
        actions.deadline = self._deadline()
        return actions

    def _on_emitted_block(self, event: EmittedBlock, now: int) -> Actions:
        key = (event.link_id, event.attempt_seq)
        self.pending[key] = (event, event.emission_time + self.herald_timeout_ns)
        early = self.early.pop(key, None)
        actions = self._part(key, early) if isinstance(early, HeraldBatch) else Actions()
        self.unexpected += isinstance(early, Herald)     # a HERALD naming a block's first attempt
        actions.deadline = self._deadline()
        return actions

    def receive(self, payload: bytes, source: Address, port: int, now: int) -> Actions:
        try:
            if len(payload) == HERALD_SIZE and payload[1] != MSG_BATCH:    # a HERALD or REPORT: one a pair
                herald: Herald | HeraldBatch | None = (SHARED_HERALDS.get(payload) if type(payload) is bytes
                                                       else None)      # decoded once for both ends
                if herald is None:
                    herald = decode_shared_herald(payload)
            else:
                herald = decode_qhp(payload)
        except ParseError:
            self.malformed += 1
            return Actions(deadline=self._deadline())
        heralder = self.heralders.get(herald.link_id)
        if heralder is not None and source != heralder:
            self.wrong_sender += 1
            return Actions(deadline=self._deadline())
        if type(herald) is not Herald:
            assert isinstance(herald, HeraldBatch)
            return self._on_batch(herald, now)
        reporting = herald.link_id in self.reporting
        if (herald.msg_type == MSG_REPORT) != reporting:
            self.unexpected += 1
            return Actions(deadline=self._deadline())
        key = (herald.link_id, herald.attempt_seq)
        entry = self.pending.get(key)
        if entry is not None and type(entry[0]) is Emitted and herald.outcome == OUTCOME_SUCCESS:
            del self.pending[key]                  # _confirm of a success, inline (one a pair at each end)
            return going_up([self._ready(entry[0], herald)], self._deadline())
        if entry is not None and isinstance(entry[0], EmittedBlock):
            self.unexpected += 1                   # a HERALD naming a block
            return Actions(deadline=self._deadline())
        if entry is None:
            fresh = herald.detection_time + self.herald_timeout_ns > now
            if fresh and len(self.early) < 1024:   # before our own emission event (a peer's REPORT, or a
                self.early[key] = herald           # herald overtaking the hardware's event between processes)
            else:
                self.unexpected += 1
            return Actions(deadline=self._deadline())
        actions = self._confirm(herald)
        actions.deadline = self._deadline()
        return actions

    def _on_batch(self, batch: HeraldBatch, now: int) -> Actions:
        key = (batch.link_id, batch.attempt_seq)
        pending = self.pending.get(key)
        first = self.next_part.get(key)
        if batch.link_id in self.reporting or (pending is not None and not isinstance(pending[0], EmittedBlock)):
            self.unexpected += 1
        elif first is not None:                     # the next part of a block's BATCHes
            return self._part(first, batch).extend(Actions(deadline=self._deadline()))
        elif pending is not None and key not in self.parts:
            return self._part(key, batch).extend(Actions(deadline=self._deadline()))
        elif pending is None and batch.detection_time + self.herald_timeout_ns > now and len(self.early) < 1024:
            self.early[key] = batch                 # before our own block's event (or before its earlier parts)
        else:
            self.unexpected += 1                    # stale, or a first part again
        return Actions(deadline=self._deadline())

    def _part(self, key: tuple[int, int], batch: HeraldBatch) -> Actions:
        """A BATCH (or the next part of one) for the block this end emitted as ``key``: once they name all its
        pairs, the block's pairs go up with their Bell states."""
        emitted = self.pending[key][0]
        assert isinstance(emitted, EmittedBlock)
        assembly = self.parts.pop(key, None) or Assembly(emitted)
        self.next_part.pop((emitted.link_id, assembly.next_attempt), None)
        whole = assembly.add(batch)
        if whole is None:
            del self.pending[key]
            self.unexpected += 1               # not the block this end made: its pairs are lost here
            return self._lose(emitted)
        if not whole:
            self.parts[key] = assembly
            following = (emitted.link_id, assembly.next_attempt)
            self.next_part[following] = key
            early = self.early.pop(following, None)
            return self._part(key, early) if isinstance(early, HeraldBatch) else Actions()
        del self.pending[key]
        bells, plane = assembly.block_bells()
        return Actions(up=[BlockReady(emitted.link_id, emitted.attempt_seq, emitted.attempts, emitted.emission_time,
                                      emitted.distribution, bells, emitted.outcomes, emitted.bases, bell_plane=plane)])

    def _confirm(self, herald: Herald) -> Actions:
        emitted, _ = self.pending.pop((herald.link_id, herald.attempt_seq))
        assert isinstance(emitted, Emitted)
        if herald.outcome != OUTCOME_SUCCESS:
            self.failed += 1           # the hardware knows the attempt failed and carries on
            return Actions(hardware=self._discard(emitted))
        return going_up([self._ready(emitted, herald)])

    @staticmethod
    def _ready(emitted: Emitted, herald: Herald) -> PairReady:
        """The pair ``emitted`` made, which ``herald`` (a success) confirmed."""
        bell = BELL_STATES[herald.bell_state] if herald.msg_type == MSG_HERALD else _PHI_PLUS
        return _new_pair_ready(emitted.link_id, emitted.slot, emitted.qubit_id, bell, emitted.attempt_seq,
                               herald.attempts, emitted.emission_time, emitted.distribution, emitted.outcome,
                               emitted.basis)

    def start(self, now: int) -> Actions:
        return Actions()

    def on_timer(self, now: int) -> Actions:
        actions = Actions()
        for key, (emitted, deadline) in list(self.pending.items()):
            if deadline <= now:
                del self.pending[key]
                assembly = self.parts.pop(key, None)
                if assembly is not None:
                    self.next_part.pop((emitted.link_id, assembly.next_attempt), None)
                actions.extend(self._lose(emitted))
        stale = [k for k, h in self.early.items() if h.detection_time + self.herald_timeout_ns <= now]
        for key in stale:                     # no emission of ours ever matched it
            del self.early[key]
            self.unexpected += 1
        actions.deadline = self._deadline()
        return actions

    def held_slots(self) -> set[int]:
        """Memory slots holding qubits that wait for their herald."""
        return {e.slot for e, _ in self.pending.values() if isinstance(e, Emitted) and e.outcome is None}

    def _lose(self, emitted: Emitted | EmittedBlock) -> Actions:
        """No confirmation came in time: the pair (or the block's pairs) may exist at the other end only."""
        if isinstance(emitted, EmittedBlock):
            self.lost += emitted.count
            return Actions(up=[AttemptLost(emitted.link_id, emitted.attempt_seq, emitted.count)])
        self.lost += 1
        return Actions(up=[AttemptLost(emitted.link_id, emitted.attempt_seq)], hardware=self._discard(emitted))

    @staticmethod
    def _discard(emitted: Emitted) -> list[Any]:
        return [] if emitted.outcome is not None else [Discard(emitted.slot)]

    def _deadline(self) -> int | None:
        pending = None
        for _, d in self.pending.values():
            if pending is None or d < pending:
                pending = d
        if not self.early:
            return pending
        return earliest(pending, min([h.detection_time + self.herald_timeout_ns for h in self.early.values()]))


__all__ = ["AttemptLost", "BlockReady", "Detection", "NodePhysical", "PairReady", "ReportingLink", "StartGeneration",
           "Station", "StopGeneration", "double_click_outcome", "single_click_outcome"]
