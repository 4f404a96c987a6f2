"""``qnet sweep --show`` before the first run (docs/sweep.md, "Summary"): a misspelt field of a section or of a
list of records is refused from zero-length runs of the sweep's points, in one line naming the fields there are;
a figure only runs that measured something have (a basis, a message type, a cutoff reason, a nested model
factor) still waits for the runs. The oracle for the second half is real runs: every figure they produce passes
the check."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from stack.cli import main
from stack.report import build_report
from stack.runtime import build, run_async
from stack.scenario import load_text
from stack.sweep import define_sweep, probe, runner
from stack.sweep.figures import figures
from stack.sweep.show import show_problem
from tests.network_scenarios import chain_text, entry
from tests.sweep_util import write_tiny


def _chain(tmp_path: Path, duration_ms: float = 5.0) -> Path:
    path = tmp_path / "chain.toml"
    path.write_text(chain_text(3, workload=entry(pairs=4) + entry("measure", pairs=4), duration_ms=duration_ms))
    return path


def never_runs(*_: object, **__: object) -> None:
    raise AssertionError("the sweep started")


@pytest.mark.parametrize(("show", "words"), [
    ("links.alice-bob.sucess_probability_measured",
     "'sucess_probability_measured' is not a figure of links.alice-bob; did you mean "
     "links.alice-bob.success_probability_measured"),
    ("workload[0].pairs_per_sec", "did you mean workload[0].pairs_per_s"),
    ("nodes.alice.sentt", "is not a figure of nodes.alice; did you mean nodes.alice.sent"),
    ("medium.creatd", "did you mean medium.created"),
    ("links.alice-bob.scheme", "'scheme' is not a figure of links.alice-bob"),     # a text: never a figure
])
def test_a_misspelt_field_is_refused_before_the_first_run(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch, show: str,
                                                          words: str) -> None:
    monkeypatch.setattr(runner, "run_sweep", never_runs)
    scenario = write_tiny(tmp_path)
    output = tmp_path / "results"
    assert main(["sweep", str(scenario), "--vary", "workload[0].pairs=4,5", "--show", show,
                 "--output", str(output)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("qnet: error: --show "), err
    assert words in err and "has " in err and "docs/report.md" in err, err
    assert not output.exists()


@pytest.mark.parametrize(("show", "words"), [
    ("circuits[0].pairs_per_sec", "did you mean circuits[0].pairs_per_s"),
    ("circuits[0].repeaters[1].swapz", "'swapz' is not a figure of circuits[0].repeaters[i]; did you mean "
     "circuits[0].repeaters[i].swaps"),
    ("circuits[0].hops_detail[0].link_pairz", "did you mean circuits[0].hops_detail[i].link_pairs"),
])
def test_a_misspelt_circuit_figure_is_refused_before_the_first_run(tmp_path: Path, show: str, words: str) -> None:
    chain = _chain(tmp_path)
    problem = show_problem([show], define_sweep(chain, ["links.a-r1.coupler_efficiency=0.8,0.9"]), tmp_path / "o")
    assert problem is not None and problem.startswith(f"--show {show}: ") and words in problem, problem


@pytest.mark.parametrize("show", [
    "workload[0].disagreement.X.rate", "circuits[0].messages.TRACK", "circuits[0].expired_by_reason.CUTOFF",
    "circuits[0].latency_ns.p99", "links.a-r1.arm_a_efficiency.total", "circuits[0].repeaters[1].swaps",
    "circuits[0].hops_detail[5].link_pairs",            # past the hops: the runs tell
])
def test_a_figure_later_runs_may_have_still_waits(tmp_path: Path, show: str) -> None:
    assert show_problem([show], define_sweep(_chain(tmp_path), ["links.a-r1.coupler_efficiency=0.8"]),
                        tmp_path / "o") is None


@pytest.mark.parametrize("network", [False, True])
def test_every_figure_of_a_real_run_passes(tmp_path: Path, network: bool) -> None:
    """The probe against real runs of the scenario: nothing they report is refused."""
    path = _chain(tmp_path, duration_ms=30.0) if network else write_tiny(tmp_path)
    sweep = define_sweep(path, ["run.duration_ms=30"])
    scenario = load_text(path.read_text(), str(path))
    names = list(figures(build_report(trio.run(run_async, build(scenario, 3)))))
    assert any(".disagreement." in name for name in names)
    assert not network or any(".messages." in name for name in names)
    assert show_problem(names, sweep, tmp_path / "o") is None


def test_points_of_many_shapes_are_not_probed(tmp_path: Path) -> None:
    """More combinations of non-numeric values than MOST_PROBES: no probe, so the name waits for the runs."""
    values = ",".join(f"s{i}" for i in range(probe.MOST_PROBES + 1))
    shapes = [{"k": value} for value in values.split(",")]
    assert probe.probe_points(shapes) is None
    assert probe.probe_points([{"k": 1.0}, {"k": 2.0}, {"k": 3.0}]) == [0, 2]


def test_with_up_what_a_qnet_up_report_adds_waits(tmp_path: Path) -> None:
    """``qnet up`` fills nodes and sync from its processes and names dead ends: those are not refused."""
    from stack.sweep import UpSettings

    sweep = define_sweep(write_tiny(tmp_path), ["workload[0].pairs=4"], up=UpSettings())
    for name in ("workload[0].dead_ends", "nodes.alice.clock_copy_error_ns", "nodes.alice.dead",
                 "multi_process.missed_deadlines"):
        assert show_problem([name], sweep, tmp_path / "o") is None, name
    assert "did you mean workload[0].pairs_per_s" in str(show_problem(["workload[0].pairs_per_sec"], sweep,
                                                                      tmp_path / "o"))
