"""``qnet sweep`` and ``qnet plot sweep`` mistakes: one line, status 2, nothing run and nothing left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.cli import main
from stack.sweep import runner
from tests.sweep_util import write_tiny


def one_line(capsys: pytest.CaptureFixture[str], *words: str) -> None:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("qnet: error: "), err
    for word in words:
        assert word in err, err


def never_runs(*_: object, **__: object) -> None:
    raise AssertionError("the sweep started")


def test_output_that_is_a_file_is_refused_and_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = write_tiny(tmp_path)
    output = tmp_path / "taken"
    output.write_text("mine")
    assert main(["sweep", str(scenario), "--vary", "workload[0].pairs=4", "--output", str(output), "--quiet"]) == 2
    one_line(capsys, f"--output {output}", "not a directory")
    assert output.read_text() == "mine"


@pytest.mark.parametrize(("address", "words"), [("garbage", "cannot reach the Dask scheduler at garbage"),
                                                ("tcp://127.0.0.1:9", "cannot reach the Dask scheduler")])
def test_a_scheduler_that_cannot_be_used_leaves_no_results_directory(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        address: str, words: str) -> None:
    monkeypatch.setattr(runner, "CONNECT_TIMEOUT_S", 2)
    scenario = write_tiny(tmp_path)
    output = tmp_path / "results"
    assert main(["sweep", str(scenario), "--vary", "workload[0].pairs=4", "--scheduler", address,
                 "--output", str(output), "--quiet"]) == 2
    one_line(capsys, words)
    assert not output.exists()


@pytest.mark.parametrize(("show", "words"), [
    ("nope", "--show nope: not a figure of a run"),
    ("workload[3].pairs_per_s", "workload[3] is not an entry of the scenario (it has 1)"),
    ("links.nolink.attempts", "no link named"),
    ("multi_process.missed_deadlines", "not a figure of a run"),          # only with --up
])
def test_show_is_checked_before_the_sweep_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch, show: str, words: str) -> None:
    monkeypatch.setattr(runner, "run_sweep", never_runs)
    scenario = write_tiny(tmp_path)
    output = tmp_path / "results"
    assert main(["sweep", str(scenario), "--vary", "workload[0].pairs=4", "--show", "workload[0].pairs_per_s",
                 "--show", show, "--output", str(output)]) == 2
    one_line(capsys, words)
    assert not output.exists()


def test_plot_sweep_output_that_cannot_be_written_is_one_line(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    scenario = write_tiny(tmp_path)
    results = tmp_path / "results"
    assert main(["sweep", str(scenario), "--vary", "workload[0].pairs=4,5", "--output", str(results),
                 "--workers", "1", "--quiet"]) == 0
    capsys.readouterr()
    (tmp_path / "file").write_text("")
    assert main(["plot", "sweep", str(results), "--y", "workload[0].pairs_delivered",
                 "--output", str(tmp_path / "file" / "s.png")]) == 2
    one_line(capsys, "cannot write --output")
    assert main(["plot", "sweep", str(results), "--y", "workload[0].pairs_delivered",
                 "--output", str(tmp_path / "new" / "deeper" / "s.png")]) == 0      # missing parents are made
    assert (tmp_path / "new" / "deeper" / "s.png").stat().st_size > 0


@pytest.mark.parametrize(("arguments", "words"), [
    (["--seeds", "100000000000"], ("100000000000 runs (1 point × 100000000000 seeds) is more than a sweep can hold",)),
    (["--vary", "nodes.alice.t2_ms=1:2:100000000000"], ("COUNT must be at most 1000000",)),
    (["--vary", "nodes.alice.t2_ms=1:2:101", "--seeds", "100"],
     ("10100 runs (101 points × 100 seeds) is more than --max-runs 10000: give --max-runs 10100 to run them",)),
    (["--max-runs", "0"], ("--max-runs must be an integer from 1 to 10000000, got 0",)),
])
def test_a_huge_sweep_is_refused_before_anything_is_checked_or_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        arguments: list[str], words: tuple[str, ...]) -> None:
    monkeypatch.setattr(runner, "run_sweep", never_runs)
    monkeypatch.setattr("stack.sweep.plan.check_point", never_runs)
    scenario = write_tiny(tmp_path)
    output = tmp_path / "results"
    assert main(["sweep", str(scenario), "--vary", "workload[0].pairs=4", *arguments, "--output", str(output),
                 "--quiet"]) == 2
    one_line(capsys, *words)
    assert not output.exists()


def test_max_runs_lets_a_big_sweep_through(tmp_path: Path) -> None:
    from stack.sweep import SweepError, define_sweep

    scenario = write_tiny(tmp_path)
    with pytest.raises(SweepError, match="more than --max-runs 10000"):
        define_sweep(scenario, ["nodes.alice.t2_ms=1:2:101"], seeds=100)
    assert len(define_sweep(scenario, ["nodes.alice.t2_ms=1:2:101"], seeds=100, max_runs=10100).tasks()) == 10100


def test_ctrl_c_before_any_run_says_nothing_was_saved(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("stack.sweep.plan.check_point", interrupted)      # Ctrl-C while the points are checked
    scenario = write_tiny(tmp_path)
    assert main(["sweep", str(scenario), "--vary", "workload[0].pairs=4", "--output", str(tmp_path / "r"),
                 "--quiet"]) == 130
    err = capsys.readouterr().err
    assert "nothing was saved" in err and "resume" not in err


@pytest.mark.parametrize(("show", "early"), [
    ("workload[0].disagreement.X.rate", False),       # only in runs that measured pairs in X: later ones may
    ("links.alice-bob.arm_a_efficiency.total", False),
    ("workload[0].pairs_per_sec", True),              # a field of the entry: in every report, or in none
    ("workload[0].pairs_per_s.x", True),              # under a value: nothing nests there
])
def test_show_is_refused_early_only_when_no_later_run_can_have_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        show: str, early: bool) -> None:
    """Resuming, a --show name the saved runs lack is refused before anything runs only when later runs cannot
    have it either; a nested figure that appears only in runs that measured it is checked after the runs, as
    before (the runs saved, and the same command with the name corrected prints the table)."""
    from stack.sweep import define_sweep, read_results
    from stack.sweep.results import ResultsDir

    scenario = write_tiny(tmp_path)
    output = tmp_path / "results"
    vary = "workload[0].pairs=4,5"
    store = ResultsDir.open(output, define_sweep(scenario, [vary]))
    for point in (0, 1):
        store.record({"point": point, "replicate": 0, "seed": 1, "workload[0].pairs": 4 + point, "status": "ok",
                      "error": None, "workload[0].pairs_per_s": 2.0, "workload[0].pairs_delivered": 3})
    store.finish(None, interrupted=False)
    ran = []

    def nothing_left(*_: object, **__: object) -> object:
        ran.append(True)
        return read_results(output)

    monkeypatch.setattr(runner, "run_sweep", nothing_left)
    assert main(["sweep", str(scenario), "--vary", vary, "--output", str(output), "--show", show]) == 2
    one_line(capsys, f"--show {show}: no such figure" if early else "the runs are saved")
    assert ran == ([] if early else [True])
