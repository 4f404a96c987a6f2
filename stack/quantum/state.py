"""The quantum state the medium holds: entangled pairs, the qubits that hold their halves, nodes' memories.

A pair is an ideal Bell state plus a Pauli frame on its two qubits (qubit 0 at side 0, qubit 1 at side 1),
held as a small int (:data:`Frame`). Its Bell index (``x | z << 1``, :class:`protocols.common.BellState`) is
the XOR of the two sides' Paulis, since (P ⊗ I)|Φ+⟩ = (I ⊗ Pᵀ)|Φ+⟩ and Pᵀ = ±P:

>>> bell_index(frame_of("XZ"))
3
>>> paulis_of(frame_of_bell(BellState.PHI_MINUS)) == FRAME_OF_BELL[BellState.PHI_MINUS]
True

The frame algebra needs no stim: stim is imported by the first tableau component
(:mod:`stack.quantum.components`), i.e. only by runs with data qubits or non-Pauli gates.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol

from protocols.common import Basis, BellState
from protocols.physical.hardware import BellDistribution
from stack.core.kernel import VirtualPort

Frame = int
"""A two-qubit Pauli frame without sign: ``a << 2 | b``, ``a`` and ``b`` stim's codes (0 I, 1 X, 2 Y, 3 Z) of
side 0's and side 1's Pauli (``stim.PauliString(paulis_of(frame))`` is the same frame in stim). Frames are
compared only up to sign (commutation, Bell index, each side's Pauli), so 16 ints and tables
(:func:`bell_index`, :func:`anticommutes`, :func:`apply_pauli`) are the whole algebra."""
FRAME_OF_BELL = {BellState.PHI_PLUS: "__", BellState.PSI_PLUS: "_X",
                 BellState.PHI_MINUS: "_Z", BellState.PSI_MINUS: "_Y"}
IDEAL_PARITY = {Basis.Z: 0, Basis.X: 0, Basis.Y: 1}
"""Parity of the two outcomes on |Φ+⟩: ⟨ZZ⟩ = ⟨XX⟩ = +1, ⟨YY⟩ = -1."""
PAULIS = ("I", "X", "Y", "Z")
UNIFORM: BellDistribution = (0.25, 0.25, 0.25, 0.25)
"""The distribution of a maximally mixed pair (or of a half whose partner is gone)."""
_BITS = (0, 1, 3, 2)
"""``x | z << 1`` of stim's Pauli codes (0 I, 1 X, 2 Y, 3 Z); the map is its own inverse."""
BELL_FRAMES = _BITS
"""``BELL_FRAMES[index]`` is :func:`frame_of_bell` of ``index`` (a table look-up, for the per-pair paths)."""
_INDEX = tuple(_BITS[code >> 2] ^ _BITS[code & 3] for code in range(16))
ANTICOMMUTES = tuple(tuple((index & 1, index >> 1, (index & 1) ^ (index >> 1))[basis] for index in _INDEX)
                      for basis in sorted(Basis))
"""``ANTICOMMUTES[basis][frame]``: a frame anticommutes with ZZ when its Bell index's x bit is set, with XX its
z bit, with YY their XOR."""
_TIMES = {pauli: (tuple(_BITS[_BITS[code >> 2] ^ _BITS["_XYZ".index(pauli)]] << 2 | code & 3 for code in range(16)),
                  tuple(code & 12 | _BITS[_BITS[code & 3] ^ _BITS["_XYZ".index(pauli)]] for code in range(16)))
          for pauli in "XYZ"}
"""``_TIMES[pauli][side][frame]``: the frame times ``pauli`` on ``side`` (up to sign)."""
TIMES = _TIMES
""":func:`apply_pauli`'s table, for the per-pair paths that apply a Pauli inline (:mod:`stack.quantum.memory`)."""


def frame_of(paulis: str) -> Frame:
    """The frame of a two-qubit Pauli string (``"XZ"``; ``_`` or ``I`` for the identity, as stim writes it)."""
    a, b = ("_XYZ".index("_" if p == "I" else p) for p in paulis)
    return a << 2 | b


def paulis_of(frame: Frame) -> str:
    """``frame`` as stim writes a two-qubit Pauli string without sign (``"_X"``)."""
    return "_XYZ"[frame >> 2] + "_XYZ"[frame & 3]


def side_pauli(frame: Frame, side: int) -> int:
    """stim's code (0 I, 1 X, 2 Y, 3 Z) of ``frame``'s Pauli on ``side``."""
    return frame >> 2 if side == 0 else frame & 3


class QubitStatus(enum.Enum):
    IN_MEMORY = "in-memory"
    MEASURED = "measured"
    DISCARDED = "discarded"


IN_MEMORY, MEASURED, DISCARDED = QubitStatus.IN_MEMORY, QubitStatus.MEASURED, QubitStatus.DISCARDED
"""The statuses as module constants for the per-pair paths: on Python 3.11 ``QubitStatus.MEASURED`` goes through
``EnumType.__getattr__`` (~900 instructions), a module constant is one dict look-up. The same objects."""


@dataclass(slots=True)
class Pair:
    """An entangled pair: its Pauli frame (the true Bell state), what is known about it, who holds it.

    ``distribution`` is the Bell-diagonal distribution of the frame's index (absolute, not relative to a
    heralded state). It includes every noise the medium has folded into the frame except memory noise not
    yet sampled and the memory noise sampled when a half is measured (that noise is in the frame only).
    ``first`` is the basis and true outcome of the half measured first. ``members`` holds the qubit id of
    each side's half (0: no qubit on that side, e.g. a half whose partner was never heralded).
    """

    frame: Frame
    distribution: BellDistribution
    first: tuple[Basis, int] | None = None
    members: list[int] = field(default_factory=lambda: [0, 0])


class Tableau(Protocol):
    """A stim tableau component holding qubits outside the frame algebra (:mod:`stack.quantum.components`)."""

    def pauli(self, qubit: Qubit, pauli: str) -> None:
        """Apply ``pauli`` (X, Y or Z) to ``qubit``."""


@dataclass(slots=True, eq=False)
class Qubit:
    """A qubit in a node's memory: side ``side`` of ``pair`` (the frame algebra), or, once ``component`` is set,
    a qubit of that tableau component (``pair`` is then only the one it was in, kept for its distribution).

    ``created`` is when its memory noise was last sampled; ``ready_at`` when its last gate or move ends.
    """

    qubit_id: int
    node_id: int
    slot: int
    side: int
    created: float
    pair: Pair
    status: QubitStatus = IN_MEMORY
    component: Tableau | None = None
    ready_at: int = 0


@dataclass(slots=True)
class NodeHardware:
    """A node's memory: communication slots ``0..slots-1``, then ``storage`` storage slots, then ``data`` data
    qubits (:class:`protocols.physical.hardware.Init`).

    ``gate_fidelity`` is the depolarising fidelity of every gate (a move to storage, the CNOT of a Bell
    measurement): with probability 1 − fidelity a uniformly random Pauli (identity included) hits the
    qubits the gate acts on. ``bsm_success`` is the probability that a Bell measurement succeeds.
    """

    node_id: int
    slots: int
    t2_ns: float
    readout_ns: int
    physical_port: VirtualPort | None = None
    t1_ns: float = float("inf")
    storage: int = 0
    readout_fidelity: float = 1.0
    gate_fidelity: float = 1.0
    move_ns: int = 0
    gate_ns: int = 0
    bsm_success: float = 1.0
    data: int = 0
    held: dict[int, Qubit] = field(default_factory=dict)
    reserved: set[int] = field(default_factory=set)
    busy_until: dict[int, int] = field(default_factory=dict)
    channels: dict[float, tuple[float, float, float]] = field(default_factory=dict, repr=False, compare=False)
    """The memory channel by storage time (:func:`stack.quantum.memory.channel`; T1 and T2 are fixed once asked)."""

    def is_free(self, slot: int, now: int) -> bool:
        """Neither holding a qubit, reserved for an attempt, nor still reading out or moving one."""
        return slot not in self.held and slot not in self.reserved and self.busy_until.get(slot, 0) <= now

    def free_count(self, now: int) -> int:
        """How many communication slots are free (:meth:`is_free`) at ``now``."""
        held, reserved, busy = self.held, self.reserved, self.busy_until
        count = 0
        for slot in range(self.slots):
            if slot not in held and slot not in reserved and busy.get(slot, 0) <= now:
                count += 1
        return count

    def free_slot(self, now: int = 0) -> int | None:
        """A free communication slot, if any (the first)."""
        held, reserved, busy = self.held, self.reserved, self.busy_until
        for slot in range(self.slots):
            if slot not in held and slot not in reserved and busy.get(slot, 0) <= now:
                return slot
        return None

    def free_storage(self, now: int = 0) -> int | None:
        """A storage slot holding no qubit and not still busy (reading out a measured qubit) at ``now``.

        Only tests call it, as an oracle: the medium's move writes it out (:mod:`stack.quantum.operations`, once a
        pair), and ``tests/test_medium_ops.py`` holds the two equal."""
        for slot in range(self.slots, self.slots + self.storage):
            if slot not in self.held and self.busy_until.get(slot, 0) <= now:
                return slot
        return None

    def is_data(self, slot: int) -> bool:
        return self.slots + self.storage <= slot < self.slots + self.storage + self.data


def bell_index(frame: Frame) -> int:
    """The Bell index ``x | z << 1`` of a two-qubit Pauli frame."""
    return _INDEX[frame]


def frame_of_bell(index: int) -> Frame:
    """The frame ``I ⊗ P`` of Bell index ``index`` (:data:`FRAME_OF_BELL`)."""
    return _BITS[index]


def anticommutes(frame: Frame, basis: Basis) -> int:
    """1 if ``frame`` anticommutes with the correlator of ``basis`` (ZZ, XX or YY), else 0."""
    return ANTICOMMUTES[basis][frame]


def twirl(qubit: Qubit, draw: float, px: float, py: float, pz: float) -> None:
    """Apply X, Y or Z to ``qubit`` (:func:`apply_pauli`) with probabilities ``px``, ``py``, ``pz`` (identity
    otherwise), as the uniform ``draw`` picks.

    Only tests call it, as an oracle: :func:`stack.quantum.memory.sample` writes it out (once a pair), and
    ``tests/test_medium_ops.py`` holds the two equal."""
    if draw < px:
        apply_pauli(qubit, "X")
    elif draw < px + py:
        apply_pauli(qubit, "Y")
    elif draw < px + py + pz:
        apply_pauli(qubit, "Z")


def apply_pauli(qubit: Qubit, pauli: str) -> None:
    """Apply ``pauli`` (one of :data:`PAULIS`) to the qubit: to its half of its pair's frame, or in its component."""
    if pauli == "I":
        return
    if qubit.component is not None:
        qubit.component.pauli(qubit, pauli)
        return
    pair = qubit.pair
    pair.frame = _TIMES[pauli][qubit.side][pair.frame]
