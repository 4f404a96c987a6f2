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

The uniforms the medium draws (memory twirls, a move's gate noise, readout flips, a swap's noise) come from
:func:`uniforms`: the value ``Generator.random()`` returns, for about half its instructions.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable

import numpy as np

from protocols.physical.physics import memory_pauli_probabilities
from stack.quantum.state import TIMES, NodeHardware, Qubit
from stack.quantum.swap import PauliProbabilities

_HOLDING_GIL = ctypes.PYFUNCTYPE(ctypes.c_double, ctypes.c_void_p)
"""A C ``double f(void *)`` called with the GIL held (a bit generator's ``next_double`` takes a few instructions)."""
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
    channel (pX, pY, pZ).

    It runs for every half measured, moved or Bell-measured, so :func:`channel` (its look-up; a miss calls it),
    :func:`stack.quantum.state.twirl` and :func:`stack.quantum.state.apply_pauli` are written out here;
    ``tests/test_medium_ops.py`` holds them equal (the twin medium draws through ``state.twirl`` and
    ``memory_pauli_probabilities``, and ``test_sample_is_channel_then_twirl`` compares the three directly)."""
    memo = node.channels                        # channel(), written out
    probabilities = memo.get(stored)
    if probabilities is None:
        probabilities = channel(node, stored)
    px, py, pz = probabilities
    if px + py + pz:
        draw = uniform()                        # state.twirl and apply_pauli, written out
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


def uniforms(rng: np.random.Generator) -> Callable[[], float]:
    """A function drawing what ``rng.random()`` would, leaving ``rng`` in the same state: ``Generator.random``
    (numpy/random/_generator.pyx, to ``random_standard_uniform_fill``) returns one ``next_double`` of the bit
    generator, which this calls directly through the bit generator's ctypes interface, keeping the GIL (a
    prototype of ``ctypes.PYFUNCTYPE`` at the same address): ~1.8 k instructions a draw against ~3.5 k (numpy's
    ``random`` builds a ``dtype`` and takes the generator's lock each call, so this is for one thread's use).
    The function holds the bit generator, whose state it points to, alive (``tests/test_medium_ops.py`` holds the
    two against each other).

    >>> a, b = np.random.default_rng(7), np.random.default_rng(7)
    >>> uniform = uniforms(b)
    >>> [uniform() for _ in range(3)] == [a.random() for _ in range(3)]
    True
    """
    interface = rng.bit_generator.ctypes
    address = ctypes.cast(interface.next_double, ctypes.c_void_p).value
    if not address:
        raise ValueError("the bit generator has no next_double")
    uniform = functools.partial(_HOLDING_GIL(address), interface.state.value)
    uniform.generator = rng.bit_generator       # type: ignore[attr-defined]  # its state lives as long as uniform
    return uniform
