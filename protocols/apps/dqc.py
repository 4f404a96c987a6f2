"""Executing a compiled distributed program (docs/compiler.md, "Execution"): the sans-IO parts.

- what a program's operations become on a node's hardware: every Clifford is written with the medium's gate
  set (H, S, CX) from its stabiliser tableau (stim's ``to_circuit("elimination")``, exact up to global
  phase); measurements and resets become a measurement in a basis followed by re-preparing the eigenstate
  (the medium frees a measured qubit; the circuit's qubit lives on in the state the outcome names);
- the refusal of programs the stabiliser medium cannot run (one line naming the operations);
- the statistics that compare the executed outcome distribution with the monolithic circuit's: total
  variation distance with its expectation under equal distributions, and the chi-square homogeneity test.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import cache

import numpy as np

from protocols.common import Basis

MEASURE_BASIS: dict[str, tuple[Basis, bool]] = {
    "M": (Basis.Z, False), "MX": (Basis.X, False), "MY": (Basis.Y, False),
    "MR": (Basis.Z, True), "MRX": (Basis.X, True), "MRY": (Basis.Y, True)}
"""A measurement's basis, and whether it resets the qubit (to the basis's +1 eigenstate) afterwards."""
RESET_BASIS = {"R": Basis.Z, "RX": Basis.X, "RY": Basis.Y}
PREPARE: dict[tuple[Basis, int], tuple[str, ...]] = {
    (Basis.Z, 0): (), (Basis.Z, 1): ("X",), (Basis.X, 0): ("H",), (Basis.X, 1): ("X", "H"),
    (Basis.Y, 0): ("H", "S"), (Basis.Y, 1): ("X", "H", "S")}
"""The gates that take |0⟩ to the eigenstate of a basis with an outcome (0: +1, 1: −1)."""


class NotExecutable(ValueError):
    """A program the stabiliser medium cannot run; the message is one line."""


class ExecutionFailed(RuntimeError):
    """An execution that did not complete (a QPU did not finish its program); the message is one line."""


def check_executable(non_clifford: Sequence[str]) -> None:
    """Refuse a program with non-Clifford operations (:class:`NotExecutable`, one line)."""
    if non_clifford:
        raise NotExecutable(f"the circuit has non-Clifford operations ({', '.join(non_clifford)}): it compiles "
                            "(qnet compile) but the emulated QPUs are a stabiliser simulator and cannot run it")


@cache
def medium_gates(name: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """A one- or two-qubit Clifford (stim name) as the medium's gates on operand indices (0, 1), equal up to
    global phase. Identity gates give nothing."""
    import stim

    if name in ("I", "II"):
        return ()
    steps: list[tuple[str, tuple[int, ...]]] = []
    for instruction in stim.Tableau.from_named_gate(name).to_circuit("elimination"):
        targets = [t.value for t in instruction.targets_copy()]
        width = 2 if instruction.name in ("CX", "CZ", "SWAP") else 1
        steps.extend((instruction.name, tuple(targets[i:i + width])) for i in range(0, len(targets), width))
    return tuple(steps)


def controlled_x(basis: str) -> str:
    """The ``basis``-controlled X (stim name): CX for Z, XCX, YCX."""
    return "CX" if basis == "Z" else f"{basis}CX"


# -- statistics ----------------------------------------------------------------------------------------------

def distribution(records: Sequence[Sequence[int]]) -> Counter[str]:
    """Counts of each measurement record (as a bit string, record 0 first)."""
    return Counter("".join(str(int(b)) for b in record) for record in records)


def total_variation(a: Counter[str], b: Counter[str]) -> float:
    """Total variation distance between the empirical distributions of two samples."""
    na, nb = sum(a.values()), sum(b.values())
    return 0.5 * sum(abs(a[k] / na - b[k] / nb) for k in sorted(set(a) | set(b)))  # sorted: one float in any process


def expected_total_variation(a: Counter[str], b: Counter[str]) -> float:
    """The TVD two samples of these sizes show on average when both come from one distribution, given what they
    saw together: each outcome's pooled count c split between them as a random split of the pooled shots would
    (a ~ hypergeometric: c of the N = n_a + n_b shots, n_a drawn), Σ_k ½ E|a/n_a − (c − a)/n_b|, exactly. The
    normal approximation at the pooled frequencies it replaces fails with many outcomes seen once each (a
    random Clifford state on 20 qubits): it gave 0.80 where two such samples of 200 share no outcome, TVD 1.

    >>> round(expected_total_variation(Counter({"0": 1, "1": 1}), Counter({"2": 1, "3": 1})), 12)   # all single
    1.0
    >>> round(expected_total_variation(Counter({"0": 1}), Counter({"0": 1})), 12)                # one outcome
    0.0
    """
    from scipy.stats import hypergeom

    na, nb = sum(a.values()), sum(b.values())
    counts = Counter(a[k] + b[k] for k in set(a) | set(b))         # how many outcomes have each pooled count
    total = 0.0
    for c in sorted(counts):                                      # sorted: one float in any process
        k = np.arange(max(0, c - nb), min(c, na) + 1)
        pmf = hypergeom.pmf(k, na + nb, c, na)
        total += counts[c] * 0.5 * float(np.dot(pmf, np.abs(k / na - (c - k) / nb)))
    return total


def homogeneity_p_value(a: Counter[str], b: Counter[str]) -> float:
    """The p-value of the chi-square test that two samples come from one distribution (1.0 when both saw a
    single outcome, the same one)."""
    from scipy.stats import chi2_contingency

    keys = sorted(set(a) | set(b))
    if len(keys) < 2:
        return 1.0
    _, p, _, _ = chi2_contingency([[a[k] for k in keys], [b[k] for k in keys]])
    return float(p)
