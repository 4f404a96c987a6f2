"""Measure-directly traffic in blocks: a block of heralded pairs sampled and measured at once, bit-packed.

A measure-directly pair is measured as soon as it exists, so its whole life is a few independent draws:
the attempts it took (geometric), how it was heralded (a component of the scheme's
:class:`~protocols.physical.schemes.HeraldModel`, and the Bell state the station's rule announces), its
true Bell state relative to the heralded one (the component's distribution), each end's basis, the
outcome of the first measurement (a fair coin), the second end's outcome (the parity the true state fixes
in a shared basis, another coin in a different one) and each end's readout error. :func:`sample_block`
draws a block of ``count`` such pairs with numpy: Pauli frames as bit-packed ``x`` and ``z`` planes (8
pairs a byte), outcomes as bit-packed planes too; the same distributions, draw for draw, as the per-pair
path of :mod:`stack.quantum.heralding` and :meth:`stack.quantum.medium.Medium.measure` (not the same random
stream: ``tests/test_batch.py`` holds the two against each other and against the closed forms). Each draw
costs a few nanoseconds a pair (:mod:`stack.quantum.bulk`): failure counts from 32-bit uniforms by a guide
table (most from their top 16 bits alone), coins as random words, the rare draws (a pair that is not the
dominant (component, Bell state), a readout error) by their positions only. Nothing is computed one byte a
pair but what a :class:`Block` holds that way (failure counts, heralded states, bases, whether genuine):
the frame is the heralded state's planes (constant bytes, or the station's packed coins) XOR the
relative state's (the dominant entry's constant, flipped at the others' positions), and the outcomes are
packed coins XOR the frame's parity plane XOR readout flips.

What the per-pair path has and a block does not: the memory noise of the half-nanosecond between a
qubit's creation and its readout (below 10⁻⁹ for any T2 above a microsecond), and a detection-window
check per attempt (a block is checked once, by the caller, with the clocks at its first attempt).

>>> bell = np.array([0, 1, 2, 3], dtype=np.uint8)     # parities of Φ+, Ψ+, Φ-, Ψ- in Z, X and Y
>>> x, z = np.packbits(bell & 1), np.packbits(bell >> 1)
>>> [np.unpackbits(parity_planes(np.full(4, b, dtype=np.uint8), x, z), count=4).tolist() for b in (0, 1, 2)]
[[0, 1, 0, 1], [0, 0, 1, 1], [1, 0, 0, 1]]
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from protocols.common import Basis, BellState
from stack.quantum import bulk
from stack.quantum.batch_law import RelativeLaw, relative_law
from stack.quantum.budget import LinkPhysics


@functools.lru_cache(maxsize=32)
def constant(count: int, value: int, dtype: type) -> np.ndarray:
    """``count`` copies of ``value``, read-only and shared: a block's per-pair arrays that hold one value
    (a fixed basis, one heralded state, every pair genuine) cost no pass over the block."""
    out: np.ndarray = np.full(count, value, dtype=dtype)
    out.flags.writeable = False
    return out


@dataclass(frozen=True, slots=True)
class BasisSpec:
    """One end's basis: fixed, or drawn per pair from ``choice`` ((basis, probability), ...)."""

    basis: Basis | None = None
    choice: tuple[tuple[Basis, float], ...] = ()

    def draw(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """The basis of each of ``count`` pairs (uint8: 0 Z, 1 X, 2 Y), as the per-pair path draws it."""
        if not self.choice:
            if self.basis is None:
                raise ValueError("a measure-directly block needs a basis at each end")
            return constant(count, int(self.basis), np.uint8)
        probabilities = np.array([p for _, p in self.choice])
        bases = np.array([int(b) for b, _ in self.choice] + [int(self.choice[-1][0])], dtype=np.uint8)
        return bases[np.searchsorted(np.cumsum(probabilities), rng.random(count), side="right")]


@dataclass(frozen=True, slots=True)
class Block:
    """A block of heralded, measured pairs. Bit planes are ``np.packbits`` of one bit per pair. The arrays are
    not to be written: those that hold one value are shared, read-only (:func:`constant`)."""

    link_id: int
    first_seq: int
    attempts: int
    failures: np.ndarray
    """Failed attempts before each success (uint64)."""
    heralded: np.ndarray
    """The Bell state the station announced for each pair (uint8, ``x | z << 1``)."""
    frame: tuple[np.ndarray, np.ndarray]
    """The true Bell state of each pair as packed x and z planes."""
    genuine: np.ndarray
    """Whether each pair is a true herald (bool; the others are heralded by false clicks or two photons)."""
    bases: tuple[np.ndarray, np.ndarray]
    """Each end's basis per pair (uint8)."""
    outcomes: tuple[np.ndarray, np.ndarray]
    """Each end's read-out outcome per pair, packed."""

    @property
    def count(self) -> int:
        return len(self.failures)

    @property
    def true_heralds(self) -> int:
        return int(self.genuine.sum())

    def attempt_seqs(self) -> np.ndarray:
        """The attempt sequence number of each success."""
        return np.uint64(self.first_seq) + np.cumsum(self.failures + np.uint64(1), dtype=np.uint64) - np.uint64(1)

    def outcome_bits(self, side: int) -> np.ndarray:
        return np.unpackbits(self.outcomes[side], count=self.count)

    def frame_x(self) -> np.ndarray:
        return np.unpackbits(self.frame[0], count=self.count)

    def frame_z(self) -> np.ndarray:
        return np.unpackbits(self.frame[1], count=self.count)

    def true_bell(self) -> np.ndarray:
        """The true Bell index of each pair (uint8)."""
        return self.frame_x() | self.frame_z() << 1


def heralded_states(physics: LinkPhysics, rng: np.random.Generator, count: int) -> np.ndarray:
    """The Bell state the station's rule announces for each success (the per-pair path's click draws):
    double-click Ψ+ when both rounds click the same detector (never with dead time), single-click Ψ+ on
    detector 0; Φ+ on links without a station."""
    return _heralds(physics, rng, count)[0]


def _heralds(physics: LinkPhysics, rng: np.random.Generator, count: int) -> tuple[np.ndarray, int, np.ndarray | int]:
    """:func:`heralded_states`, and their x and z planes: each a constant byte (every pair's bit the same)
    or, for z when the station's coins pick Ψ+ or Ψ-, the packed coins themselves."""
    if physics.scheme == "double-click" and not physics.same_detector:
        return constant(count, int(BellState.PSI_MINUS), np.uint8), 0xFF, 0xFF
    if physics.scheme in ("double-click", "single-click"):       # a fair coin each: Ψ+ (1) or Ψ- (3)
        coins = _bits(rng, count)
        return _COIN_STATES.take(coins).view(np.uint8)[:count], 0xFF, coins
    return constant(count, 0, np.uint8), 0, 0


_COIN_STATES = (np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1) << np.uint8(1) | np.uint8(1)).view(
    np.uint64).reshape(-1)
"""A byte of coins (most significant first) → the eight heralded states it picks (Ψ+ 1 for 0, Ψ- 3 for 1), as
the eight bytes of one uint64 (one gather a byte of coins)."""


def _bits(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` fair coins, packed (the padding bits are random too: callers mask them)."""
    size = -(-count // 8)                    # bytes; the generator's raw 64-bit words (rng.bytes costs ~8 us a call)
    return rng.bit_generator.random_raw(-(-size // 8)).view(np.uint8)[:size]


def _relative(law: RelativeLaw, rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each pair's true Bell state relative to the heralded one, as packed x and z planes (random padding
    when the dominant entry's bit is 1), and whether each pair is a true herald: the dominant (component,
    Bell index) everywhere, the others at their positions (:func:`stack.quantum.bulk.positions`)."""
    common = law.common
    genuine = constant(count, True, np.bool_) if law.only_true else np.full(count, bool(law.true[common]))
    where = bulk.positions(rng, law.rest, count)
    if not len(where):
        size = -(-count // 8)
        x = np.full(size, 0xFF if common & 1 else 0, dtype=np.uint8)
        return x, np.full(size, 0xFF if common & 2 else 0, dtype=np.uint8), genuine
    drawn = law.draw_others(rng, len(where))
    if not law.only_true:
        genuine[where] = law.true.take(drawn)
    differ = np.zeros(-(-count // 8) * 8, dtype=np.uint8)      # which bits differ from the dominant entry's
    differ[where] = drawn ^ common
    x, z = np.packbits(differ & np.uint8(1)), np.packbits(differ & np.uint8(2))
    if common & 1:
        np.invert(x, out=x)
    if common & 2:
        np.invert(z, out=z)
    return x, z, genuine


def parity_planes(bases: np.ndarray, x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """The packed parity of the two outcomes a Bell state fixes when both ends measure in ``bases``:
    Z gives x, X gives z, Y gives 1 ⊕ x ⊕ z (:func:`protocols.physical.physics.expected_parity`)."""
    in_z = np.packbits(bases == Basis.Z)
    in_x = np.packbits(bases == Basis.X)
    in_y = np.packbits(bases == Basis.Y)
    return (in_z & x) | (in_x & z) | (in_y & ~(x ^ z))


def _fixed_parity(basis: int, x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """:func:`parity_planes` when every pair is measured in ``basis`` at both ends."""
    if basis == Basis.Z:
        return x
    if basis == Basis.X:
        return z
    return ~(x ^ z)


def _second(rng: np.random.Generator, bases: tuple[BasisSpec, BasisSpec], basis_a: np.ndarray, basis_b: np.ndarray,
            first: np.ndarray, x: np.ndarray, z: np.ndarray, count: int) -> np.ndarray:
    """The second end's ideal outcomes: the parity the true state fixes in a shared basis, a coin otherwise."""
    fixed = [spec.basis if not spec.choice else None for spec in bases]
    if fixed[0] is not None and fixed[0] == fixed[1]:
        return first ^ _fixed_parity(int(fixed[0]), x, z)
    same = np.packbits(basis_a == basis_b)
    return (same & (first ^ parity_planes(basis_a, x, z))) | (~same & _bits(rng, count))


def sample_block(physics: LinkPhysics, rng: np.random.Generator, count: int, first_seq: int,
                 bases: tuple[BasisSpec, BasisSpec], readout: tuple[float, float] = (1.0, 1.0),
                 fit: Callable[[np.ndarray], int] | None = None) -> Block:
    """``count`` heralded pairs of ``physics``'s link from attempt ``first_seq`` on, measured at both ends.
    ``fit(failures)``, if given, says how many of the successes drawn so far the block may keep (the rest are
    not made: the attempts after its last kept success belong to the next block). Every draw is bulk
    (:mod:`stack.quantum.bulk`): failure counts by table, the rare non-dominant (component, Bell index) and
    readout errors by their positions, coins as random words; frames and outcomes are computed on packed
    planes (eight pairs a byte), never one byte a pair."""
    failures = bulk.failures(physics.model.success, rng, count)
    if fit is not None:
        count = max(1, min(count, fit(failures)))
        failures = failures[:count]
    heralded, herald_x, herald_z = _heralds(physics, rng, count)
    x, z, genuine = _relative(relative_law(physics.model), rng, count)
    x ^= np.uint8(herald_x)                                         # the true state: heralded ⊕ relative
    z ^= herald_z if isinstance(herald_z, np.ndarray) else np.uint8(herald_z)
    basis_a, basis_b = bases[0].draw(rng, count), bases[1].draw(rng, count)
    first = _bits(rng, count)
    second = _second(rng, bases, basis_a, basis_b, first, x, z, count)
    bulk.flip(rng, first, 1 - readout[0], count)                # readout errors, in place
    bulk.flip(rng, second, 1 - readout[1], count)
    tail = count % 8                                   # the planes' padding bits stay zero
    if tail:
        mask = np.uint8((0xFF << (8 - tail)) & 0xFF)
        for plane in (first, second, x, z):
            plane[-1] &= mask
    attempts = int(failures.sum(dtype=np.uint64)) + count
    return Block(physics.link_id, first_seq, attempts, failures, heralded, (x, z), genuine,
                 (basis_a, basis_b), (first, second))
