"""Applications above the link layer.

:class:`EntanglementUser` is the workload of a scenario: the *origin* sends one CREATE
to its node's link layer at ``start_ns``; the *responder* serves the same Purpose ID at
the remote node. Both record every OK. A kept pair is measured as soon as its OK
arrives, in the basis Z, X, Y chosen by ``sequence_number % 3`` so both ends agree
without talking; the report joins the two ends' records to measure fidelity. The 16-bit
Sequence Number can come round within a request (on a link other requests share), so each
end also gives every pair delivered to it a serial (:mod:`protocols.apps.serials`: the number
and how many pairs were delivered under it before), by which it counts its pairs and the
report joins them.

>>> from protocols.packets.linkservice import Create
>>> user = EntanglementUser(("198.18.0.1", 7771), Create(remote_node_id=2, number=1), start_ns=5)
>>> user.start(0).deadline
5
>>> [dest for dest, _ in user.on_timer(5).send]
[('198.18.0.1', 7771)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from protocols.apps.serials import SerialNumbers
from protocols.common import BASES, Actions, Address, Basis, ParseError, commanding
from protocols.packets import linkservice as ll
from protocols.physical.hardware import CommandRejected, MeasureResult
from protocols.physical.hardware import Measure as MeasureCommand


@dataclass(slots=True)
class PairRecord:
    """One OK as a higher layer saw it, plus its measurement outcome."""

    sequence_number: int
    remote_node_id: int
    kind: str
    d: int
    bell_state: int
    goodness: float
    ok_time: int
    basis: int | None = None
    outcome: int | None = None
    serial: int | None = None
    """The pair's serial at this end (:mod:`protocols.apps.serials`): its sequence number plus 2^16 for each pair
    delivered under that number before (None: a record made by hand, taken as its sequence number)."""

    @property
    def turn(self) -> int:
        """:attr:`serial`, or the sequence number of a record made without one."""
        return self.sequence_number if self.serial is None else self.serial


_MEASURED = (MeasureResult, CommandRejected)


def keep_basis(sequence_number: int) -> Basis:
    """The basis both ends measure kept pair ``sequence_number`` in."""
    return BASES[sequence_number % 3]


class EntanglementUser:
    """Issues one CREATE (origin, ``create`` given) or serves a Purpose ID (responder)."""

    def __init__(self, link_service: Address, create: ll.Create | None, start_ns: int = 0) -> None:
        self.link_service = link_service
        self.wrong_sender = 0
        """Datagrams dropped because they came from another address than :attr:`link_service`."""
        self.create = create
        self._kept_together = create is not None and create.kept_together
        """``create.kept_together``, asked after every event of the run (:meth:`done`)."""
        self.start_ns = start_ns
        self.sent_at: int | None = None
        self.create_id: int | None = None
        self.first_ok_at: int | None = None
        self.records: list[PairRecord] = []
        self.errors: list[int] = []
        self.expired: set[int] = set()
        """The Sequence Numbers an ERR EXPIRE named (a pair withdrawn, or one never delivered here)."""
        self._settled: set[int] = set()
        """Serials of the pairs delivered (:mod:`protocols.apps.serials`)."""
        self._numbers: set[int] = set()
        """Their Sequence Numbers: an expired number among them is a delivered pair's, else a pair of its own."""
        self._serials = SerialNumbers()
        self.malformed = 0
        self.unexpected = 0
        self.phantoms = 0
        """OKs whose qubit the medium did not have (a forged or stale OK): withdrawn when the Measure is refused."""
        self._measuring: dict[int, PairRecord] = {}

    def start(self, now: int) -> Actions:
        return Actions(deadline=self._deadline())

    def on_timer(self, now: int) -> Actions:
        if self.create is None or self.sent_at is not None or now < self.start_ns:
            return Actions(deadline=self._deadline())
        self.sent_at = now
        return Actions(send=[(self.link_service, self.create.encode())])

    def _deadline(self) -> int | None:
        return self.start_ns if self.create is not None and self.sent_at is None else None

    def receive(self, payload: bytes, source: Address, port: int, now: int) -> Actions:
        if source != self.link_service:     # an answer only comes from the service it asked
            self.wrong_sender += 1
            return Actions(deadline=self._deadline())
        try:
            message = ll.decode_upward(payload)
        except ParseError:
            self.malformed += 1
            return Actions(deadline=self._deadline())
        if type(message) is ll.OkKeep:             # one a kept pair: asked first
            return self._on_ok(message, now)
        if isinstance(message, ll.Ack):
            self.create_id = message.create_id
        elif isinstance(message, ll.Err) and message.err == ll.ERR_EXPIRE and message.s:
            self.expired.update(message.sequences())
        elif isinstance(message, ll.Err):
            self.errors.append(message.err)
        else:
            return self._on_ok(message, now)
        return Actions(deadline=self._deadline())

    def handle(self, event: Any, now: int) -> Actions:
        kind = type(event)
        if kind is not MeasureResult and not isinstance(event, _MEASURED):
            raise TypeError(f"application cannot handle {event!r}")
        record = self._measuring.pop(event.slot, None)
        if record is None:
            self.unexpected += 1
        elif kind is not MeasureResult and isinstance(event, CommandRejected):
            self._withdraw(record)
        else:
            record.basis, record.outcome = int(event.basis), event.outcome
            if self.sent_at is not None or self.create is None:    # _deadline(), written out: one a pair
                return Actions()
        return Actions(deadline=self._deadline())

    def _on_block(self, ok: ll.OkMeasureBlock, now: int) -> None:
        """A block of measured pairs (OK-MB): one record per pair, as if each had come in its own OK-M."""
        seqs = ((ok.sequence_number + np.arange(ok.count)) & 0xFFFF).tolist()
        serials = self._serials.block(ok.sequence_number, ok.count).tolist()
        goodness = ll.decode_fidelity(ok.goodness)
        self.records.extend(PairRecord(seq, ok.remote_node_id, "M", ok.d, bell, goodness, now, basis, m, serial)
                            for seq, bell, basis, m, serial in zip(seqs, ok.bell_states.tolist(), ok.bases.tolist(),
                                                                   ok.outcomes.tolist(), serials, strict=True))
        self._settled.update(serials)
        self._numbers.update(seqs)

    def _withdraw(self, record: PairRecord) -> None:
        """The OK behind ``record`` named a slot that held no qubit: it delivered nothing, so it is no pair."""
        self.phantoms += 1
        self.records.remove(record)
        if record.serial is not None:
            self._serials.forget(record.serial)
        self._settled.discard(record.turn)
        if not any(r.sequence_number == record.sequence_number for r in self.records):
            self._numbers.discard(record.sequence_number)

    def done(self) -> bool:
        """Nothing left to wait for: every pair asked for is delivered and measured."""
        if self._measuring:
            return False
        create = self.create
        if create is None or self.errors:
            return True
        if self._kept_together:                    # expired pairs of an atomic request are replaced
            return len(self.records) >= create.number
        return len(self._settled) + len(self.expired - self._numbers) >= create.number

    def held_slots(self) -> set[int]:
        return set(self._measuring)

    def _on_ok(self, ok: ll.OkKeep | ll.OkMeasure | ll.OkMeasureBlock, now: int) -> Actions:
        if self.first_ok_at is None:
            self.first_ok_at = now
        if type(ok) is not ll.OkKeep:              # an OK-K (one a kept pair) is asked first
            if isinstance(ok, ll.OkMeasureBlock):
                self._on_block(ok, now)
                return Actions(deadline=self._deadline())
            if isinstance(ok, ll.OkMeasure):
                serial = self._serials.delivered(ok.sequence_number)
                record = PairRecord(ok.sequence_number, ok.remote_node_id, "M", ok.d, ok.bell_state,
                                    ok.goodness / ll.FIDELITY_SCALE, now, ok.basis, ok.m, serial)
                self.records.append(record)
                self._settled.add(serial)
                self._numbers.add(ok.sequence_number)
                return Actions(deadline=self._deadline())
        assert isinstance(ok, ll.OkKeep)
        seq = ok.sequence_number
        serial = self._serials.delivered(seq)
        record = PairRecord(seq, ok.remote_node_id, "K", ok.d, ok.bell_state, ok.goodness / ll.FIDELITY_SCALE, now,
                            serial=serial)
        self.records.append(record)
        self._settled.add(serial)
        self._numbers.add(seq)
        self._measuring[ok.lqid] = record
        measure = [MeasureCommand(ok.lqid, BASES[seq % 3])]        # keep_basis(seq), written out: one a pair
        if self.sent_at is not None or self.create is None:       # _deadline() is None, written out
            return commanding(measure)
        return commanding(measure, self._deadline())
