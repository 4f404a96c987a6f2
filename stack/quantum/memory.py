"""Memory noise: the Pauli twirl of T1/T2 over a qubit's storage time, sampled into its frame or its component.

A qubit's memory channel since its noise was last sampled (``Qubit.created``) is
:func:`protocols.physical.physics.memory_pauli_probabilities` of the storage time and its node's T1 and T2. It is
sampled when the qubit is measured, moved, gated or Bell-measured: one uniform draw, only when the channel is not
the identity, picks X (``draw < pX``), Y (``< pX + pY``), Z (``< pX + pY + pZ``) or nothing, as
:func:`stack.quantum.state.twirl` does.

The channel is memoised per node by storage time (:func:`channel`, ``NodeHardware.channels``): a chain asks
for a few hundred distinct storage times thousands of times, and a dict look-up by the time alone is cheaper
than the shared ``lru_cache`` of ``memory_pauli_probabilities`` (whose key is the three arguments and their
types). The values are the same: the function gives equal floats for an int and a float time of equal value.
"""

from __future__ import annotations

from collections.abc import Callable

from protocols.physical.physics import memory_pauli_probabilities
from stack.quantum.state import TIMES, NodeHardware, Qubit
from stack.quantum.swap import PauliProbabilities

MEMO_LIMIT = 4096
"""A node's memo of channels is emptied when it reaches this many storage times (as the ``lru_cache`` bound)."""


def channel(node: NodeHardware, stored: float) -> PauliProbabilities:
    """(pX, pY, pZ) of ``node``'s memory after ``stored`` ns, memoised in ``node.channels``.

    >>> node = NodeHardware(1, 1, t2_ns=1e6, readout_ns=0)
    >>> channel(node, 0), channel(node, 1e6) == memory_pauli_probabilities(1e6, float("inf"), 1e6)
    ((0.0, 0.0, 0.0), True)
    """
    memo = node.channels
    probabilities = memo.get(stored)
    if probabilities is None:
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        probabilities = memo[stored] = memory_pauli_probabilities(stored, node.t1_ns, node.t2_ns)
    return probabilities


def sample(node: NodeHardware, qubit: Qubit, stored: float, uniform: Callable[[], float]) -> PauliProbabilities:
    """Sample ``node``'s memory channel over ``stored`` ns into ``qubit`` (its half of its pair's frame, or its
    tableau component); ``uniform`` draws the one uniform, if the channel is not the identity. Returns the
    channel (pX, pY, pZ)."""
    memo = node.channels                        # channel(), inline
    probabilities = memo.get(stored)
    if probabilities is None:
        probabilities = channel(node, stored)
    px, py, pz = probabilities
    if px + py + pz:
        draw = uniform()                        # state.twirl and apply_pauli, inline
        if draw < px:
            pauli = "X"
        elif draw < px + py:
            pauli = "Y"
        elif draw < px + py + pz:
            pauli = "Z"
        else:
            return probabilities
        if qubit.component is not None:
            qubit.component.pauli(qubit, pauli)
        else:
            pair = qubit.pair
            pair.frame = TIMES[pauli][qubit.side][pair.frame]
    return probabilities
