"""Bell-state measurement of two qubits of one node: entanglement swapping on Pauli frames.

Measuring qubit qa (of pair A, far half fa) and qb (of pair B, far half fb) in the Bell basis with outcome m
leaves fa and fb in the Bell state ``index(A) ⊕ index(B) ⊕ m``: a Pauli on qa or qb moves through the
measurement onto the outcome, and |Φ+⟩|Φ+⟩ = ½ Σ_k |B_k⟩|B_k⟩ (up to phases). The circuit is CNOT a→b, H on
a, then Z measurements: the target's outcome is the index's x bit, the control's its z bit.

Noise, every part a Pauli channel, so the new pair's Bell-diagonal distribution is an XOR-convolution
(:func:`protocols.physical.physics.xor_convolve`): the memory noise of qa and qb, sampled by the medium
before this module runs; the CNOT's two-qubit depolarising noise G(f) = f·δ0 + (1 − f)·U4 (a uniformly
random Pauli of the 16, identity included, with probability 1 − f, shifts the index uniformly); and
independent readout flips of the two outcomes, R(ε) = ((1 − ε)², ε(1 − ε), ε(1 − ε), ε²) in index order
(0, x, z, xz). The measurement fails with probability 1 − ``bsm_success``: the far halves are then left in
fresh, independent, maximally mixed states.

When a far half was measured already, the outcome m is drawn so the joint statistics equal measuring it
after the swap (its outcome is ``pair.first``, and the new pair inherits it):

- at most one far half measured, or both in different bases: m is uniform over the 4, independent of the
  far outcomes (qa, qb's reduced state is maximally mixed given any one far outcome);
- both measured in the same basis P with outcomes oa, ob: m is uniform over the two values for which the
  new pair's outcome parity in P, ``expected_parity(index(A) ⊕ index(B) ⊕ m, P)``, equals oa ⊕ ob.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from protocols.common import Basis
from protocols.physical import physics
from protocols.physical.hardware import BellDistribution
from stack.quantum.sampling import top_bits
from stack.quantum.state import (
    _INDEX,
    BELL_FRAMES,
    PAULIS,
    UNIFORM,
    NodeHardware,
    Pair,
    Qubit,
    apply_pauli,
    bell_index,
    frame_of_bell,
)

_new = object.__new__

PauliProbabilities = tuple[float, float, float]
"""(pX, pY, pZ) of a one-qubit Pauli channel."""


def gate_distribution(fidelity: float) -> BellDistribution:
    """The Bell-index shift of the two-qubit depolarising channel of ``fidelity``: f·δ0 + (1 − f)·U4.

    >>> gate_distribution(0.6)
    (0.7, 0.1, 0.1, 0.1)
    """
    other = (1 - fidelity) / 4
    return (fidelity + other, other, other, other)


def readout_distribution(error: float) -> BellDistribution:
    """The shift of the reported index when each of the two outcomes flips independently w.p. ``error``.

    >>> readout_distribution(0.5)
    (0.25, 0.25, 0.25, 0.25)
    """
    return ((1 - error) ** 2, error * (1 - error), error * (1 - error), error ** 2)


def swapped_distribution(a: BellDistribution, b: BellDistribution, gate_fidelity: float, readout_error: float,
                         reported: int) -> BellDistribution:
    """The new pair's distribution: a ⊛ b ⊛ G(f) ⊛ R(ε), relabelled by the reported outcome.

    ``a`` and ``b`` are the input pairs' distributions after the memory noise of the measured halves.

    Only tests call it, as an oracle: :func:`bell_measure` writes it out (once a swap), and
    ``tests/test_medium_ops.py`` holds the two equal.
    """
    return physics.relabel(physics.xor_convolve(physics.xor_convolve(a, b), _noise(gate_fidelity, readout_error)),
                           reported)


@functools.lru_cache(maxsize=256, typed=True)
def _noise(gate_fidelity: float, readout_error: float) -> BellDistribution:
    """G(f) ⊛ R(ε), the same for every swap at a node."""
    return physics.xor_convolve(gate_distribution(gate_fidelity), readout_distribution(readout_error))


def true_outcome(shift: int, first_a: tuple[Basis, int] | None, first_b: tuple[Basis, int] | None,
                 rng: np.random.Generator) -> int:
    """The Bell measurement's true outcome, given ``shift`` = index(A) ⊕ index(B) and the far halves'
    outcomes so far (module docstring)."""
    if first_a is not None and first_b is not None and first_a[0] == first_b[0]:
        parity, basis = first_a[1] ^ first_b[1], int(first_a[0])
        allowed = [m for m in range(4) if physics.expected_parity(shift ^ m, basis) == parity]
        return allowed[top_bits(rng, 1)]               # int(rng.integers(2)), cheaply
    return top_bits(rng, 2)                            # int(rng.integers(4))


def bell_measure(node: NodeHardware, qubits: tuple[Qubit, Qubit], memory: tuple[PauliProbabilities, ...],
                 far: tuple[Qubit | None, Qubit | None], rng: np.random.Generator,
                 uniform: Callable[[], float] | None = None) -> tuple[int, bool]:
    """Bell-measure two qubits already taken out of memory, whose memory noise (``memory``, the channels
    sampled) is in their frames; re-pair their ``far`` halves. Returns (reported index, success). ``uniform``
    draws what ``rng.random()`` would (the medium's cheaper one, :class:`stack.quantum.medium.Medium`)."""
    if uniform is None:
        uniform = rng.random
    qa, qb = qubits
    if node.gate_fidelity < 1 and uniform() >= node.gate_fidelity:
        draw = top_bits(rng, 4)                    # int(rng.integers(16)), cheaply
        apply_pauli(qa, PAULIS[draw >> 2])
        apply_pauli(qb, PAULIS[draw & 3])
    pa, pb = qa.pair, qb.pair
    one_pair = pa is pb                            # the two halves of one pair: no far halves
    if node.bsm_success < 1 and uniform() >= node.bsm_success:
        for half in () if one_pair else far:
            if half is not None:
                _join((half, None), top_bits(rng, 2), UNIFORM, None)
        return 0, False
    fidelity = node.readout_fidelity
    if one_pair:                                   # reads the pair's own Bell state
        return _flips(bell_index(pa.frame), fidelity, uniform), True
    shift = _INDEX[pa.frame] ^ _INDEX[pb.frame]    # bell_index() of each
    first_a, first_b = pa.first, pb.first
    # true_outcome(), inline when a far half is unmeasured (m uniform: int(rng.integers(4)), cheaply)
    outcome = top_bits(rng, 2) if first_a is None or first_b is None else true_outcome(shift, first_a, first_b, rng)
    reported = _flips(outcome, fidelity, uniform) if fidelity < 1 else outcome
    far_a, far_b = far
    if far_a is None or far_b is None:             # a half with no partner stays unentangled
        _join(far, shift ^ outcome, UNIFORM, first_a or first_b)
        return reported, True
    a, b = pa.distribution, pb.distribution        # swapped_distribution(), inline
    channel = memory[0]
    if channel[0] or channel[1] or channel[2]:     # _after(): an identity channel leaves it as it is
        a = physics.pauli_channel(a, *channel)
    channel = memory[1]
    if channel[0] or channel[1] or channel[2]:
        b = physics.pauli_channel(b, *channel)
    d = physics.xor_convolve(a, b)
    if node.gate_fidelity != 1 or fidelity != 1:   # G(1) ⊛ R(0) is the identity shift (1, 0, 0, 0)
        d = physics.xor_convolve(d, _noise(node.gate_fidelity, 1 - fidelity))
    pair = _new(Pair)                              # _join(), inline: Pair(frame, distribution, first, members)
    pair.frame = BELL_FRAMES[shift ^ outcome]
    pair.distribution = (d[reported], d[1 ^ reported], d[2 ^ reported], d[3 ^ reported])    # physics.relabel
    pair.first = first_a or first_b
    pair.members = [far_a.qubit_id, far_b.qubit_id]
    far_a.pair, far_a.side = pair, 0
    far_b.pair, far_b.side = pair, 1
    return reported, True


def _read_out(outcome: int, fidelity: float, rng: np.random.Generator) -> int:
    """The reported index: the target's readout (x bit) and the control's (z bit) each flip w.p. 1 − fidelity.

    :func:`bell_measure` calls :func:`_flips` (the medium's cheaper uniform) instead; this one is
    :mod:`stack.quantum.gates`' (the readout of a Bell measurement in a component), not only the tests'."""
    return _flips(outcome, fidelity, rng.random)


def _flips(outcome: int, fidelity: float, uniform: Callable[[], float]) -> int:
    """:func:`_read_out`, drawing with ``uniform`` (as ``rng.random``)."""
    if fidelity < 1:
        for bit in (1, 2):
            if uniform() >= fidelity:
                outcome ^= bit
    return outcome


def _join(halves: tuple[Qubit | None, Qubit | None], index: int, distribution: BellDistribution,
          first: tuple[Basis, int] | None) -> None:
    """Make ``halves`` (sides 0 and 1) one pair in Bell state ``index``."""
    pair = Pair(frame_of_bell(index), distribution, first,
                [half.qubit_id if half is not None else 0 for half in halves])
    for side, half in enumerate(halves):
        if half is not None:
            half.pair, half.side = pair, side
