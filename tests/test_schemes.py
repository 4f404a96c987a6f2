"""Heralding schemes: closed forms, the photon-level exact mode, and emulated runs.

Three independent views must agree: the closed forms of ``protocols.physical.schemes`` (checked here
against the literature's expressions), the photon-by-photon simulation of the exact mode
(``stack.quantum.attempts``), and the emulator's runs, sampled and exact. Tolerances are 4
standard errors of the sample at hand, worked out from its raw counts and the model's value (the success
probability's binomial error; the fidelity's from the pairs in each basis, :mod:`tests.fidelity_util`), never
from the report's own error bars.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from protocols.physical import schemes
from stack.quantum import attempts, sampling
from stack.quantum.budget import link_physics
from stack.runtime import run_scenario
from stack.scenario import Scenario, load_text
from tests.fidelity_util import fidelity_and_sigma

SIGMAS = 4


# -- closed forms against the literature --------------------------------------------------------
@pytest.mark.parametrize(("alpha", "eta"), [(0.05, 0.3), (0.2, 0.01), (0.4, 0.9)])
def test_single_click_exact_expressions(alpha: float, eta: float) -> None:
    model = schemes.single_click(alpha, alpha, eta, eta, 0.0, 0.0)
    assert model.success == pytest.approx(alpha * eta * (2 - alpha * eta))
    assert model.fidelity == pytest.approx(2 * (1 - alpha) / (2 - alpha * eta))


def test_single_click_leading_order() -> None:
    # p ≈ 2αη and F ≈ 1 − α when αη ≪ 1
    model = schemes.single_click(0.01, 0.01, 0.001, 0.001, 0.0, 0.0)
    assert model.success == pytest.approx(2 * 0.01 * 0.001, rel=1e-3)
    assert model.fidelity == pytest.approx(1 - 0.01, rel=1e-4)


def test_double_click_without_noise_is_barrett_kok() -> None:
    model = schemes.double_click(0.3, 0.2, 0.0, 0.1)
    assert model.success == pytest.approx(0.3 * 0.2 / 2)
    assert model.fidelity == pytest.approx(1 - 3 * 0.1 / 4)
    blocked = schemes.double_click(0.3, 0.2, 0.0, 0.0, same_detector=False)
    assert blocked.success == pytest.approx(0.3 * 0.2 / 4)


def test_only_dark_counts_herald_only_mixed_pairs() -> None:
    p = 0.01
    model = schemes.double_click(0.0, 0.0, p, 0.0)
    assert model.success == pytest.approx((2 * p * (1 - p)) ** 2)
    assert model.fidelity == pytest.approx(0.25)


def test_false_click_probability_is_poisson() -> None:
    assert schemes.false_click_probability(1e6, 10.0) == pytest.approx(1 - math.exp(-0.01))
    assert schemes.false_click_probability(0.0, 10.0, 0.02) == pytest.approx(1 - math.exp(-0.02))


# -- the exact mode's photon-level simulation against the closed forms ---------------------------
def scenario(scheme: str = "double-click", length_km: float = 2.0, mode: str = "sampled",
             dark_hz: float = 0.0, window_ns: int = 1, noise: float = 0.0, alpha: float = 0.1,
             depolarizing: float = 0.0, multi_pair: float = 0.0, dead_time_ns: int = 0,
             pairs: int = 0, kind: str = "keep", emission: float = 0.8, transducer: float = 0.5) -> Scenario:
    middle = {"double-click": 'station = "mid"', "single-click": 'station = "mid"', "source": 'source = "src"',
              "coupler": ""}[scheme]
    qpu = f"""kind = "qpu"
t2_ms = inf
emission_efficiency = {emission}
transducer_efficiency = {transducer}
transducer_noise_photons = {noise}"""
    work = "" if not pairs else f"""
[[workload]]
node = "a"
remote = "b"
type = "{kind}"
pairs = {pairs}
"""
    return load_text(f"""
[run]
duration_ms = 1e9
[nodes.a]
{qpu}
[nodes.b]
{qpu}
[nodes.mid]
kind = "station"
dark_count_rate_hz = {dark_hz}
detection_window_ns = {window_ns}
dead_time_ns = {dead_time_ns}
[nodes.src]
kind = "source"
multi_pair_probability = {multi_pair}
[links.ab]
a = "a"
b = "b"
scheme = "{scheme}"
mode = "{mode}"
{middle}
length_km = {length_km}
bright_state_population = {alpha}
depolarizing = {depolarizing}
{work}""", "<test>")


CASES = {
    "double-click": dict(scheme="double-click", dark_hz=2e7, window_ns=1, noise=0.01),
    "double-click, dead time": dict(scheme="double-click", dark_hz=1e7, dead_time_ns=600),
    "single-click α=0.1": dict(scheme="single-click", alpha=0.1, dark_hz=1e7),
    "single-click α=0.3": dict(scheme="single-click", alpha=0.3, noise=0.02),
    "source": dict(scheme="source", noise=0.05, multi_pair=0.1),
    "coupler": dict(scheme="coupler"),
}


@pytest.mark.parametrize("case", CASES)
def test_photon_level_attempts_match_the_closed_form(case: str) -> None:
    physics = link_physics(scenario(**CASES[case]).links[0], scenario(**CASES[case]))
    rng = np.random.default_rng(7)
    bit = sampling.bits(rng)
    n = 60_000
    outcomes = [attempts.EXACT[physics.scheme](physics, rng, bit) for _ in range(n)]
    heralded = [a for a in outcomes if attempts.heralded_state(physics, a) is not None]
    p = physics.model.success
    assert abs(len(heralded) / n - p) < SIGMAS * math.sqrt(p * (1 - p) / n)
    for component in physics.model.components:           # every way of heralding, branch by branch
        share = component.probability / p
        measured = sum(a.component == component.name for a in heralded) / len(heralded)
        spread = math.sqrt(share * (1 - share) / len(heralded))
        assert abs(measured - share) < SIGMAS * spread + 1e-9, (component.name, measured, share)


@pytest.mark.parametrize("case", CASES)
def test_photon_level_attempts_draw_with_bits_what_they_drew_with_integers(case: str) -> None:
    """The exact mode's fair bits (spins, the detector a photon lands on) come from :func:`sampling.bits`: the
    same attempts, and the generator left in the same state, as with ``int(rng.integers(2))`` per bit."""
    physics = link_physics(scenario(**CASES[case]).links[0], scenario(**CASES[case]))
    ours, reference = np.random.default_rng(11), np.random.default_rng(11)
    bit = sampling.bits(ours)
    exact = attempts.EXACT[physics.scheme]
    for _ in range(2_000):
        assert exact(physics, ours, bit) == exact(physics, reference, lambda: int(reference.integers(2)))
    assert ours.bit_generator.state == reference.bit_generator.state


# -- emulated runs: rate and fidelity versus distance and α ---------------------------------------
def run_keep(**kwargs: object) -> tuple[float, float, float, float, float, float]:
    """(measured p, its stderr, measured F, its stderr, model F, model p) of a keep run; both stderrs for the
    model's values (binomial over the attempts; :func:`tests.fidelity_util.sigma_of_fidelity` over the pairs
    matched in each basis, which must be all three)."""
    result = run_scenario(scenario(kind="keep", **kwargs))  # type: ignore[arg-type]
    physics = result.emulation.link_physics[1]
    state = result.emulation.heralding.links[1]
    p = physics.model.success
    fidelity, stderr = fidelity_and_sigma(result.emulation.workloads[0], physics.model.fidelity)
    return (state.successes / state.attempts, math.sqrt(p * (1 - p) / state.attempts), fidelity, stderr,
            physics.model.fidelity, p)


@pytest.mark.parametrize(("scheme", "length_km", "alpha"), [
    ("double-click", 0.0, 0.1), ("double-click", 40.0, 0.1), ("double-click", 100.0, 0.1),
    ("single-click", 0.0, 0.05), ("single-click", 40.0, 0.2), ("single-click", 100.0, 0.3),
    ("source", 20.0, 0.1), ("source", 100.0, 0.1),
])
def test_sampled_rate_and_fidelity_follow_the_closed_form(scheme: str, length_km: float, alpha: float) -> None:
    measured_p, p_err, fidelity, f_err, f_model, p_model = run_keep(
        scheme=scheme, length_km=length_km, alpha=alpha, dark_hz=3e6, noise=0.002, depolarizing=0.02,
        multi_pair=0.01, pairs=1200)
    assert abs(measured_p - p_model) < SIGMAS * p_err, (measured_p, p_model, p_err)
    assert abs(fidelity - f_model) < SIGMAS * f_err, (fidelity, f_model, f_err)


def test_dark_counts_lower_fidelity_as_predicted() -> None:
    quiet = run_keep(length_km=60.0, pairs=1200)
    noisy = run_keep(length_km=60.0, dark_hz=2e7, pairs=1200)
    assert noisy[4] < quiet[4] - 0.05            # the model predicts a visible drop…
    assert abs(noisy[2] - noisy[4]) < SIGMAS * noisy[3]   # …and the emulation shows it


def test_exact_and_sampled_modes_agree() -> None:
    common = dict(scheme="double-click", length_km=1.0, dark_hz=3e7, noise=0.01, pairs=500)
    sampled = run_keep(mode="sampled", **common)
    exact = run_keep(mode="exact", **common)
    p_diff_err = math.hypot(sampled[1], exact[1])
    assert abs(sampled[0] - exact[0]) < SIGMAS * p_diff_err
    assert abs(sampled[2] - exact[2]) < SIGMAS * math.hypot(sampled[3], exact[3])


def test_exact_mode_captures_every_attempt() -> None:
    import io

    from tests.pcap_util import read_pcap
    capture = io.BytesIO()
    result = run_scenario(scenario(mode="exact", pairs=20), pcap=capture)
    state = result.emulation.heralding.links[1]
    frames = read_pcap(capture.getvalue())
    photons = sum(1 for _, frame in frames if frame[12:14] == b"\x88\xb5")
    assert photons == 2 * state.attempts
    ledger = result.ledger
    assert ledger["created"] == 2 * state.attempts
    assert ledger["discarded"] == 2 * (state.attempts - state.successes)


SHARED = """
[run]
duration_ms = 1e6
[nodes.a]
kind = "qpu"
[nodes.b]
kind = "qpu"
[nodes.c]
kind = "qpu"
[nodes.d]
kind = "qpu"
[nodes.st]
kind = "station"
[nodes.sw]
kind = "switch"
insertion_loss_db = 1.0
reconfiguration_ns = {reconfiguration}
[links.ab]
a = "a"
b = "b"
station = "st"
switch = "sw"
length_km = 0.05
[links.cd]
a = "c"
b = "d"
station = "st"
switch = "sw"
length_km = 0.05
[[workload]]
node = "a"
remote = "b"
pairs = 50
[[workload]]
node = "c"
remote = "d"
pairs = 50
"""


def test_switch_loss_and_transducer_bandwidth_enter_the_budget() -> None:
    shared = load_text(SHARED.format(reconfiguration=0), "<test>")
    physics = link_physics(shared.links[0], shared)
    assert physics.arm_a.factors["switch"] == pytest.approx(10 ** -0.1)
    assert physics.arm_a.efficiency == pytest.approx(0.8 * 0.5 * 10 ** (-0.2 * 0.025 / 10) * 10 ** -0.1 * 0.9)
    text = SHARED.format(reconfiguration=0)
    slow = load_text(text.replace('[nodes.a]\nkind = "qpu"', '[nodes.a]\nkind = "qpu"\ntransducer_bandwidth_mhz = 0.5'),
                     "<test>")
    assert link_physics(slow.links[0], slow).attempt_ns == 2 * 2000     # two rounds of 1/B each


def test_a_shared_station_alternates_between_links_and_pays_reconfiguration() -> None:
    fast = run_scenario(load_text(SHARED.format(reconfiguration=0), "<test>")).emulation
    first, second = (w.origin.records for w in fast.workloads)
    assert second[0].ok_time < first[-1].ok_time and first[0].ok_time < second[-1].ok_time
    slow = run_scenario(load_text(SHARED.format(reconfiguration=1_000_000), "<test>")).emulation
    generation = max(r.ok_time for w in slow.workloads for r in w.origin.records)
    assert generation >= (100 - 1) * 1_000_000          # every run after the first switches the station
    assert generation > 10 * max(r.ok_time for w in fast.workloads for r in w.origin.records)


@pytest.mark.parametrize("scheme", ["source", "coupler", "single-click"])
def test_exact_mode_without_station_reports_and_accounts_for_every_qubit(scheme: str) -> None:
    result = run_scenario(scenario(scheme, length_km=1.0, mode="exact", noise=0.05, pairs=40))
    workload = result.emulation.workloads[0]
    assert len(workload.origin.records) == len(workload.responder.records) == 40
    ledger = result.ledger
    # not the ledger's sum (true by construction): each end measured each pair it was given, and nothing was left
    assert ledger["measured"] == len(workload.origin.records) + len(workload.responder.records)
    assert ledger["discarded_at_end"] == 0
    state = result.emulation.heralding.links[1]
    assert state.attempts > state.successes == 40


def test_exact_mode_with_requests_ending_at_different_times_leaks_nothing() -> None:
    text = """
[run]
duration_ms = 1e6
[nodes.a]
kind = "qpu"
[nodes.b]
kind = "qpu"
[nodes.c]
kind = "qpu"
[nodes.s1]
kind = "station"
[nodes.s2]
kind = "station"
[links.ab]
a = "a"
b = "b"
station = "s1"
mode = "exact"
length_km = 1.0
[links.bc]
a = "b"
b = "c"
station = "s2"
length_km = 1.0
[[workload]]
node = "a"
remote = "b"
pairs = 20
[[workload]]
node = "b"
remote = "c"
pairs = 200
"""
    result = run_scenario(load_text(text, "<test>"))
    assert [len(w.origin.records) for w in result.emulation.workloads] == [20, 200]
    for state in result.emulation.heralding.links.values():
        assert all(arm.remaining == 0 for arm in state.armed.values())


def test_a_shared_station_never_has_two_links_photons_in_flight() -> None:
    import io

    from protocols.packets.heralding import Herald
    from protocols.packets.qframe import QuantumFrame
    from tests.pcap_util import read_pcap, udp_payloads
    text = SHARED.format(reconfiguration=0).replace('length_km = 0.05\n[[', 'length_km = 40.0\n[[', 1)
    capture = io.BytesIO()
    run_scenario(load_text(text, "<test>"), pcap=capture)
    records = read_pcap(capture.getvalue())
    starts: dict[tuple[int, int], int] = {}
    for _, frame in records:
        if frame[12:14] == b"\x88\xb5":
            photon = QuantumFrame.decode(frame[14:])
            key = (photon.link_id, photon.attempt_seq)
            starts[key] = min(starts.get(key, photon.emission_time), photon.emission_time)
    ends = {(h.link_id, h.attempt_seq): h.detection_time for h in
            (Herald.decode(p) for _, port, p in udp_payloads(records) if port == 7770)}
    spans = sorted((starts[key], ends[key], key[0]) for key in ends)
    assert {link for _, _, link in spans} == {1, 2}
    for (_, end, link), (start, _, other) in itertools.pairwise(spans):
        assert link == other or start >= end - 1000, (link, other, end, start)
