"""Entanglement distillation: closed forms of one round, of recurrence and pumping schedules, and a planner.

A round takes two pairs shared by the same two ends, the *kept* pair and the *sacrificed* pair. Each end
applies a CNOT from its qubit of the kept pair (control) to its qubit of the sacrificed pair (target) and
measures the target in Z; the two ends exchange their outcomes and keep the kept pair when the parity of
the outcomes is the one its tracked state predicts (issue 14; the bilateral XOR of Bennett, Brassard,
Popescu, Schumacher, Smolin, Wootters, "Purification of noisy entanglement and faithful teleportation via
noisy channels", Phys. Rev. Lett. 76, 722 (1996): BBPSSW). DEJMPS first rotates every qubit about X, by +π/2
at one end and −π/2 at the other (Deutsch, Ekert, Jozsa, Macchiavello, Popescu, Sanpera, "Quantum privacy
amplification and the security of quantum cryptography over noisy channels", Phys. Rev. Lett. 77, 2818
(1996)); BBPSSW instead twirls the kept pair back to Werner form after each round.

Everything is Bell-diagonal: four probabilities in qnetstack's Bell index ``x | z << 1``
(:class:`protocols.common.BellState`: 0 Φ+, 1 Ψ+, 2 Φ−, 3 Ψ−), relative to the tracked state, so index 0
is the fidelity. The bilateral CNOT maps the Bell indices (a, b) of the kept and sacrificed pair to
(x_a | (z_a ⊕ z_b) << 1, (x_a ⊕ x_b) | z_b << 1): the sacrificed pair's Z parity is x_a ⊕ x_b, so a round
keeps the pairs whose x bits agree and the survivor's phase is z_a ⊕ z_b. The DEJMPS rotation conjugates a
half's Pauli frame by R_x(±π/2): X stays, Z ↔ Y, i.e. it swaps Bell indices 2 and 3 (Φ− ↔ Ψ−).

The issue writes DEJMPS with (A, B, C, D) = (Φ+, Ψ−, Ψ+, Φ−), which are **our indices (0, 3, 1, 2)**, so
``(A, B, C, D) = (p[0], p[3], p[1], p[2])``; its map is this module's :func:`dejmps`.

Noise at the two ends (Dür, Briegel, Cirac, Zoller, "Quantum repeaters based on entanglement purification",
Phys. Rev. A 59, 169 (1999), and Dür, Briegel, "Entanglement purification and quantum error correction",
Rep. Prog. Phys. 70, 1381 (2007), model imperfect local operations the same way): each end's two-qubit
operation is followed by its depolarising channel ρ → f·ρ + (1 − f)·I/4 ⊗ tr_local ρ, and each end's
outcome flips with probability ε = 1 − readout fidelity. If either end depolarises, the two pairs are
maximally mixed together (I/16), so the two-pair state before the measurement is f_a f_b·ρ + (1 − f_a f_b)·I/16;
a parity check keeps 2 of the 16 terms per output state, so every unnormalised output coefficient is
f_a f_b·(ideal) + (1 − f_a f_b)/8 and the success probability f_a f_b·(ideal) + (1 − f_a f_b)/2. The reported
parity is wrong with probability q = ε_a(1 − ε_b) + ε_b(1 − ε_a), which keeps the mismatched terms with
weight q (derived here; ``tests/test_distillation.py`` checks it against a density-matrix simulation).

>>> r = bbpssw_werner(0.9, 0.9)
>>> round(r.success_probability, 6), round(r.fidelity, 6)
(0.875556, 0.926396)
>>> [round(p, 4) for p in dejmps((0.7, 0.0, 0.3, 0.0), (0.7, 0.0, 0.3, 0.0)).output]
[0.8448, 0.1552, 0.0, 0.0]
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from protocols.common import DistillProtocol
from protocols.network.model import UNIFORM, werner
from protocols.physical.hardware import BellDistribution

ROTATED = (0, 1, 3, 2)
"""The DEJMPS rotation on a Bell index: Φ− ↔ Ψ− (x stays, z ^= x)."""


@dataclass(frozen=True, slots=True)
class RoundNoise:
    """The operations of one round at its two ends: the depolarising fidelity of each end's CNOT (with the
    DEJMPS rotation) and the readout fidelity of each end's Z measurement."""

    gate_fidelity: tuple[float, float] = (1.0, 1.0)
    readout_fidelity: tuple[float, float] = (1.0, 1.0)

    @classmethod
    def symmetric(cls, gate_fidelity: float = 1.0, readout_fidelity: float = 1.0) -> RoundNoise:
        """Both ends with the same hardware."""
        return cls((gate_fidelity, gate_fidelity), (readout_fidelity, readout_fidelity))

    @property
    def kept(self) -> float:
        """f_a·f_b: the probability that neither end's gate depolarised."""
        return self.gate_fidelity[0] * self.gate_fidelity[1]

    @property
    def parity_flip(self) -> float:
        """q: the probability that exactly one end misreads its outcome."""
        ea, eb = 1 - self.readout_fidelity[0], 1 - self.readout_fidelity[1]
        return ea * (1 - eb) + eb * (1 - ea)


NO_NOISE = RoundNoise()


@dataclass(frozen=True, slots=True)
class Round:
    """One branch of a round: its probability and the kept pair's distribution given that branch."""

    success_probability: float
    output: BellDistribution

    @property
    def fidelity(self) -> float:
        return self.output[0]


def rotate(dist: BellDistribution) -> BellDistribution:
    """The DEJMPS rotation of both halves: the probabilities of Φ− and Ψ− (indices 2, 3) exchanged."""
    return (dist[0], dist[1], dist[3], dist[2])


def twirl(dist: BellDistribution, about: int = 0) -> BellDistribution:
    """The Werner twirl about Bell index ``about``: its probability stays, the other three share the rest.

    >>> [round(p, 12) for p in twirl((0.1, 0.7, 0.2, 0.0), about=1)]
    [0.1, 0.7, 0.1, 0.1]
    """
    other = (1 - dist[about]) / 3
    return tuple(dist[about] if k == about else other for k in range(4))  # type: ignore[return-value]


def bilateral_cnot_indices(keep: int, sacrifice: int) -> tuple[int, int]:
    """The Bell indices of the kept and the sacrificed pair after the bilateral CNOT.

    >>> bilateral_cnot_indices(1, 2)        # Ψ+ kept, Φ− sacrificed: the survivor takes the phase
    (3, 3)
    """
    return (keep & 1) | ((keep ^ sacrifice) & 2), ((keep ^ sacrifice) & 1) | (sacrifice & 2)


def tracked_round(protocol: DistillProtocol, keep: int, sacrifice: int) -> tuple[int, int]:
    """(parity the round's two outcomes must have to keep, the kept pair's tracked Bell index afterwards),
    from the tracked indices of the kept and the sacrificed pair.

    >>> tracked_round(DistillProtocol.BBPSSW, 1, 2)       # Ψ+ kept with Φ−: x differs, z adds
    (1, 3)
    """
    if protocol == DistillProtocol.DEJMPS:
        keep, sacrifice = ROTATED[keep], ROTATED[sacrifice]
    survivor, sacrificed = bilateral_cnot_indices(keep, sacrifice)
    return sacrificed & 1, survivor


def parity_branches(keep: BellDistribution, sacrifice: BellDistribution,
                    noise: RoundNoise = NO_NOISE) -> tuple[Round, Round]:
    """The bilateral CNOT (no rotation, no twirl) on Bell-diagonal pairs: for reported parity 0 and 1, its
    probability and the kept pair's distribution given it. Relative to tracked Φ+ pairs, branch 0 is success;
    on absolute distributions (as the medium holds them) branch r is the round that reported parity r. A
    branch of probability 0 has the uniform distribution."""
    ideal = [[0.0] * 4, [0.0] * 4]
    for a in range(4):
        for b in range(4):
            survivor, sacrificed = bilateral_cnot_indices(a, b)
            ideal[sacrificed & 1][survivor] += keep[a] * sacrifice[b]
    kept, flip = noise.kept, noise.parity_flip
    branches = []
    for parity in (0, 1):
        joint = [kept * ((1 - flip) * ideal[parity][k] + flip * ideal[1 - parity][k]) + (1 - kept) / 8
                 for k in range(4)]
        total = sum(joint)
        output = tuple(p / total for p in joint) if total > 0 else UNIFORM
        branches.append(Round(total, output))  # type: ignore[arg-type]
    return branches[0], branches[1]


def bilateral_cnot(keep: BellDistribution, sacrifice: BellDistribution, noise: RoundNoise = NO_NOISE) -> Round:
    """A round with neither rotation nor twirl (BBPSSW's step without its twirl), relative to tracked states."""
    return parity_branches(keep, sacrifice, noise)[0]


def bbpssw(keep: BellDistribution, sacrifice: BellDistribution, noise: RoundNoise = NO_NOISE) -> Round:
    """BBPSSW: the bilateral CNOT, and the kept pair twirled back to Werner form."""
    result = bilateral_cnot(keep, sacrifice, noise)
    return Round(result.success_probability, twirl(result.output))


def bbpssw_werner(f1: float, f2: float, noise: RoundNoise = NO_NOISE) -> Round:
    """BBPSSW on Werner pairs of fidelities F1 (kept) and F2. Without noise (issue 14's oracle):
    p = F1F2 + [F1(1 − F2) + F2(1 − F1)]/3 + 5(1 − F1)(1 − F2)/9, F' = [F1F2 + (1 − F1)(1 − F2)/9]/p."""
    return bbpssw(werner(f1), werner(f2), noise)


def dejmps(keep: BellDistribution, sacrifice: BellDistribution, noise: RoundNoise = NO_NOISE) -> Round:
    """DEJMPS: the rotation on both pairs, then the bilateral CNOT. Without noise, in the issue's
    (A, B, C, D) = (Φ+, Ψ−, Ψ+, Φ−): N = (A₁+B₁)(A₂+B₂) + (C₁+D₁)(C₂+D₂), A' = (A₁A₂ + B₁B₂)/N,
    B' = (C₁D₂ + D₁C₂)/N, C' = (C₁C₂ + D₁D₂)/N, D' = (A₁B₂ + B₁A₂)/N."""
    return bilateral_cnot(rotate(keep), rotate(sacrifice), noise)


def distill(protocol: DistillProtocol, keep: BellDistribution, sacrifice: BellDistribution,
           noise: RoundNoise = NO_NOISE) -> Round:
    """One successful round of ``protocol`` (BBPSSW twirls, DEJMPS rotates), relative to tracked states."""
    if protocol == DistillProtocol.DEJMPS:
        return dejmps(keep, sacrifice, noise)
    return bbpssw(keep, sacrifice, noise)


# -- schedules ------------------------------------------------------------------------------------------
class Schedule(enum.Enum):
    """Which pairs a round combines: two of the same level (recurrence), or the pair distilled so far with a
    fresh elementary pair (pumping; Dür, Briegel, Cirac, Zoller 1999, Sec. IV)."""

    RECURRENCE = "recurrence"
    PUMPING = "pumping"


@dataclass(frozen=True, slots=True)
class Level:
    """A pair after ``rounds`` successful rounds: its distribution, the last round's success probability and
    the expected number of elementary pairs consumed per such pair (failed rounds included)."""

    rounds: int
    output: BellDistribution
    success_probability: float
    expected_pairs: float

    @property
    def fidelity(self) -> float:
        return self.output[0]


def levels(elementary: BellDistribution, protocol: DistillProtocol, schedule: Schedule, rounds: int,
           noise: RoundNoise = NO_NOISE) -> list[Level]:
    """Levels 0..``rounds`` of a schedule on elementary pairs of distribution ``elementary``.

    A level-k pair needs a level-(k−1) kept pair and a sacrificed pair (a level-(k−1) one in recurrence, an
    elementary one in pumping); a failure loses both, and the attempt starts again from fresh pairs, so the
    expected elementary pairs are E_k = 2·E_{k−1}/p_k (recurrence) or (E_{k−1} + 1)/p_k (pumping), E_0 = 1.

    >>> [round(level.fidelity, 4) for level in levels((0.7, 0.0, 0.3, 0.0), DistillProtocol.DEJMPS,
    ...                                              Schedule.RECURRENCE, 2)]
    [0.7, 0.8448, 0.9674]
    """
    out = [Level(0, elementary, 1.0, 1.0)]
    for k in range(1, rounds + 1):
        previous = out[-1]
        sacrificed = previous.output if schedule == Schedule.RECURRENCE else elementary
        result = distill(protocol, previous.output, sacrificed, noise)
        cost = 2 * previous.expected_pairs if schedule == Schedule.RECURRENCE else previous.expected_pairs + 1
        expected = cost / result.success_probability if result.success_probability > 0 else math.inf
        out.append(Level(k, result.output, result.success_probability, expected))
    return out


# -- the planner ----------------------------------------------------------------------------------------
MAX_ROUNDS = 15
"""The most rounds a policy may have (4 bits on the wire)."""
DEFAULT_MAX_PAIRS = 1024.0


@dataclass(frozen=True, slots=True)
class Policy:
    """How to distil a link's pairs: ``rounds`` rounds of ``protocol`` in ``schedule`` (0 rounds: none is
    needed; protocol and schedule are then None), the fidelity it reaches and its expected elementary pairs
    per output pair."""

    protocol: DistillProtocol | None
    schedule: Schedule | None
    rounds: int
    fidelity: float
    expected_pairs: float


def plan(link: BellDistribution, target_fidelity: float, noise: RoundNoise = NO_NOISE,
         max_pairs: float = DEFAULT_MAX_PAIRS) -> Policy | None:
    """The policy that reaches ``target_fidelity`` from pairs of ``link``'s distribution (relative to their
    tracked state) with the fewest expected elementary pairs, at most ``max_pairs`` and :data:`MAX_ROUNDS`
    rounds; ties go to fewer rounds, then DEJMPS, then recurrence. None: no policy reaches it.

    >>> plan((0.95, 0.02, 0.02, 0.01), 0.9)
    Policy(protocol=None, schedule=None, rounds=0, fidelity=0.95, expected_pairs=1.0)
    >>> plan((0.7, 0.0, 0.3, 0.0), 0.99).protocol
    <DistillProtocol.DEJMPS: 2>
    """
    if link[0] >= target_fidelity:
        return Policy(None, None, 0, link[0], 1.0)
    candidates = []
    for protocol in (DistillProtocol.DEJMPS, DistillProtocol.BBPSSW):
        for order, schedule in enumerate(Schedule):
            for level in levels(link, protocol, schedule, MAX_ROUNDS, noise)[1:]:
                if level.expected_pairs > max_pairs:
                    break
                if level.fidelity >= target_fidelity:
                    key = (level.expected_pairs, level.rounds, protocol != DistillProtocol.DEJMPS, order)
                    candidates.append((key, Policy(protocol, schedule, level.rounds, level.fidelity,
                                                   level.expected_pairs)))
                    break
    return min(candidates, key=lambda c: c[0])[1] if candidates else None
