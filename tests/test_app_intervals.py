"""The applications' error bars (qkd's QBER, chsh's S, teleport's and ghz's fidelity) from a few pairs: Price and
Bonett's interval (protocols.apps.intervals), not the binomial ±0 they gave before.

Oracle: exact coverage, summed over every outcome of the binomial samples behind each estimate (no simulation),
which must be near the nominal 95 % where the plain standard error's interval covers the truth almost never
from a pair or two. And a run with too few pairs for an estimate reports null and a "-", not a traceback.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import pytest

from protocols.apps.chsh import chsh_interval, correlator
from protocols.apps.intervals import Interval, linear_interval
from protocols.common import Basis
from stack.api.apps import TeleportResult
from stack.api.ghz import GhzResult, settings
from stack.api.scenario_apps import application_table, run_applications
from stack.scenario import ScenarioError, load_text

PROBABILITIES = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)


def _coverage(p: float, n: int, m: int, truth: float, interval: Callable[[Sequence[int]], tuple[float, float]]
              ) -> float:
    """P(the interval holds ``truth``) over every outcome of ``m`` binomial samples of ``n`` trials each."""
    total = 0.0
    for ks in itertools.product(range(n + 1), repeat=m):
        weight = math.prod(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in ks)
        low, high = interval(ks)
        total += weight * (low - 1e-12 <= truth <= high + 1e-12)
    return total


def _bounds(interval: Interval | None) -> tuple[float, float]:
    assert interval is not None
    return interval.low, interval.high


@pytest.mark.parametrize("n", [1, 2, 3, 5, 10, 30])
def test_the_qber_interval_covers_the_truth_from_a_few_revealed_bits(n: int) -> None:
    coverage = [_coverage(p, n, 1, p, lambda ks: _bounds(linear_interval([(1.0, ks[0], n)]))) for p in PROBABILITIES]
    assert min(coverage) >= 0.8 and sum(coverage) / len(coverage) >= 0.92, coverage
    if n == 1:                      # the plain √(e(1 − e)/n): [0, 0] whenever the bit agrees
        plain = _coverage(0.05, n, 1, 0.05, lambda ks: (ks[0] / n, ks[0] / n))
        assert plain < 0.06


@pytest.mark.parametrize("n", [1, 2, 3])
def test_the_teleport_interval_covers_the_truth_from_a_few_qubits_a_state(n: int) -> None:
    def interval(ks: Sequence[int]) -> tuple[float, float]:
        result = TeleportResult(right={name: [n - k, n] for name, k in zip("012345", ks, strict=True)})
        return _bounds(result.interval())

    coverage = [_coverage(p, n, 6, 1 - p, interval) for p in (0.0, 0.05, 0.1, 0.2, 0.3)]
    assert min(coverage) >= 0.7 and sum(coverage) / len(coverage) >= 0.88, coverage

    def plain(ks: Sequence[int]) -> tuple[float, float]:     # F ± 1.96·√(F(1 − F)/N), as the report gave
        f = 1 - sum(ks) / (6 * n)
        half = 1.96 * math.sqrt(f * (1 - f) / (6 * n))
        return f - half, f + half

    assert _coverage(0.05, n, 6, 0.95, plain) < min(coverage[1:3])


@pytest.mark.parametrize("n", [1, 2, 3, 5, 10])
def test_the_chsh_interval_covers_the_truth_from_a_few_pairs_a_basis(n: int) -> None:
    def interval(ks: Sequence[int]) -> tuple[float, float]:
        return _bounds(chsh_interval([1] * ks[0] + [0] * (n - ks[0]), [1] * ks[1] + [0] * (n - ks[1])))

    coverage = [_coverage(q, n, 2, 2 * math.sqrt(2) * abs(1 - 2 * q), interval) for q in (0.0, 0.02, 0.05, 0.1, 0.2)]
    assert min(coverage) >= 0.8 and sum(coverage) / len(coverage) >= 0.9, coverage
    e, plain = correlator([0] * n)
    assert (e, plain) == (1.0, 0.0) and chsh_interval([0] * n, [0] * n).stderr > 0


@pytest.mark.parametrize("n", [1, 2, 4])
def test_the_ghz_interval_covers_the_truth_from_a_few_shots_a_setting(n: int) -> None:
    """Three parties, five settings; each setting's outcome is the ideal one but for an error of probability p (a
    Z shot with unequal bits, an X/Y shot of the wrong parity), so F = (1 − p)/2 + 2^−3 · 4 · (1 − 2p) = 1 − 3p/2
    (the test took 1 − p, 0.1 off at p = 0.2, and still passed)."""
    plan = settings(3)

    def interval(ks: Sequence[int]) -> tuple[float, float]:
        result = GhzResult(3)
        result.outcomes[plan[0]] = [(0, 1, 0)] * ks[0] + [(0, 0, 0)] * (n - ks[0])
        for setting, k in zip(plan[1:], ks[1:], strict=True):
            ideal = 1 if sum(b is Basis.Y for b in setting) % 4 == 2 else 0    # odd parity where the sign is −1
            result.outcomes[setting] = [(1 - ideal, 0, 0)] * k + [(ideal, 0, 0)] * (n - k)
        return _bounds(result.interval())

    coverage = [_coverage(p, n, 5, 1 - 1.5 * p, interval) for p in (0.0, 0.05, 0.1, 0.2)]
    assert min(coverage) >= 0.85 and sum(coverage) / len(coverage) >= 0.9, coverage


def test_ghz_fidelity_needs_every_setting_measured() -> None:
    result = GhzResult(3, {settings(3)[0]: [(0, 0, 0)]})
    with pytest.raises(ValueError, match="4 of the 5 settings were not measured"):
        result.fidelity()


SMALL = """
[run]
duration_ms = 2000.0
seed = 3
[nodes.a]
kind = "qpu"
communication_qubits = 2
[nodes.b]
kind = "qpu"
[nodes.c]
kind = "qpu"
[nodes.st]
kind = "station"
[links.ab]
a = "a"
b = "b"
station = "st"
length_km = 1.0
[links.ac]
a = "a"
b = "c"
station = "st"
length_km = 1.0
"""


def test_a_chsh_run_of_too_few_pairs_for_both_bases_reports_no_s_and_no_traceback() -> None:
    scenario = load_text(SMALL + '[[application]]\nkind = "chsh"\nnode = "a"\nremote = "b"\npairs = 1\n', "<chsh>")
    _, [entry] = run_applications(scenario, seed=3)
    assert entry["finished"] and entry["pairs_zz"] + entry["pairs_xx"] <= 1
    assert entry["s"] is entry["s_stderr"] is entry["s_low"] is entry["s_high"] is None
    assert application_table([entry])[-1].endswith(f"S = - ({entry['pairs_zz']} ZZ, {entry['pairs_xx']} XX)")


def test_a_ghz_entry_of_fewer_shots_than_settings_is_refused_when_read() -> None:
    text = SMALL + '[[application]]\nkind = "ghz"\nnode = "a"\nremotes = ["b", "c"]\nshots = 4\n'
    with pytest.raises(ScenarioError, match=r"application\[0\]\.shots: 4 shots cannot measure each of the 5 settings"):
        load_text(text, "<ghz>")
    _, [entry] = run_applications(load_text(text.replace("shots = 4", "shots = 5"), "<ghz>"), seed=3)
    assert entry["fidelity_low"] < entry["fidelity"] <= entry["fidelity_high"] and entry["fidelity_stderr"] > 0


def test_a_qkd_run_reports_its_qber_interval() -> None:
    scenario = load_text(SMALL + '[[application]]\nkind = "qkd"\nnode = "a"\nremote = "b"\npairs = 8\n', "<qkd>")
    _, [entry] = run_applications(scenario, seed=3)
    assert entry["sample"] >= 1
    k, n = round(entry["qber"] * entry["sample"]), entry["sample"]
    expected = linear_interval([(1.0, k, n)])
    assert (entry["qber_stderr"], entry["qber_low"], entry["qber_high"]) == (expected.stderr, expected.low,
                                                                            expected.high)
    assert entry["qber_stderr"] > 0 and entry["qber_high"] > entry["qber"]


def test_a_qkd_run_that_revealed_no_bit_claims_no_secret_key() -> None:
    """One pair: its sifted bit is kept as key, none is revealed, so the QBER is unknown; the report said key
    fraction 1.000 and 1 secret bit."""
    scenario = load_text(SMALL + '[[application]]\nkind = "qkd"\nnode = "a"\nremote = "b"\npairs = 1\n', "<qkd>")
    for seed in range(1, 20):
        _, [entry] = run_applications(scenario, seed=seed)
        if entry["sample"] == 0 and entry["key_bits"] == 1:
            break
    else:
        pytest.fail("no seed kept its one sifted bit as key")
    assert entry["qber"] is entry["qber_stderr"] is entry["key_fraction"] is None
    assert entry["secret_bits"] == entry["secret_bits_per_s"] == 0
    assert "QBER -, key fraction -, 0.0 secret bits/s" in application_table([entry])[-1]
