"""The circuit report's ``tvd_expected``: the TVD two samples show on average when both come from one
distribution, given their pooled outcomes. Oracle: random splits of the pooled shots into two samples of the
same sizes (seeded), averaged. The normal approximation it replaces said 0.80 for samples of 200 outcomes seen
once each, where every split gives TVD 1 (a random 20-qubit Clifford circuit's report: TVD 1.0000, "expected
0.7969 if equal", as if the execution were wrong)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from protocols.apps.dqc import expected_total_variation, total_variation


def _split_average(a: Counter[str], b: Counter[str], rounds: int = 4000) -> tuple[float, float]:
    pooled = np.array([k for k, n in sorted((a + b).items()) for _ in range(n)])
    na = sum(a.values())
    rng = np.random.default_rng(11)
    tvds = []
    for _ in range(rounds):
        order = rng.permutation(len(pooled))
        tvds.append(total_variation(Counter(pooled[order[:na]].tolist()), Counter(pooled[order[na:]].tolist())))
    return float(np.mean(tvds)), float(np.std(tvds) / math.sqrt(rounds))


@pytest.mark.parametrize(("a", "b"), [
    (Counter({format(i, "08b"): 1 for i in range(200)}), Counter({format(i, "09b"): 1 for i in range(200)})),
    (Counter({"00": 40, "01": 7, "10": 2, "11": 1}), Counter({"00": 35, "01": 9, "10": 3, "11": 1, "x": 2})),
    (Counter({str(i): 1 + i % 3 for i in range(30)}), Counter({str(i): 2 for i in range(10, 45)})),
])
def test_the_expected_tvd_is_that_of_random_splits_of_the_pooled_shots(a: Counter[str], b: Counter[str]) -> None:
    mean, error = _split_average(a, b)
    assert abs(expected_total_variation(a, b) - mean) <= 4 * error + 1e-9


def test_samples_of_outcomes_seen_once_each_are_expected_to_share_none() -> None:
    a = Counter({format(i, "020b"): 1 for i in range(200)})
    b = Counter({format(i + 200, "020b"): 1 for i in range(200)})
    assert expected_total_variation(a, b) == pytest.approx(1.0) == total_variation(a, b)
