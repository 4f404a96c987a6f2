"""Emulated physics against closed forms, with tolerances from the sample statistics.

Each check allows 4 standard errors: a correct emulator fails one of these by chance
with probability ~6e-5 per check, and the seeds are fixed so CI is reproducible.
"""

from __future__ import annotations

import io
import itertools
import math

import pytest

from protocols.packets.heralding import Herald
from stack.report import disagreement, joined
from stack.runtime import run_scenario
from tests.fidelity_util import fidelity_and_sigma
from tests.pcap_util import read_pcap, udp_payloads
from tests.scenarios import two_qpus, workload

SIGMAS = 4


def eta(emission: float, length_km: float, attenuation: float, detector: float) -> float:
    """Probability a photon from one end is detected at the station (independent of our physics module)."""
    return emission * 10 ** (-attenuation * length_km / 10) * detector


@pytest.mark.parametrize("length_km", [2.0, 50.0])
def test_herald_success_probability_matches_barrett_kok(length_km: float) -> None:
    pairs = 2000
    scenario = two_qpus(length_km=length_km, workload=workload("measure", pairs))
    capture = io.BytesIO()
    run_scenario(scenario, pcap=capture)
    heralds = [Herald.decode(p) for dst, dport, p in udp_payloads(read_pcap(capture.getvalue()))
               if dport == 7770 and dst == "198.18.0.1"]
    assert len(heralds) == pairs
    attempts = sum(h.attempts for h in heralds)
    eta_one = eta(0.3, length_km / 2, 0.2, 0.9)
    expected = eta_one * eta_one / 2
    measured = len(heralds) / attempts
    stderr = math.sqrt(expected * (1 - expected) / attempts)
    assert abs(measured - expected) < SIGMAS * stderr, (measured, expected, stderr)


@pytest.mark.parametrize("basis", ["Z", "X"])
def test_measure_directly_disagreement_is_half_the_depolarising_probability(basis: str) -> None:
    # A depolarised pair is maximally mixed: outcomes disagree with the heralded Bell
    # state's correlation half of the time, so the error rate is p/2 in any basis.
    p, pairs = 0.1, 4000
    scenario = two_qpus(length_km=2.0, depolarizing=p, workload=workload("measure", pairs, basis))
    result = run_scenario(scenario)
    rates = disagreement(joined(result.emulation.workloads[0]))
    assert set(rates) == {basis}
    n, rate = rates[basis]["pairs"], rates[basis]["rate"]
    assert n == pairs
    expected = p / 2
    assert abs(rate - expected) < SIGMAS * math.sqrt(expected * (1 - expected) / n), (rate, expected)


def test_measure_directly_without_noise_is_perfectly_correlated() -> None:
    scenario = two_qpus(length_km=2.0, depolarizing=0.0, workload=workload("measure", 300, "X"))
    rates = disagreement(joined(run_scenario(scenario).emulation.workloads[0]))
    assert rates["X"] == {"pairs": 300, "rate": 0.0}


def test_kept_pairs_fidelity_matches_werner_and_dephasing_formula() -> None:
    # Keep: each end stores its qubit from emission until its OK and measures at once. The
    # master (alice) gets its OK with the herald (the round trip to the midpoint, plus half an
    # attempt: the herald follows the second round); bob gets his on alice's CONFIRM, one
    # end-to-end trip later. With T2 the Z-flip probability is q = (1 - exp(-t/T2))/2 per
    # qubit; the pair's phase flips if exactly one flips.
    p, t2_ns, length_km, pairs = 0.1, 0.2e6, 20.0, 3000
    scenario = two_qpus(length_km=length_km, depolarizing=p, t2_ms=t2_ns / 1e6,
                        workload=workload("keep", pairs))
    result = run_scenario(scenario)
    w = result.emulation.workloads[0]
    one_way = length_km * 1.468 / 299_792.458e-9
    stored_alice = one_way + 1000 / 2
    stored_bob = stored_alice + one_way
    q_alice, q_bob = ((1 - math.exp(-t / t2_ns)) / 2 for t in (stored_alice, stored_bob))
    f0 = 1 - 3 * p / 4

    def werner_after(q_pair: float) -> float:
        return f0 * (1 - q_pair) + (p / 4) * q_pair

    expected = werner_after(q_alice * (1 - q_bob) + q_bob * (1 - q_alice))
    fidelity, sigma = fidelity_and_sigma(w, expected)     # ~1,000 pairs a basis: sigma ≈ 0.012
    assert abs(fidelity - expected) < SIGMAS * sigma, (fidelity, expected, sigma)
    # alice's goodness is her estimate at her OK, both halves stored as long as hers
    goodness = sum(r.goodness for r in w.origin.records) / len(w.origin.records)
    assert goodness == pytest.approx(werner_after(2 * q_alice * (1 - q_alice)), abs=2e-4)


def test_rate_and_first_ok_latency_follow_the_attempt_cycle() -> None:
    pairs = 1500
    scenario = two_qpus(length_km=10.0, workload=workload("measure", pairs))
    result = run_scenario(scenario)
    records = result.emulation.workloads[0].origin.records
    gaps = [b.ok_time - a.ok_time for a, b in itertools.pairwise(records)]
    p = eta(0.3, 5.0, 0.2, 0.9) ** 2 / 2
    cycle = 1000 + 2 * round(5.0 * 1.468 / 299_792.458e-9)
    mean_gap = cycle / p          # geometric number of cycles between successes
    sd_gap = cycle * math.sqrt(1 - p) / p
    measured = sum(gaps) / len(gaps)
    assert abs(measured - mean_gap) < SIGMAS * sd_gap / math.sqrt(len(gaps))


def test_bb84_random_bases_sift_half_the_pairs_and_keep_the_error_rate() -> None:
    # Each end picks Z or X per pair on its own: half the pairs share a basis, and in each
    # basis the disagreement is still p/2.
    p, pairs = 0.1, 4000
    result = run_scenario(two_qpus(length_km=2.0, depolarizing=p, workload=workload("measure", pairs, "XZ")))
    both = joined(result.emulation.workloads[0])
    assert len(both) == pairs
    sifted = sum(a.basis == b.basis for a, b in both)
    assert abs(sifted / pairs - 0.5) < SIGMAS * math.sqrt(0.25 / pairs)
    rates = disagreement(both)
    assert set(rates) == {"Z", "X"}
    for basis in ("Z", "X"):
        n, rate = rates[basis]["pairs"], rates[basis]["rate"]
        assert abs(rate - p / 2) < SIGMAS * math.sqrt(p / 2 * (1 - p / 2) / n), basis


def test_latency_from_create_to_first_ok_matches_the_protocol_timeline() -> None:
    # REQ and REQ_ACK cross the link (4 arm delays), then the master's SCHEDULE and SCHEDULE_ACK (4 more);
    # attempts start on the next slot boundary; a geometric number of cycles later the herald comes back
    # after round 2 (an arm delay and half an attempt after the photons' arrival, which is an arm delay
    # after the slot).
    runs, length_km = 300, 10.0
    arm = round(length_km / 2 * 1.468 / 299_792.458e-9)
    cycle = 1000 + 2 * arm
    p = eta(0.3, length_km / 2, 0.2, 0.9) ** 2 / 2
    first_slot = math.ceil(8 * arm / cycle) * cycle
    expected = first_slot + (1 - p) / p * cycle + 2 * arm + 1000 / 2
    latencies = []
    for seed in range(runs):
        result = run_scenario(two_qpus(length_km=length_km, workload=workload("measure", 1), seed=seed))
        origin = result.emulation.workloads[0].origin
        assert origin.first_ok_at is not None and origin.sent_at is not None
        latencies.append(origin.first_ok_at - origin.sent_at)
    mean = sum(latencies) / runs
    spread = cycle * math.sqrt(1 - p) / p / math.sqrt(runs)
    assert abs(mean - expected) < SIGMAS * spread, (mean, expected, spread)
