"""``qnet plot sweep`` without a cluster: results written through the results directory, then plotted.

What the plot draws is checked on :func:`stack.sweep.plot.plot_data` (its points, in sweep order); the command's
checks of ``--output`` and of options that do not apply are one line, before any work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stack.cli import main, plots
from stack.sweep import define_sweep, read_results
from stack.sweep.plot import plot_data
from stack.sweep.results import ResultsDir
from stack.sweep.spec import SweepError
from tests.sweep_util import write_tiny


def results_of(tmp_path: Path, vary: list[str], values: dict[int, list[Any]], seeds: int = 1) -> Path:
    """A finished results directory: run (point, j) has figure ``y`` = values[point][j] (None: no value)."""
    sweep = define_sweep(write_tiny(tmp_path), vary, seeds=seeds)
    output = tmp_path / "results"
    store = ResultsDir.open(output, sweep)
    for task in sweep.tasks():
        store.record({"point": task.point, "replicate": task.replicate, "seed": task.seed, **task.params,
                      "status": "ok", "error": None, "y": values[task.point][task.replicate], "wall_s": 0.1,
                      "worker": "w", "qnetstack": "0"})
    store.finish(None, interrupted=False)
    return output


def one_line(capsys: pytest.CaptureFixture[str], *words: str) -> None:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("qnet: error: "), err
    for word in words:
        assert word in err, err


def test_text_and_boolean_values_are_categories_in_sweep_order(tmp_path: Path) -> None:
    output = results_of(tmp_path, ["links.alice-bob.mode=sampled,exact", "workload[0].atomic=true,false"],
                        {0: [1.0], 1: [2.0], 2: [3.0], 3: [4.0]})
    data = plot_data(read_results(output), "links.alice-bob.mode", "y")
    assert data.categories == ["sampled", "exact"]              # not alphabetical (exact, sampled)
    assert [line.label for line in data.series] == ["workload[0].atomic=true", "workload[0].atomic=false"]
    assert [(line.x, line.mean) for line in data.series] == [([0.0, 1.0], [1.0, 3.0]), ([0.0, 1.0], [2.0, 4.0])]
    booleans = plot_data(read_results(output), "workload[0].atomic", "y")
    assert booleans.categories == ["true", "false"]             # not 1 and 0 on a numeric axis


def test_numbers_are_a_numeric_axis_and_series_are_in_sweep_order_with_inf_a_category(tmp_path: Path) -> None:
    output = results_of(tmp_path, ["workload[0].pairs=10,20,5", "nodes.alice.t2_ms=20,inf"],
                        {i: [float(i)] for i in range(6)})
    data = plot_data(read_results(output), "nodes.alice.t2_ms", "y")
    # not sorted as text (10, 20, 5) nor as numbers (5, 10, 20): in the order given
    assert [line.label for line in data.series] == [f"workload[0].pairs={n}" for n in (10, 20, 5)]
    assert data.categories == ["20", "inf"]                      # inf has no place on a numeric axis: not dropped
    numeric = plot_data(read_results(output), "workload[0].pairs", "y")
    assert numeric.categories is None
    assert [line.x for line in numeric.series] == [[10.0, 20.0, 5.0], [10.0, 20.0, 5.0]]


def test_a_point_with_fewer_values_than_runs_is_marked(tmp_path: Path) -> None:
    output = results_of(tmp_path, ["workload[0].pairs=1,2,3"],
                        {0: [1.0, 2.0, 3.0], 1: [5.0, None, None], 2: [None, None, None]}, seeds=3)
    data = plot_data(read_results(output), "workload[0].pairs", "y")
    (line,) = data.series
    assert (line.x, line.n, line.runs, line.partial) == ([1.0, 2.0], [3, 1], [3, 3], [False, True])
    assert line.error[0] > 0 and line.error[1] == 0.0 and line.mean == [2.0, 5.0]
    assert data.missing == ["workload[0].pairs=3"]                # named under the plot, not left out silently


def test_plot_output_is_the_file_written_and_a_directory_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    output = results_of(tmp_path, ["workload[0].pairs=1,2"], {0: [1.0], 1: [2.0]})
    monkeypatch.chdir(tmp_path)
    assert main(["plot", "sweep", str(output), "--y", "y", "--output", "name"]) == 0
    assert capsys.readouterr().out == "qnet: wrote name.png\n" and (tmp_path / "name.png").stat().st_size > 0
    assert not (tmp_path / "name").exists()
    assert main(["plot", "sweep", str(output), "--y", "y", "--output", "figure.svg"]) == 0
    assert (tmp_path / "figure.svg").read_text().lstrip().startswith("<?xml")
    (tmp_path / "pictures").mkdir()
    assert main(["plot", "sweep", str(output), "--y", "y", "--output", "pictures"]) == 2
    one_line(capsys, "cannot write --output pictures: it is a directory")
    assert list((tmp_path / "pictures").iterdir()) == [] and not (tmp_path / "pictures.png").exists()


def never_runs(*_: object, **__: object) -> None:
    raise AssertionError("the plot was drawn")


@pytest.mark.parametrize("figure", ["sweep", "rate-vs-distance", "sync"])
def test_an_output_matplotlib_cannot_write_is_refused_before_any_work(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], figure: str) -> None:
    output = results_of(tmp_path, ["workload[0].pairs=1,2"], {0: [1.0], 1: [2.0]})
    for name in ("rate_vs_distance", "sync_offsets"):
        monkeypatch.setattr(plots, name, never_runs)
    monkeypatch.setattr("stack.sweep.plot.plot_sweep", never_runs)
    source = str(output) if figure == "sweep" else str(tmp_path / "tiny.toml")
    assert main(["plot", figure, source, *(["--y", "y"] if figure == "sweep" else []),
                 "--output", str(tmp_path / "x.txt")]) == 2
    one_line(capsys, "x.txt: '.txt' is not an image format matplotlib writes (", "png")
    assert not (tmp_path / "x.txt").exists()


@pytest.mark.parametrize(("figure", "option", "words"), [
    ("sweep", ["--max-km", "50"], "--max-km applies to qnet plot rate-vs-distance only, not to qnet plot sweep"),
    ("sweep", ["--pairs", "50"], "--pairs applies to qnet plot rate-vs-distance only"),
    ("sweep", ["--seed", "3"], "--seed applies to qnet plot rate-vs-distance and qnet plot sync only"),
    ("sync", ["--pairs", "50"], "--pairs applies to qnet plot rate-vs-distance only, not to qnet plot sync"),
    ("rate-vs-distance", ["--logy"], "--logy applies to qnet plot sweep only"),
])
def test_an_option_the_figure_would_ignore_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str], figure: str,
                                                      option: list[str], words: str) -> None:
    output = results_of(tmp_path, ["workload[0].pairs=1,2"], {0: [1.0], 1: [2.0]})
    for name in ("rate_vs_distance", "sync_offsets"):
        monkeypatch.setattr(plots, name, never_runs)
    source = str(output) if figure == "sweep" else str(tmp_path / "tiny.toml")
    extra = ["--y", "y"] if figure == "sweep" else []
    assert main(["plot", figure, source, *extra, *option, "--output", str(tmp_path / "p.png")]) == 2
    one_line(capsys, words)
    assert not (tmp_path / "p.png").exists()


def test_a_log_y_axis_names_the_points_it_cannot_show(tmp_path: Path) -> None:
    """--logy: a mean of 0 (every run delivered nothing) has no place on a log axis; matplotlib would clip it
    or leave it out silently: it is dropped from the line and named under the plot, as a point no run has a
    value at is."""
    from stack.sweep.plot import plot_sweep, positive_only

    output = results_of(tmp_path, ["workload[0].pairs=1,2,3"], {0: [0.0, 0.0], 1: [2.0, 3.0], 2: [None, None]},
                        seeds=2)
    data = plot_data(read_results(output), "workload[0].pairs", "y")
    assert data.missing == ["workload[0].pairs=3"]
    assert positive_only(data) == ["workload[0].pairs=1"]
    (line,) = data.series
    assert (line.x, line.mean, line.where) == ([2.0], [2.5], ["workload[0].pairs=2"])
    assert plot_sweep(read_results(output), "workload[0].pairs", "y", tmp_path / "log.png", logy=True).stat().st_size
    (tmp_path / "zeros").mkdir()
    zeros = results_of(tmp_path / "zeros", ["workload[0].pairs=1,2"], {0: [0.0], 1: [0.0]})
    with pytest.raises(SweepError, match="every point's mean of y is 0 or less"):
        plot_sweep(read_results(zeros), "workload[0].pairs", "y", tmp_path / "zeros.png", logy=True)


def test_category_series_sit_side_by_side_unjoined(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a category axis the series were drawn on one x, their error bars over one another, and joined by lines
    as if values lay between two schemes: now each series is beside the tick, bars only."""
    import matplotlib.axes

    from stack.sweep.plot import plot_sweep

    output = results_of(tmp_path, ["links.alice-bob.mode=sampled,exact", "workload[0].atomic=true,false"],
                        {0: [1.0], 1: [2.0], 2: [3.0], 3: [4.0]})
    calls: list[tuple[list[float], str]] = []
    draw = matplotlib.axes.Axes.errorbar

    def spy(self: Any, x: list[float], *args: Any, **kwargs: Any) -> Any:
        calls.append((list(x), kwargs["fmt"]))
        return draw(self, x, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "errorbar", spy)
    plot_sweep(read_results(output), "links.alice-bob.mode", "y", tmp_path / "c.png")
    assert calls == [([-0.05, 0.95], "none"), ([0.05, 1.05], "none")]
    calls.clear()
    plot_sweep(read_results(output), "workload[0].atomic", "y", tmp_path / "b.png")    # booleans: categories too
    assert [fmt for _, fmt in calls] == ["none", "none"]


def test_without_y_the_error_names_figures_to_choose(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """It said 'did you mean' names close to workload[0].pairs_per_s though nothing was misspelt (nothing given),
    and nothing when no figure was close: now the headline figures, else the first."""
    output = results_of(tmp_path, ["workload[0].pairs=1,2"], {0: [1.0], 1: [2.0]})
    assert main(["plot", "sweep", str(output), "--output", str(tmp_path / "p.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("qnet: error: --y FIGURE is needed, a column of "), err
    assert err.rstrip().endswith("results.parquet such as y") and "did you mean" not in err, err
