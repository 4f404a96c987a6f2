"""The physical layer's service to the link layer: what the link layer asks for (StartGeneration,
StopGeneration) and what the physical layer hands up (PairReady, BlockReady, AttemptLost).

The link layer sees the physical layer only through these events; :class:`protocols.physical.node.NodePhysical`
turns them into hardware commands and heralds into them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from protocols.common import Basis, BellState
from protocols.fastinit import fast_init
from protocols.physical.hardware import BellDistribution


@fast_init
@dataclass(frozen=True, slots=True)
class StartGeneration:
    """Link layer → physical layer: produce ``pairs`` pairs on ``link_id``."""

    link_id: int
    pairs: int
    measure_basis: Basis | None = None
    alpha: float | None = None
    basis_choice: tuple[tuple[Basis, float], ...] = ()
    block: int = 0
    """Measure-directly in blocks of up to this many pairs (0: pair by pair)."""


@fast_init
@dataclass(frozen=True, slots=True)
class StopGeneration:
    """Link layer → physical layer: stop attempting on ``link_id``."""

    link_id: int


@fast_init
@dataclass(frozen=True, slots=True)
class PairReady:
    """Physical layer → link layer: a heralded pair (or measure-directly outcome).

    ``distribution`` is the pair's Bell-diagonal distribution by Bell index (Φ+, Ψ+, Φ−, Ψ−), as its emission's
    (:class:`~protocols.physical.hardware.Emitted`): its fidelity to the heralded ``bell_state`` is
    ``distribution[bell_state]``. ``outcome`` and ``basis`` are set for a measure-directly pair."""

    link_id: int
    slot: int
    qubit_id: int
    bell_state: BellState
    attempt_seq: int
    attempts: int
    emission_time: int
    distribution: BellDistribution
    outcome: int | None
    basis: Basis | None

    count = 1
    """Pairs this event delivers (a :class:`BlockReady` delivers many): a class attribute, not a field (read
    several times a pair: a plain look-up instead of a property's call)."""


@dataclass(frozen=True, slots=True, eq=False)
class BlockReady:
    """Physical layer → link layer: a block of measure-directly pairs, heralded by one BATCH.

    ``bells`` is the Bell state the station announced for each pair, ``outcomes`` this end's outcome of each
    (packed, ``numpy.packbits``), ``bases`` its basis of each; ``attempt_seq`` is the block's first attempt
    (it names the block as an attempt names a pair), ``emission_time`` its last emission.
    """

    link_id: int
    attempt_seq: int
    attempts: int
    emission_time: int
    distribution: BellDistribution
    bells: np.ndarray
    outcomes: np.ndarray
    bases: np.ndarray
    slot: int = -1
    outcome: int | None = 0
    """Not None: like a measured pair, the block holds no qubit."""
    bell_plane: bytes | None = None
    """``bells`` packed as in the BATCH (2 bits each), if known: the OK-MB carries them on unchanged."""

    @property
    def count(self) -> int:
        return len(self.bells)


@dataclass(frozen=True, slots=True)
class AttemptLost:
    """Physical layer → link layer: no herald came in time; the qubit (or the block's qubits) was discarded."""

    link_id: int
    attempt_seq: int
    count: int = 1
