"""The interface between protocol engines and the quantum hardware (the medium).

Engines emit commands in ``Actions.hardware``; the runtime hands them to the medium,
which answers later with events. In-process the medium is an object on the kernel's
queue; in the multi-process mode it is a separate process behind a local socket.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from protocols.common import Basis, DistillProtocol
from protocols.fastinit import fast_init

BellDistribution = tuple[float, float, float, float]
"""Probabilities of the four Bell states, indexed by :class:`protocols.common.BellState`."""


@fast_init
@dataclass(frozen=True, slots=True)
class Arm:
    """Attempt entanglement on ``link_id`` until ``pairs`` emissions succeed.

    ``measure_basis`` None keeps the qubit (create-and-keep); a basis measures it right
    after emission (measure-directly). ``alpha`` sets a single-click link's bright-state
    population for these pairs (None: the link's configured value).
    """

    link_id: int
    pairs: int
    measure_basis: Basis | None = None
    alpha: float | None = None
    basis_choice: tuple[tuple[Basis, float], ...] = ()
    """Measure-directly in a basis drawn per pair with these probabilities (overrides ``measure_basis``)."""
    block: int = 0
    """Measure-directly in blocks of up to this many pairs (:class:`EmittedBlock`, a QHP BATCH); 0: pair by
    pair. The medium batches only when both ends ask for blocks."""


@fast_init
@dataclass(frozen=True, slots=True)
class Disarm:
    """Stop attempting on ``link_id``."""

    link_id: int


@fast_init
@dataclass(frozen=True, slots=True)
class Measure:
    """Measure the qubit in memory slot ``slot`` (a pair half or a data qubit) in ``basis``; the slot is then
    free. The result (:class:`MeasureResult`) comes after the node's ``readout_ns``."""

    slot: int
    basis: Basis


@fast_init
@dataclass(frozen=True, slots=True)
class Discard:
    """Reset the qubit in memory slot ``slot`` without measuring; the slot is then free."""

    slot: int


@fast_init
@dataclass(frozen=True, slots=True)
class Move:
    """Move the qubit in communication slot ``slot`` to a free storage slot."""

    slot: int


@fast_init
@dataclass(frozen=True, slots=True)
class BellMeasure:
    """Bell-state measurement of the qubits in slots ``slot_a`` and ``slot_b``: CNOT a→b, H on a, measure both
    in Z. Both slots are free once the gate and the readout are over (the node's ``gate_ns + readout_ns``).

    On two halves of different pairs this is entanglement swapping: their far halves become one pair, in the
    Bell state ``index(pair a) ⊕ index(pair b) ⊕ bell_index`` (:class:`BellMeasureResult`).
    """

    slot_a: int
    slot_b: int


GATES: dict[str, int] = {"I": 1, "X": 1, "Y": 1, "Z": 1, "H": 1, "S": 1, "S_DAG": 1, "SQRT_X": 1, "SQRT_X_DAG": 1,
                         "SQRT_Y": 1, "SQRT_Y_DAG": 1, "CNOT": 2, "CX": 2, "CY": 2, "CZ": 2, "SWAP": 2}
"""The Clifford gates a node can apply (:class:`Gate`), by stim's names, with the number of qubits each acts on."""


@dataclass(frozen=True, slots=True)
class Init:
    """Initialise data qubit ``slot`` (a slot after the communication and storage qubits) in |0⟩.

    The slot must be free; the qubit is then held until it is measured or discarded.
    """

    slot: int


@dataclass(frozen=True, slots=True)
class Gate:
    """Apply the Clifford gate ``name`` (:data:`GATES`, stim's names) to the qubits in ``slots``, in order
    (``CNOT`` control first): data qubits and pair halves alike, all of one node. The gate takes the node's
    ``gate_ns``; a later command on these qubits starts when it is over. Nothing is reported back.
    """

    name: str
    slots: tuple[int, ...]

    def __post_init__(self) -> None:
        arity = GATES.get(self.name)
        if arity is None:
            raise ValueError(f"unknown gate {self.name!r} (known: {', '.join(GATES)})")
        if len(self.slots) != arity:
            raise ValueError(f"gate {self.name} acts on {arity} qubit(s), got slots {self.slots}")


@dataclass(frozen=True, slots=True)
class Distill:
    """This end's part of an entanglement distillation round on two pairs it shares with one other node:
    (with DEJMPS, the rotation R_x(±π/2) on both qubits first) a CNOT from the qubit in ``keep_slot``
    (control) to the qubit in ``sacrifice_slot`` (target), then the target measured in Z. The kept qubit
    stays in its slot; the sacrificed slot is free once the gate and the readout are over (``gate_ns +
    readout_ns``), when :class:`DistillResult` comes.

    Both ends issue it for the same two pairs, in either order; the parity of their outcomes decides
    whether the round succeeded (:func:`protocols.network.distillation.tracked_round`). Until the second
    end has issued its part, the kept qubit at the first end may only be discarded, and the second end's
    two qubits may only be taken by this round's Distill or discarded (which abandons the round).
    ``twirl_about``: twirl the kept pair to Werner form about this Bell index after the round (BBPSSW
    between rounds; both ends must give the same value), None: no twirl.
    """

    keep_slot: int
    sacrifice_slot: int
    protocol: DistillProtocol
    twirl_about: int | None = None


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
    """The far end of link ``link_id`` (or the station between) is gone: no pair can be made.

    The medium reports it to the surviving end's link layer, as a station would notice one
    side going dark; the link layer then ends what it had outstanding on that link.
    """

    link_id: int
