"""Scenario values that contradict each other, or that would be ignored, are errors naming the keys (they were
accepted silently: 10 km with arms of 3 + 3 km ran 6 km; a start after the run's end asked for nothing)."""

from __future__ import annotations

import pytest

from stack import cli
from stack.scenario import load_text
from tests.test_scenario_checks import error_of

PAIR = """
[run]
duration_ms = 20.0
[nodes.a]
kind = "qpu"
[nodes.b]
kind = "qpu"
[nodes.st]
kind = "station"
[links.ab]
a = "a"
b = "b"
station = "st"
"""


def arms(extra: str) -> tuple[float, float]:
    link = load_text(PAIR + extra, "x.toml").links[0]
    return link.length_a_km, link.length_b_km


def test_length_and_both_arms_must_agree() -> None:
    error = error_of(PAIR + "length_km = 10\nlength_a_km = 3\nlength_b_km = 3\n")
    assert error.key == "links.ab.length_km"
    assert "links.ab.length_a_km + links.ab.length_b_km = 6 km" in error.problem
    assert arms("length_km = 10\nlength_a_km = 3\nlength_b_km = 7\n") == (3, 7)
    assert arms("length_a_km = 3\nlength_b_km = 3\n") == (3, 3)
    assert arms("length_km = 10\n") == (5, 5)


def test_one_arm_with_the_length_leaves_the_rest_to_the_other() -> None:
    assert arms("length_km = 10\nlength_a_km = 3\n") == (3, 7)
    assert arms("length_km = 10\nlength_b_km = 4\n") == (6, 4)
    error = error_of(PAIR + "length_km = 10\nlength_b_km = 12\n")
    assert error.key == "links.ab.length_b_km" and "longer than links.ab.length_km" in error.problem


WORKLOAD = '\n[[workload]]\nnode = "a"\nremote = "b"\npairs = 20\n'


def test_a_start_after_the_end_of_the_run_is_an_error() -> None:
    error = error_of(PAIR + WORKLOAD + "start_us = 30000\n")
    assert error.key == "workload[0].start_us" and "run.duration_ms = 20" in error.problem
    assert error_of(PAIR + WORKLOAD + "start_us = 20000\n").key == "workload[0].start_us"
    assert load_text(PAIR + WORKLOAD + "start_us = 19999\n", "x.toml").workload[0].start_ns == 19_999_000


def test_basis_on_a_keep_entry_is_an_error() -> None:
    error = error_of(PAIR + WORKLOAD + 'basis = "X"\n')
    assert error.key == "workload[0].basis" and 'workload[0].type = "measure"' in error.problem
    assert error_of(PAIR + WORKLOAD + 'type = "keep"\nbasis = "Z"\n').key == "workload[0].basis"
    assert load_text(PAIR + WORKLOAD + 'type = "measure"\nbasis = "X"\n', "x.toml").workload[0].basis == "X"


@pytest.mark.parametrize("option", [["--y", "foo"], ["--x", "k"], ["--logx"], ["--logy"]])
@pytest.mark.parametrize("figure", ["rate-vs-distance", "sync"])
def test_sweep_plot_options_on_another_figure_are_refused(figure: str, option: list[str],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["plot", figure, *option]) == 2
    err = capsys.readouterr().err
    assert err == f"qnet: error: {option[0]} applies to qnet plot sweep only, not to qnet plot {figure}\n"
