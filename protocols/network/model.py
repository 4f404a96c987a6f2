"""Closed forms of the network layer's model: end-to-end Bell-diagonal states, cutoffs, goodness
(network-design §9.3–9.5). Waiting times (§9.6) are in :mod:`protocols.network.waiting`.

Every noise source is a Pauli channel, so a pair's state stays Bell-diagonal: four probabilities indexed by
the Bell index ``x | z << 1`` relative to the tracked state (index 0 is the fidelity). Composing Pauli
channels, and a swap of two Bell-diagonal pairs with perfect operations, is the XOR-convolution
``(a ⊛ b)[k] = Σ_{i⊕j=k} a[i]·b[j]`` (Bennett, DiVincenzo, Smolin, Wootters, "Mixed-state entanglement and
quantum error correction", Phys. Rev. A 54, 3824 (1996): Bell-diagonal states and their twirl). For Werner
pairs it reduces to multiplying Werner parameters w = (4F − 1)/3, the repeater-chain result of Dür, Briegel,
Cirac, Zoller, "Quantum repeaters based on entanglement purification", Phys. Rev. A 59, 169 (1999):
F = ¼ + ¾ ∏ wᵢ. A link pair's half that the link layer moves to a storage qubit goes through a one-qubit
depolarising gate (:func:`move_channel`), which multiplies w by the node's gate fidelity, as the Bell
measurement's two-qubit depolarising CNOT does (:func:`gate_channel`); the move's duration is storage time of
that half before the OK (:func:`move_waited`).

XOR-convolution is diagonalised by the characters χ_s(d) = Σ_k (−1)^{popcount(s & k)} d[k]:
χ(a ⊛ b) = χ(a)·χ(b), and the fidelity is the mean of the four characters. A memory of T1/T2 (the Pauli
twirl of :func:`protocols.physical.physics.memory_pauli_probabilities`, T2 ≤ 2·T1) has characters
(1, e^(−t/T1), e^(−t/T2), e^(−t/T2)), so the worst-case fidelity of a chain is a sum of four exponentials in
the cutoff τ, and the cutoff solver needs no convolutions.

>>> round(werner_chain_fidelity([0.9, 0.9]), 6)               # F1·F2 + (1 − F1)(1 − F2)/3
0.813333
>>> [round(p, 6) for p in chain_distribution([werner(0.9), werner(0.9)])]
[0.813333, 0.062222, 0.062222, 0.062222]
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import reduce

from protocols.physical.hardware import BellDistribution
from protocols.physical.physics import memory_pauli_probabilities, pauli_distribution, xor_convolve

PERFECT: BellDistribution = (1.0, 0.0, 0.0, 0.0)
"""The identity channel; a pair exactly in its tracked state."""
UNIFORM: BellDistribution = (0.25, 0.25, 0.25, 0.25)
"""The fully depolarising channel; the maximally mixed pair."""
Characters = tuple[float, float, float, float]


def characters(dist: BellDistribution) -> Characters:
    """χ_s = Σ_k (−1)^{popcount(s & k)} dist[k] for s = 0..3 (the Walsh–Hadamard transform)."""
    a, b, c, d = dist
    return (a + b + c + d, a - b + c - d, a + b - c - d, a - b - c + d)


def from_characters(chars: Characters) -> BellDistribution:
    """The distribution with the given characters (the inverse of :func:`characters`)."""
    a, b, c, d = chars
    return ((a + b + c + d) / 4, (a - b + c - d) / 4, (a + b - c - d) / 4, (a - b - c + d) / 4)


def werner(fidelity: float) -> BellDistribution:
    """The Werner pair of the given fidelity: the other three Bell states equally likely."""
    other = (1 - fidelity) / 3
    return (fidelity, other, other, other)


def werner_parameter(fidelity: float) -> float:
    """w = (4F − 1)/3: the weight of the pure state in a Werner pair (Dür et al. 1999)."""
    return (4 * fidelity - 1) / 3


def werner_chain_fidelity(fidelities: Iterable[float]) -> float:
    """End-to-end fidelity of swapping Werner pairs with perfect operations: F = ¼ + ¾ ∏ wᵢ."""
    return 0.25 + 0.75 * math.prod(werner_parameter(f) for f in fidelities)


def memory_channel(stored_ns: float, t1_ns: float, t2_ns: float) -> BellDistribution:
    """The Pauli twirl of T1/T2 on one half stored for ``stored_ns``, as a Bell-index flip distribution."""
    return pauli_distribution(*memory_pauli_probabilities(stored_ns, t1_ns, t2_ns))


def gate_channel(gate_fidelity: float) -> BellDistribution:
    """G(f) = f·δ₀ + (1 − f)·U: the two-qubit depolarising gate of a Bell measurement, on the output index."""
    mixed = (1 - gate_fidelity) / 4
    return (gate_fidelity + mixed, mixed, mixed, mixed)


def move_channel(gate_fidelity: float) -> BellDistribution:
    """M(f) = f·δ₀ + (1 − f)·U: a move of one half to a storage qubit, the one-qubit depolarising channel
    ρ ↦ fρ + (1 − f)·¼ Σ_P PρP (P ∈ {I, X, Y, Z}; Nielsen & Chuang, "Quantum Computation and Quantum
    Information", §8.3.4). A Pauli on one half of Bell state k gives Bell state k ⊕ index(P), and the four
    Paulis cover the four indices, so the index shifts uniformly with probability 1 − f: the same shift
    distribution as :func:`gate_channel`, characters (1, f, f, f). On a Werner pair it multiplies w by f."""
    return gate_channel(gate_fidelity)


def moved(distribution: BellDistribution, *gate_fidelities: float) -> BellDistribution:
    """A link pair after the link layer moved its halves to storage: D ⊛ M(f₁) ⊛ M(f₂) …, one M(f) per half
    moved, f the fidelity of the moving node's gates (1: not moved, M(1) is the identity)."""
    channels = [move_channel(f) for f in gate_fidelities if f < 1]
    return chain_distribution([distribution], channels) if channels else distribution


def move_waited(distribution: BellDistribution, *waits: tuple[Memory, float]) -> BellDistribution:
    """A link pair whose halves stayed in memory during their moves to storage: D ⊛ M_mem(t₁) ⊛ M_mem(t₂) …,
    one (memory, the move's duration) per half moved (0: not moved). The OK follows the move, so the move's
    duration is storage before the OK the link layer's option does not count (it counts one herald round
    trip); the medium applies the memory's twirl through the move (it samples it from the move's start)."""
    channels = [memory.channel(t) for memory, t in waits if t > 0]
    return chain_distribution([distribution], channels) if channels else distribution


def move_wait_ns(storage_qubits: int, move_ns: int) -> int:
    """How long a link pair's half at a node stays in memory moving to storage before its OK (0: no storage,
    no move)."""
    return move_ns if storage_qubits > 0 else 0


def move_fidelity(storage_qubits: int, gate_fidelity: float) -> float:
    """The f of :func:`move_channel` for each half a node's link layer holds: at a node with storage every
    create-and-keep link pair is moved there before its OK (:mod:`protocols.link.memory`; a distilling hop's
    pool moves those the link layer could not, :mod:`protocols.network.distil_pool`), a gate of the node's
    fidelity; without storage nothing is moved (1)."""
    return gate_fidelity if storage_qubits > 0 else 1.0


def readout_channel(error: float) -> BellDistribution:
    """R(ε) = ((1−ε)², ε(1−ε), ε(1−ε), ε²): each of the two readouts of a Bell measurement flips one bit of
    the reported index independently with probability ε = 1 − readout fidelity."""
    return ((1 - error) ** 2, error * (1 - error), error * (1 - error), error**2)


def swap_noise(gate_fidelity: float, readout_error: float) -> BellDistribution:
    """G(f) ⊛ R(ε): what an imperfect Bell measurement adds to the swapped pair."""
    return xor_convolve(gate_channel(gate_fidelity), readout_channel(readout_error))


def chain_distribution(links: Sequence[BellDistribution],
                       channels: Iterable[BellDistribution] = ()) -> BellDistribution:
    """D = D₁ ⊛ … ⊛ D_K ⊛ (every further Pauli channel): the end-to-end pair of a chain, exact for Pauli
    noise (network-design §9.3)."""
    return reduce(xor_convolve, (*links, *channels), PERFECT)


def memory_rates(t1_ns: float, t2_ns: float) -> Characters:
    """Decay rates (per ns) of a memory's characters: χ(M(t)) = exp(−t · rates)."""
    return (0.0, 0.0 if math.isinf(t1_ns) else 1 / t1_ns, 0.0 if math.isinf(t2_ns) else 1 / t2_ns,
            0.0 if math.isinf(t2_ns) else 1 / t2_ns)


@dataclass(frozen=True, slots=True)
class Memory:
    """A node's memory: amplitude damping T1 and dephasing T2 (ns; math.inf for none; T2 ≤ 2·T1)."""

    t1_ns: float = math.inf
    t2_ns: float = math.inf

    def channel(self, stored_ns: float) -> BellDistribution:
        return memory_channel(stored_ns, self.t1_ns, self.t2_ns)

    @property
    def rates(self) -> Characters:
        return memory_rates(self.t1_ns, self.t2_ns)


@dataclass(frozen=True, slots=True)
class Repeater:
    """What a repeater contributes to a chain: its memory and its Bell measurement (gate fidelity, readout
    fidelity, and ``bsm_ns``, how long its halves stay in memory during the measurement), and when its two
    halves (the left hop's, the right hop's) reach the network layer: ``confirm_ns``, each half's wait for
    the link layer's CONFIRM before its OK where this node is not the hop's master (the hop's one-way delay;
    0 at the master), storage the link option's state does not hold; ``herald_ns``, each half's time from
    emission to its herald (its hop's attempt cycle, up to a term common to both halves), which the option's
    state does hold: only the difference of the two OK times uses it."""

    memory: Memory = Memory()
    gate_fidelity: float = 1.0
    readout_fidelity: float = 1.0
    bsm_ns: int = 0
    confirm_ns: tuple[int, int] = (0, 0)
    herald_ns: tuple[int, int] = (0, 0)

    @property
    def ok_offset_ns(self) -> int:
        """OK of the left half minus OK of the right half for two halves heralded together."""
        return self.herald_ns[0] + self.confirm_ns[0] - self.herald_ns[1] - self.confirm_ns[1]

    @property
    def noise(self) -> BellDistribution:
        return swap_noise(self.gate_fidelity, 1 - self.readout_fidelity)


@dataclass(frozen=True, slots=True)
class Chain:
    """A path as the model sees it: the link pairs as the network layer gets them (relative to the heralded
    states: the link layer's option at the OK, after its moves to storage, :func:`moved`), the repeaters
    between them (one fewer), the two end memories, and ``latency_ns`` (L): how long after the
    last swap an end may still hold its half (the TRACK and CONFIRM legs, :func:`signalling_latency_ns`)."""

    links: tuple[BellDistribution, ...]
    repeaters: tuple[Repeater, ...]
    head: Memory = Memory()
    tail: Memory = Memory()
    latency_ns: int = 0

    def __post_init__(self) -> None:
        if not self.links or len(self.repeaters) != len(self.links) - 1:
            raise ValueError(f"a chain of {len(self.links)} links needs {len(self.links) - 1} repeaters, "
                             f"got {len(self.repeaters)}")

    def static_distribution(self) -> BellDistribution:
        """Links ⊛ swap noise: the chain with no storage time at all."""
        return chain_distribution(self.links, (r.noise for r in self.repeaters))


def signalling_latency_ns(hop_delays_ns: Sequence[int], bsm_ns: Sequence[int]) -> int:
    """L of τ_end = τ + L: the TRACK crossing every hop and every repeater's Bell measurement, then the
    CONFIRM back (bounded by the same hops' delays)."""
    return 2 * sum(hop_delays_ns) + sum(bsm_ns)


def _storage_terms(chain: Chain) -> list[tuple[Memory, bool, int]]:
    """Each half's longest storage under a cutoff τ as (memory, counts τ, fixed ns): τ·[counts τ] + fixed."""
    terms = [(chain.head, True, chain.latency_ns), (chain.tail, True, chain.latency_ns)]
    for repeater in chain.repeaters:
        left, right = repeater.confirm_ns
        terms += [(repeater.memory, True, repeater.bsm_ns + left), (repeater.memory, False, repeater.bsm_ns + right)]
    return terms


def worst_case_storage(chain: Chain, cutoff_ns: float) -> list[tuple[Memory, float]]:
    """Each half's longest storage under cutoff τ (network-design §9.4): at each repeater the earlier half
    waits at most τ for the later one (swap as soon as possible; the later one is swapped on arrival), both
    spend ``bsm_ns`` in the Bell measurement and each its CONFIRM wait before its OK (``confirm_ns``: τ counts
    from the OK); the end halves wait at most τ_end = τ + L."""
    return [(memory, (cutoff_ns if counts else 0.0) + fixed) for memory, counts, fixed in _storage_terms(chain)]


def worst_case_distribution(chain: Chain, cutoff_ns: float) -> BellDistribution:
    """D_e2e with every half stored for its longest time under cutoff τ. Every pair delivered under that
    cutoff is at least this good when every character of the chain is ≥ 0 (e.g. all link fidelities ≥ ½, all
    readout fidelities ≥ ½): then F_worst decreases monotonically in τ."""
    memories = (memory.channel(t) for memory, t in worst_case_storage(chain, cutoff_ns))
    return chain_distribution([chain.static_distribution()], memories)


def worst_case_fidelity(chain: Chain, cutoff_ns: float) -> float:
    """F_worst(τ) = D_e2e[0] with the storage of :func:`worst_case_storage`, by characters (exact, O(K))."""
    return WorstCase(chain).fidelity(cutoff_ns)


class WorstCase:
    """F_worst(τ) = ¼ Σ_s S_s · exp(−(A_s·τ + B_s)), with S the static characters of the chain and A, B the
    memories' decay rates summed over the halves' storage terms: each evaluation is four exponentials."""

    def __init__(self, chain: Chain) -> None:
        self.static = characters(chain.static_distribution())
        self.slope = [0.0] * 4
        self.offset = [0.0] * 4
        for memory, counts, fixed in _storage_terms(chain):
            for s, rate in enumerate(memory.rates):
                self.slope[s] += rate if counts else 0.0
                self.offset[s] += rate * fixed

    def relinked(self, static: Characters) -> WorstCase:
        """The same memories and storage with other static characters (other link options)."""
        other = copy.copy(self)
        other.static = static
        return other

    def fidelity(self, cutoff_ns: float) -> float:
        total = 0.0
        for s in range(4):
            decay = self.offset[s] + (self.slope[s] * cutoff_ns if self.slope[s] else 0.0)
            total += self.static[s] * math.exp(-decay)
        return total / 4


def solve_cutoff(minimum_fidelity: float, chain: Chain | WorstCase, upper_ns: float,
                 relative: float = 0.01) -> float | None:
    """The longest cutoff τ in [0, ``upper_ns``] with F_worst(τ) ≥ ``minimum_fidelity``, by bisection to
    ``relative`` precision (the answer is always on the feasible side); None when even τ = 0 falls short,
    and math.inf when no cutoff is needed (F_worst stays above the minimum for ever)."""
    worst = chain if isinstance(chain, WorstCase) else WorstCase(chain)
    if worst.fidelity(0.0) < minimum_fidelity:
        return None
    if worst.fidelity(math.inf) >= minimum_fidelity:
        return math.inf
    if worst.fidelity(upper_ns) >= minimum_fidelity:
        return upper_ns
    low, high = 0.0, upper_ns
    while high - low > max(relative * low, 1.0):
        middle = (low + high) / 2
        if worst.fidelity(middle) >= minimum_fidelity:
            low = middle
        else:
            high = middle
    return low


def goodness(d_mid: BellDistribution, stored_ns: float, own: Memory, peer: Memory) -> float:
    """An end's fidelity estimate at its OK (network-design §9.5): (D_mid ⊛ M_own(t) ⊛ M_peer(t))[0], with
    the peer's half assumed stored as long as this end's own (the link layer's simplification)."""
    return chain_distribution([d_mid], [own.channel(stored_ns), peer.channel(stored_ns)])[0]
