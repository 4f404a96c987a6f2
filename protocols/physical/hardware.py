"""The interface between protocol engines and the quantum hardware (the medium).

Engines emit commands in ``Actions.hardware`` (:mod:`protocols.physical.commands`, re-exported here); the
runtime hands them to the medium, which answers later with the events defined here. In-process the medium is
an object on the kernel's queue; in the multi-process mode it is a separate process behind a local socket.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from protocols.common import Basis
from protocols.fastinit import fast_init
from protocols.physical.commands import (
    GATES,
    Arm,
    BellMeasure,
    Disarm,
    Discard,
    Distill,
    Gate,
    Init,
    Measure,
    Move,
)

__all__ = ["GATES", "Arm", "BellDistribution", "BellMeasure", "BellMeasureResult", "CommandRejected", "Detection",
           "DetectionBlock", "Disarm", "Discard", "Distill", "DistillResult", "Emitted", "EmittedBlock", "Gate", "Init",
           "LinkDown", "Measure", "MeasureResult", "Move", "MoveResult"]

BellDistribution = tuple[float, float, float, float]
"""Probabilities of the four Bell states, indexed by :class:`protocols.common.BellState`."""


@fast_init
@dataclass(frozen=True, slots=True)
class MoveResult:
    """Where a :class:`Move` put the qubit (``None``: no storage slot was free; nothing moved)."""

    slot: int
    storage_slot: int | None


@fast_init
@dataclass(frozen=True, slots=True)
class Emitted:
    """A node's photon for a (to be heralded) successful attempt has left.

    ``distribution`` is the pair's Bell-diagonal distribution at emission, relative to
    the ideal |Φ+⟩ frame *before* the herald's correction: the herald names which of the
    states the pair is closest to. ``outcome`` is set for measure-directly.
    """

    link_id: int
    slot: int
    qubit_id: int
    attempt_seq: int
    emission_time: int
    distribution: BellDistribution
    outcome: int | None = None
    basis: Basis | None = None
    local_herald: bool = True
    attempts: int = 1


@fast_init
@dataclass(frozen=True, slots=True)
class Detection:
    """Clicks at a station's detectors for one attempt (to a station's physical layer).

    ``clicks`` holds one ``(round, detector, time_ns)`` per click; ``arrivals`` the
    arrival time of each end's photon (ns, sub-ns precision), for the detection-window check.
    """

    link_id: int
    attempt_seq: int
    attempts: int
    clicks: tuple[tuple[int, int, int], ...]
    arrivals: tuple[float, float]


@dataclass(frozen=True, slots=True, eq=False)
class EmittedBlock:
    """A block of measure-directly pairs at one end (the batched path): every pair emitted and measured.

    Attempts ``attempt_seq`` to ``attempt_seq + attempts - 1`` made ``count`` pairs, which the station's
    BATCH names; ``outcomes`` holds this end's read-out outcome of each, packed 8 to a byte (most
    significant bit first, ``numpy.packbits``), ``bases`` its basis of each (uint8, 0 Z, 1 X, 2 Y).
    ``emission_time`` is the block's last emission on this end's clock; ``distribution`` is the pairs'
    Bell-diagonal distribution relative to the heralded state.
    """

    link_id: int
    attempt_seq: int
    attempts: int
    count: int
    emission_time: int
    distribution: BellDistribution
    outcomes: np.ndarray
    bases: np.ndarray

    def __eq__(self, other: object) -> bool:
        return _arrays_equal(self, other)

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True, eq=False)
class DetectionBlock:
    """A block of attempts at a station (the batched path): the failed attempts before each success and the
    Bell state the station's rule announces for it (uint8, ``x | z << 1``)."""

    link_id: int
    attempt_seq: int
    attempts: int
    failures: np.ndarray
    bells: np.ndarray

    def __eq__(self, other: object) -> bool:
        return _arrays_equal(self, other)

    __hash__ = None  # type: ignore[assignment]


def _arrays_equal(a: object, b: object) -> bool:
    """Dataclass equality with numpy arrays compared element by element."""
    if type(a) is not type(b):
        return False
    for f in dataclasses.fields(a):  # type: ignore[arg-type]
        x, y = getattr(a, f.name), getattr(b, f.name)
        if not (np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y):
            return False
    return True


@fast_init
@dataclass(frozen=True, slots=True)
class MeasureResult:
    """Outcome of a :class:`Measure` command."""

    slot: int
    qubit_id: int
    basis: Basis
    outcome: int


@fast_init
@dataclass(frozen=True, slots=True)
class BellMeasureResult:
    """Outcome of a :class:`BellMeasure`: ``bell_index`` in our encoding ``x | z << 1``
    (:class:`protocols.common.BellState`; x = outcome of slot b, the target, z = outcome of slot a, the
    control). ``success`` is False when the measurement failed: both qubits are lost, the far halves are
    left unentangled, and ``bell_index`` is then 0."""

    slot_a: int
    slot_b: int
    bell_index: int
    success: bool = True


@fast_init
@dataclass(frozen=True, slots=True)
class DistillResult:
    """Outcome of this end's :class:`Distill`: the Z outcome (0 or 1, after readout) of the sacrificed qubit."""

    keep_slot: int
    sacrifice_slot: int
    outcome: int


@dataclass(frozen=True, slots=True)
class CommandRejected:
    """The medium refused a hardware command it cannot execute (no qubit in the slot, a link the node does not
    end, a value out of range): nothing happened. It comes instead of the result the sender waits for
    (:class:`MeasureResult`, :class:`MoveResult`, :class:`BellMeasureResult`); a command with no result
    (:class:`Arm`, :class:`Disarm`, :class:`Discard`) is refused silently. The medium counts every refusal.

    ``command`` is the refused command's type name, ``slot`` the slot it named (``slot_a`` of a
    :class:`BellMeasure`; -1 for a command without one)."""

    command: str
    slot: int
    reason: str


@dataclass(frozen=True, slots=True)
class LinkDown:
    """Link ``link_id`` can make no more pairs: its far end, or the station (or source) between, is gone.

    The medium reports it to each surviving end's link layer, as a station would notice one side going
    dark. ``peer_alive`` says that only what makes the pairs died and the far end still answers over the
    classical channel: the link layer then settles the pairs already made with it (their CONFIRMs and
    RELEASEs go on until answered) instead of giving them up, so that none is delivered at one end only.
    """

    link_id: int
    peer_alive: bool = False
