"""GHZ states across n QPUs by fusing pairs, and their measured fidelity.

The *center* shares a pair (corrected to |Φ+⟩) with each of the m = n − 1 *leaves*: halves h_1 … h_m at the
center, b_1 … b_m at the leaves. It keeps h_1 and fuses every other pair into it: CNOT h_1 → h_k, h_k measured
in Z (m_k), sent to leaf k, which applies X^m_k to b_k. The n qubits (h_1, b_1, …, b_m) are then in
(|0…0⟩ + |1…1⟩)/√2.

Fidelity: F = (1/2^n) Σ_S ⟨S⟩ over the 2^n elements of the GHZ stabiliser group. The Z-type elements (even
products of Z) are all measured at once in Z and sum to 2^(n−1)·P(all outcomes equal); each other element is
±(X or Y on every qubit) with an even number of Y and sign (−1)^(#Y/2), one measurement setting each. So

    F = P_equal/2 + 2^−n Σ_P sign(P)⟨P⟩,

each shot measuring one setting (the Z setting, then the 2^(n−1) X/Y settings, in turn).

On Werner pairs of fidelity F_p every Pauli error can be put on the leaf's half; an X or Y there leaves a
state orthogonal to GHZ, and Z's cancel in pairs (Z_i Z_j is a stabiliser), so the state is GHZ exactly when
no leaf has X or Y and an even number have Z: F_GHZ = [((2F_p + 1)/3)^m + ((4F_p − 1)/3)^m]/2 (the even part of
the binomial (a + b)^m with a = F_p, b = (1 − F_p)/3; m = 1 gives F_p). :func:`werner_ghz_fidelity`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import stack.api.checks as checks
from protocols.apps.intervals import Interval, linear_interval
from protocols.common import Basis
from stack.api.context import AppContext
from stack.api.exchange import exchange_of

MAX_PARTIES = 8


def werner_ghz_fidelity(pair_fidelity: float, leaves: int) -> float:
    """The GHZ fidelity of ``leaves`` Werner pairs of fidelity ``pair_fidelity`` fused at one center."""
    return werner_ghz_fidelity_of([pair_fidelity] * leaves)


def werner_ghz_fidelity_of(pair_fidelities: list[float]) -> float:
    """The same for pairs of different fidelities F_k: [Π(F_k + b_k) + Π(F_k − b_k)]/2, b_k = (1 − F_k)/3."""
    plus, minus = 1.0, 1.0
    for f in pair_fidelities:
        plus *= f + (1 - f) / 3
        minus *= f - (1 - f) / 3
    return (plus + minus) / 2


def settings(n: int) -> list[tuple[Basis, ...]]:
    """The measurement settings: all Z, then every X/Y pattern with an even number of Y."""
    xy = [tuple(Basis.Y if y else Basis.X for y in bits) for bits in itertools.product((0, 1), repeat=n)
          if sum(bits) % 2 == 0]
    return [(Basis.Z,) * n, *xy]


@dataclass(slots=True)
class GhzResult:
    """The center's tally: per setting, the outcome strings seen."""

    n: int
    outcomes: dict[tuple[Basis, ...], list[tuple[int, ...]]] = field(default_factory=dict)

    def fidelity(self) -> tuple[float, float]:
        """F and its standard error (module docstring; the error as :meth:`interval`'s). ValueError unless every
        setting was measured (at least 1 + 2^(n−1) shots)."""
        z = self.outcomes.get((Basis.Z,) * self.n, [])
        equal = sum(len(set(shot)) == 1 for shot in z) / len(z) if z else 0.0
        value = equal / 2
        for setting, shots in self._xy():
            sign = -1 if sum(b is Basis.Y for b in setting) % 4 == 2 else 1
            value += sign * sum(1 - 2 * (sum(shot) & 1) for shot in shots) / len(shots) / 2 ** self.n
        return value, self.interval().stderr

    def interval(self) -> Interval:
        """F's standard error and 95 % interval: F is linear in the share of all-equal Z shots and the shares of
        odd parities of the X/Y settings, so Price and Bonett's interval (:mod:`protocols.apps.intervals`) applies;
        from a few shots it is not ±0. ValueError unless every setting was measured."""
        z = self.outcomes.get((Basis.Z,) * self.n, [])
        if not z:
            raise ValueError("GHZ fidelity: the all-Z setting was not measured")
        terms = [(0.5, sum(len(set(shot)) == 1 for shot in z), len(z))]
        constant = 0.0
        for setting, shots in self._xy():
            sign = -1 if sum(b is Basis.Y for b in setting) % 4 == 2 else 1
            constant += sign / 2 ** self.n
            terms.append((-2 * sign / 2 ** self.n, sum(sum(shot) & 1 for shot in shots), len(shots)))
        return linear_interval(terms, constant)

    def _xy(self) -> list[tuple[tuple[Basis, ...], list[tuple[int, ...]]]]:
        missing = [s for s in settings(self.n) if not self.outcomes.get(s)]
        if missing:
            raise ValueError(f"GHZ fidelity: {len(missing)} of the {len(settings(self.n))} settings were not "
                             f"measured (at least {len(settings(self.n))} shots are needed for {self.n} parties)")
        return [(setting, self.outcomes[setting]) for setting in settings(self.n)[1:]]


async def ghz_center(ctx: AppContext, leaves: list[str], shots: int, service: str = "auto") -> GhzResult:
    """The center's part: ``shots`` GHZ states over itself and ``leaves`` (distinct QPUs), each measured in the
    next setting in turn (``shots`` 0 or more; leaf k of ``leaves`` is ``ghz_leaf``'s index k, from 1)."""
    checks.whole("shots", shots, 0)
    n = len(leaves) + 1
    if not 2 <= n <= MAX_PARTIES or len(set(leaves)) != len(leaves) or ctx.node in leaves:
        raise ValueError(f"a GHZ state needs 1 to {MAX_PARTIES - 1} distinct leaves other than the center")
    result, plan = GhzResult(n), settings(n)
    exchanges = [exchange_of(ctx, leaf) for leaf in leaves]
    for shot in range(shots):
        setting = plan[shot % len(plan)]
        halves = [(await ctx.epr_socket(leaf, service).create_one()).slot for leaf in leaves]
        fusion = [0] * len(leaves)
        for k in range(1, len(leaves)):
            ctx.gate("CNOT", halves[0], halves[k])
            fusion[k] = await ctx.measure(halves[k], Basis.Z)
        for exchange, bit in zip(exchanges, fusion, strict=True):
            await exchange.swap(exchange.tag(), bytes([bit]))
        mine = await ctx.measure(halves[0], setting[0])
        theirs = [(await exchange.swap(exchange.tag(), b""))[0] for exchange in exchanges]
        result.outcomes.setdefault(setting, []).append((mine, *theirs))
    return result


async def ghz_leaf(ctx: AppContext, center: str, index: int, parties: int, shots: int,
                   service: str = "auto") -> None:
    """Leaf ``index`` (1 …) of a ``parties``-qubit GHZ state made by ``center``: its half, the fusion
    correction, its measurement in the shot's setting, the outcome to the center. ``parties`` (2 to 8) and
    ``shots`` must be the center's (its leaves plus one, its shots); ValueError for an ``index`` that is not
    from 1 to ``parties`` − 1."""
    checks.whole("shots", shots, 0)
    if not isinstance(parties, int) or not 2 <= parties <= MAX_PARTIES:
        raise ValueError(f"ghz_leaf: parties must be from 2 to {MAX_PARTIES} (the center and its leaves), "
                         f"got {parties!r}")
    if not isinstance(index, int) or not 1 <= index < parties:
        raise ValueError(f"ghz_leaf: index must be from 1 to {parties - 1} (parties - 1), got {index!r}")
    plan = settings(parties)
    exchange = exchange_of(ctx, center)
    for shot in range(shots):
        half = (await ctx.epr_socket(center, service).recv_one()).slot
        if (await exchange.swap(exchange.tag(), b""))[0]:
            ctx.gate("X", half)
        outcome = await ctx.measure(half, plan[shot % len(plan)][index])
        await exchange.swap(exchange.tag(), bytes([outcome]))
