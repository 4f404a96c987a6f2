"""The report's models against closed forms, and against what the runs measure.

Tolerances are statistical: a measured figure must be within 4 standard errors of its model (the standard error
stated at each test: the report's own, or the binomial one of the counts); a model must equal its closed form to
within the Goodness's 16-bit resolution where it is recovered from it.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

from protocols.physical import schemes
from stack.api.scenario_apps import run_applications
from stack.report import build_report
from stack.report_models import basis_errors, bell_diagonal_s, run_physics
from stack.runtime import run_scenario
from stack.scenario import load, load_text
from tests.network_scenarios import chain, entry


def _qpu(name: str, t2_ms: str = "inf") -> str:
    return f"""
[nodes.{name}]
kind = "qpu"
communication_qubits = 2
t2_ms = {t2_ms}
emission_efficiency = 0.8
transducer_efficiency = 0.5
"""


def _link(name: str, a: str, b: str, station: str, length_km: float, extra: str = "") -> str:
    return f"""
[nodes.{station}]
kind = "station"
detector_efficiency = 0.9

[links.{name}]
a = "{a}"
b = "{b}"
station = "{station}"
length_km = {length_km}
depolarizing = 0.0
{extra}
"""


T2_NS = 100_000.0
DECAY = ("[run]\nduration_ms = 20000.0\nseed = 1\n" + _qpu("a", "0.1") + _qpu("b", "0.1")
         + _link("ab", "a", "b", "st", 10.0)
         + '\n[[workload]]\nnode = "a"\nremote = "b"\ntype = "keep"\npairs = 3000\n')
"""10 km double-click, perfect heralded pairs, memories with T2 = 0.1 ms (T1 infinite): a's OK comes at the
herald, b's one end-to-end delay (49 µs) later, on a's CONFIRM."""


def test_fidelity_model_measured_is_the_pair_as_measured_and_goodness_is_not() -> None:
    """Closed form (pure dephasing of both halves, Pauli twirl: each half's coherence e^−t/T2): the master a
    stores its half t_a = attempt/2 + 2·d_a (emission to the herald, which comes half an attempt after the second
    photon's arrival, then back over a's arm), b its half t_b = t_a + d_a + d_b (the CONFIRM from a). The pair
    as measured has F = (1 + e^−(t_a+t_b)/T2)/2 = 0.614, while a's Goodness assumes both halves stored t_a:
    (1 + e^−2t_a/T2)/2 = 0.686. 3000 pairs, 1000 a basis: the report's standard error is 0.011, so the Goodness
    is 6 of them from the measured fidelity and the new model within 4."""
    result = run_scenario(load_text(DECAY, "decay.toml"))
    report = build_report(result)
    link, (work,) = report["links"][0], report["workload"]
    t_a = link["attempt_ns"] / 2 + 2 * link["one_way_delay_a_ns"]
    t_b = t_a + link["one_way_delay_a_ns"] + link["one_way_delay_b_ns"]
    closed_form = (1 + math.exp(-(t_a + t_b) / T2_NS)) / 2
    assert abs(work["fidelity_model_measured"] - closed_form) < 1e-4
    assert abs(work["goodness_mean"] - (1 + math.exp(-2 * t_a / T2_NS)) / 2) < 1e-4      # its semantics, kept
    sigma = work["fidelity_stderr"]
    assert abs(work["fidelity_measured"] - work["fidelity_model_measured"]) < 4 * sigma
    assert abs(work["fidelity_measured"] - work["goodness_mean"]) > 4 * sigma


def test_the_model_does_not_depend_on_which_end_asks() -> None:
    """Swapping origin and remote swaps which end's Goodness is reported (b's is 0.570), not the pair: the model
    of the pairs as measured is the same closed form."""
    swapped = DECAY.replace('node = "a"\nremote = "b"', 'node = "b"\nremote = "a"').replace("3000", "300")
    report = build_report(run_scenario(load_text(swapped, "decay.toml")))
    link, (work,) = report["links"][0], report["workload"]
    t_a = link["attempt_ns"] / 2 + 2 * link["one_way_delay_a_ns"]
    t_b = t_a + link["one_way_delay_a_ns"] + link["one_way_delay_b_ns"]
    assert abs(work["fidelity_model_measured"] - (1 + math.exp(-(t_a + t_b) / T2_NS)) / 2) < 1e-4
    assert abs(work["goodness_mean"] - (1 + math.exp(-2 * t_b / T2_NS)) / 2) < 1e-4


def test_single_click_figures_are_for_the_alpha_the_link_ran_with() -> None:
    """A single-click link configured with α = 0.2 serving a request with Minimum Fidelity 0.95 runs with a
    smaller α (the link layer's choice): the report names it, and its success probability and fidelity are the
    closed form's for that α (schemes.single_click), so the measured success rate agrees within 4 binomial
    standard errors √(p(1 − p)/attempts) (the configured α's p, 0.11, is about 100 of them away); so does the
    share of true heralds."""
    text = ("[run]\nduration_ms = 20000.0\nseed = 3\n" + _qpu("a") + _qpu("b")
            + _link("ab", "a", "b", "st", 2.0, 'scheme = "single-click"\nbright_state_population = 0.2')
            + '\n[[workload]]\nnode = "a"\nremote = "b"\ntype = "measure"\npairs = 500\nmin_fidelity = 0.95\n')
    result = run_scenario(load_text(text, "alpha.toml"))
    (link,) = build_report(result)["links"]
    alpha = link["bright_state_population"]
    assert link["bright_state_populations_run"] == [alpha] and alpha < 0.2
    lp = result.emulation.link_physics[1]
    expected = schemes.single_click(alpha, alpha, lp.arm_a.efficiency, lp.arm_b.efficiency, lp.p_false, 0.0)
    assert link["success_probability"] == expected.success and link["fidelity_model"] == expected.fidelity
    assert link["fidelity_model"] >= 0.95
    p = link["success_probability"]
    assert abs(link["success_probability_measured"] - p) < 4 * math.sqrt(p * (1 - p) / link["attempts"])
    assert link["physical_bound_pairs_per_s"] == p / link["attempt_cycle_ns"] * 1e9
    # the share of true heralds (docs/report.md: both-emitted heralds are not true ones): without dark counts
    # 2(1 − α)/(2 − αη), the fidelity; measured within 4 binomial standard errors over the successes
    fraction = link["true_herald_fraction_model"]
    assert math.isclose(fraction, link["fidelity_model"]) and math.isclose(
        fraction, 2 * (1 - alpha) / (2 - alpha * lp.arm_a.efficiency))
    sigma = math.sqrt(fraction * (1 - fraction) / link["successes"])
    assert abs(link["true_herald_fraction_measured"] - fraction) < 4 * sigma


APPS = ("[run]\nduration_ms = 60000.0\nseed = 15\n" + "".join(_qpu(n) for n in ("carol", "dave", "erin", "frank"))
        + _link("cd", "carol", "dave", "m1", 2.0, 'scheme = "single-click"\nbright_state_population = 0.15')
        + _link("ef", "erin", "frank", "m2", 2.0, 'scheme = "single-click"\nbright_state_population = 0.15')
        + '\n[[application]]\nkind = "qkd"\nnode = "carol"\nremote = "dave"\npairs = 20000\n'
        + '\n[[application]]\nkind = "chsh"\nnode = "erin"\nremote = "frank"\npairs = 12000\n')


def test_qkd_and_chsh_models_use_the_links_bell_diagonal_pairs() -> None:
    """Single-click pairs (α = 0.15) carry their errors mostly in Z (both ends emitted: |11⟩), so QBER_Z ≈ 0.13
    and QBER_X ≈ 0.07, where Werner pairs of the same F would give 2(1 − F)/3 = 0.085 in both. The models are the
    Bell-diagonal closed forms (e_Z = p_X + p_Y, e_X = p_Z + p_Y; S = √2(|1 − 2e_Z| + |1 − 2e_X|)); the measured
    per-basis QBERs (about sample/2 pairs each, binomial standard error) and S (its reported standard error, 0.022
    with 12,000 pairs) agree with them within 4 standard errors; QBER_Z is more than 4 from the Werner value."""
    run, (qkd, chsh) = run_applications(load_text(APPS, "apps.toml"))
    dist = run_physics(run.emulation, 1).model.distribution
    errors = basis_errors(dist)
    assert (qkd["qber_z_model"], qkd["qber_x_model"]) == (errors["Z"], errors["X"])
    assert qkd["qber_model"] == (errors["Z"] + errors["X"]) / 2
    for basis, model in (("z", errors["Z"]), ("x", errors["X"])):
        sigma = math.sqrt(model * (1 - model) / (qkd["sample"] / 2))
        assert abs(qkd[f"qber_{basis}"] - model) < 4 * sigma
    werner = 2 * (1 - dist[0]) / 3
    assert abs(qkd["qber_z"] - werner) > 4 * math.sqrt(werner * (1 - werner) / (qkd["sample"] / 2))
    assert chsh["s_model"] == bell_diagonal_s(run_physics(run.emulation, 2).model.distribution)
    assert abs(chsh["s"] - chsh["s_model"]) < 4 * chsh["s_stderr"]


def test_worst_case_fidelity_never_exceeds_the_model() -> None:
    """F_worst ≤ D_mid[0] (F_worst adds the ends' storage and the longest waits), and with infinite memories
    and no cutoff they are equal. The report used to give D_mid[0] as the SETUP_REPLY carries it (four 16-bit
    fields rounded, then renormalised) against an exact F_worst, so F_worst came out higher (by 0.35 and 1.2
    quanta) in 2 of these 12 chains; both are now the tail's exact values rounded to the 16-bit grid the same way."""
    above, figures = [], []
    for hops, depolarizing, qpu in itertools.product((2, 3), (0.02, 0.1), ("gate_fidelity = 0.99\n",
                                                                            "gate_fidelity = 0.97\n", "")):
        scenario = chain(hops, workload=entry(pairs=5, service="network"), depolarizing=depolarizing, qpu=qpu)
        (circuit,) = build_report(run_scenario(scenario))["circuits"]
        model, worst = circuit["fidelity_model"], circuit["fidelity_worst_model"]
        figures.append((model, worst))
        if worst > model:
            above.append((hops, depolarizing, qpu, (worst - model) * 65535))
    assert above == []
    for model, worst in figures:
        assert model - worst < 1 / 65535                                     # equal but for the rounding
        assert model == round(model * 65535) / 65535 and worst == round(worst * 65535) / 65535


def test_with_a_cutoff_set_by_hand_the_model_is_for_that_cutoff() -> None:
    """examples/all-messages.toml's `cutoff_us = 1` circuit: the tail decides it for the 1 µs in force, so F_worst
    (0.850) and D_mid[0] (0.898, in the SETUP_REPLY too; 0.809 waiting for ever, what the report once gave) are
    for the same cutoff, and F_worst ≤ D_mid[0] holds there too."""
    report = build_report(run_scenario(load(Path(__file__).parent.parent / "examples" / "all-messages.toml")))
    (hand_set,) = [c for c in report["circuits"] if c["cutoff_ns"] == 1000]
    assert hand_set["fidelity_worst_model"] <= hand_set["fidelity_model"]
    for circuit in report["circuits"]:
        if circuit["fidelity_model"] is not None:
            assert circuit["fidelity_worst_model"] <= circuit["fidelity_model"]
