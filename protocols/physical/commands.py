"""The commands protocol engines give the quantum hardware (the medium), in ``Actions.hardware``.

Arm and Disarm drive a link's attempts; Measure, Discard, Move, BellMeasure, Init, Gate and Distill act on a
node's qubits by memory slot. The medium answers some of them later with an event
(:mod:`protocols.physical.hardware`, which re-exports these: engines import both from there).
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.common import Basis, DistillProtocol
from protocols.fastinit import fast_init


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
    """Measure-directly in blocks of up to this many pairs (:class:`~protocols.physical.hardware.EmittedBlock`,
    a QHP BATCH); 0: pair by pair. The medium batches only when both ends ask for blocks."""


@fast_init
@dataclass(frozen=True, slots=True)
class Disarm:
    """Stop attempting on ``link_id``."""

    link_id: int


@fast_init
@dataclass(frozen=True, slots=True)
class Measure:
    """Measure the qubit in memory slot ``slot`` (a pair half or a data qubit) in ``basis``; the slot is then
    free. The result (:class:`~protocols.physical.hardware.MeasureResult`) comes after the node's
    ``readout_ns``."""

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
    Bell state ``index(pair a) ⊕ index(pair b) ⊕ bell_index``
    (:class:`~protocols.physical.hardware.BellMeasureResult`).
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
    readout_ns``), when :class:`~protocols.physical.hardware.DistillResult` comes.

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
