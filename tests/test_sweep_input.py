"""``qnet sweep`` input: KEY=VALUES specs, grids, seeds, and bad input named before anything runs.

None of these tests starts Dask: every problem must be found while the sweep is being defined.
"""

from __future__ import annotations

import doctest
import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stack.cli import main
from stack.report import build_report
from stack.runtime import run_scenario
from stack.scenario import ScenarioError, load_data, load_text, parse_toml
from stack.sweep import SweepError, define_sweep, run_seed
from stack.sweep.figures import figures
from stack.sweep.plan import check_point, with_values
from stack.sweep.spec import key_name, key_path, parse_axis, parse_value, points
from tests.mp_util import ROOT
from tests.sweep_util import tiny_toml, write_tiny


@pytest.mark.parametrize(("spec", "values"), [
    ("links.ab.length_km=1:100:3", (1.0, 50.5, 100.0)),
    ("links.ab.length_km=0:100:5", (0, 25, 50, 75, 100)),              # integral steps stay integers
    ("links.ab.length_km=1:10:2:log", (1, 10)),                      # a log range of integers too
    ("links.ab.length_km=1:100:3:log", (1, 10, 100)),
    ("workload[0].pairs=1:100:4:log", (1.0, 4.64158883361, 21.5443469003, 100.0)),
    ("links.ab.length_km=1.0:100:3:log", (1.0, 10.0, 100.0)),
    ("nodes.a.transducer_efficiency=0.1:0.5:5", (0.1, 0.2, 0.3, 0.4, 0.5)),   # no 0.30000000000000004
    ("nodes.a.transducer_efficiency=0.1,0.3,0.5", (0.1, 0.3, 0.5)),
    ("links.ab.mode=sampled,exact", ("sampled", "exact")),
    ("workload[0].atomic=true,false", (True, False)),
    ("workload[0].pairs=7", (7,)),
    ("nodes.a.t1_ms=inf", (float("inf"),)),
    ("links.ab.scheme='single-click'", ("single-click",)),
])
def test_specs(spec: str, values: tuple[object, ...]) -> None:
    axis = parse_axis(spec)
    assert axis.values == pytest.approx(values) if isinstance(values[0], float) else axis.values == values
    assert [type(v) for v in axis.values] == [type(v) for v in values]


def test_ranges_are_numpy_linspace_and_geomspace_to_12_significant_digits() -> None:
    for spec, numpy_values in (("k=0.5:7:14", np.linspace(0.5, 7, 14)), ("k=0.001:1:7:log", np.geomspace(0.001, 1, 7)),
                               ("k=0.1:0.5:5", np.linspace(0.1, 0.5, 5))):
        values = parse_axis(spec).values
        assert values == tuple(float(f"{v:.12g}") for v in numpy_values)
        assert np.allclose(values, numpy_values, rtol=1e-11, atol=0)
    assert np.linspace(0.1, 0.5, 5)[2] != 0.3 and parse_axis("k=0.1:0.5:5").values[2] == 0.3


def test_integer_ranges_stay_exact_however_many_digits_and_floats_keep_their_own_digits() -> None:
    """Rounding every value to 12 significant digits made 1000000000001:1000000000003:3 one value three times
    (refused as repeated) and 1234567890123 1234567890120 (review): integers are computed exactly, floats keep
    12 significant digits or as many as START or STOP is written with."""
    assert parse_axis("k=1000000000001:1000000000003:3").values == (1000000000001, 1000000000002, 1000000000003)
    assert parse_axis("k=1234567890123:1234567890125:2").values == (1234567890123, 1234567890125)
    big = 10**30 + 1
    assert parse_axis(f"k={big}:{big + 4}:3").values == (big, big + 2, big + 4)       # past float precision
    assert parse_axis("k=1000000000001:1000000000000001:3:log").values[::2] == (1000000000001, 1000000000000001)
    assert parse_axis("k=1000000000001.5:1000000000003.5:3").values == (1000000000001.5, 1000000000002.5,
                                                                        1000000000003.5)
    assert parse_axis("k=1.00000000000001:1.00000000000003:3:log").values[2] == 1.00000000000003


@pytest.mark.parametrize("spec", ["k=10,10.0", "k=1e1,10", "k=0.5,5e-1"])
def test_a_value_repeated_in_another_spelling_is_one_point(spec: str) -> None:
    with pytest.raises(SweepError, match="given more than once"):
        parse_axis(spec)
    assert parse_axis("k=1,true").values == (1, True)              # a boolean is not the number 1


@pytest.mark.parametrize(("spec", "message"), [
    ("links.ab.length_km", "expected KEY=VALUES"),
    ("=1,2", "expected KEY=VALUES"),
    ("links.ab.length_km=1:10", "a range is START:STOP:COUNT"),
    ("links.ab.length_km=1:10:3:lin", "a range is START:STOP:COUNT"),
    ("links.ab.length_km=1:10:0", "COUNT must be a positive integer, got '0'"),
    ("links.ab.length_km=1:10:2.5", "COUNT must be a positive integer"),
    ("links.ab.length_km=a:10:3", "START must be a finite number, got 'a'"),
    ("links.ab.length_km=0:10:3:log", "a log range needs positive START and STOP"),
    ("links..length_km=1", "is not a scenario key"),
    ("nodes.alice.t2_ms=1:2:100000000000", "COUNT must be at most 1000000, got 100000000000"),
    ("workload[0].pairs=5:5:3", "START and STOP are equal, so its 3 values would be one point repeated"),
    ("workload[0].pairs=5,6,5", "the value 5 is given more than once"),
])
def test_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(SweepError, match=message.replace("(", r"\(")):
        parse_axis(spec)


def test_keys_round_trip_and_values_parse_like_toml() -> None:
    assert key_path("workload[1].pairs") == ("workload", 1, "pairs")
    assert key_name(("workload", 1, "pairs")) == "workload[1].pairs"
    assert key_name(key_path("links.alice-bob.length_km")) == "links.alice-bob.length_km"
    assert [parse_value(v) for v in ("3", "-3", "3.0", "1e3", "true", "x", '"3"')] == [3, -3, 3.0, 1000.0, True,
                                                                                       "x", "3"]


def test_grid_and_zip() -> None:
    a, b = parse_axis("a=1,2"), parse_axis("b=x,y")
    assert points((a, b)) == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"}, {"a": 2, "b": "y"}]
    assert points((a, b), zipped=True) == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    with pytest.raises(SweepError, match="--zip needs the same number of values"):
        points((a, parse_axis("b=1,2,3")), zipped=True)


def test_seeds_follow_the_documented_seed_sequence_derivation(tmp_path: Path) -> None:
    sweep = define_sweep(write_tiny(tmp_path), ["links.alice-bob.length_km=1,2"], seeds=3, root_seed=11)
    tasks = sweep.tasks()
    assert [(t.point, t.replicate) for t in tasks] == [(i, j) for i in range(2) for j in range(3)]
    for task in tasks:
        expected = np.random.SeedSequence(11, spawn_key=(task.point, task.replicate)).generate_state(1, np.uint64)
        assert task.seed == int(expected[0]) % 2**63 == run_seed(11, task.point, task.replicate)
    assert len({t.seed for t in tasks}) == len(tasks)
    more = define_sweep(write_tiny(tmp_path), ["links.alice-bob.length_km=1,2"], seeds=5, root_seed=11)
    assert {t.key: t.seed for t in tasks}.items() <= {t.key: t.seed for t in more.tasks()}.items()
    default_root = define_sweep(write_tiny(tmp_path), ["links.alice-bob.length_km=1"])
    assert default_root.root_seed == 5                             # the scenario's run.seed


def test_each_point_is_the_scenario_with_its_values(tmp_path: Path) -> None:
    sweep = define_sweep(write_tiny(tmp_path), ["links.alice-bob.length_km=3,8", "workload[0].pairs=4,6",
                                                "nodes.bob.t2_ms=2.5"], zipped=False)
    assert len(sweep.points()) == 4
    base = load_text(tiny_toml(), "x")
    data = json.loads(json.dumps(__import__("tomllib").loads(tiny_toml())))
    for params in sweep.points():
        scenario = check_point(data, "x", params)
        link = scenario.links[0]
        assert link.length_a_km + link.length_b_km == params["links.alice-bob.length_km"]
        assert scenario.workload[0].pairs == params["workload[0].pairs"]
        assert scenario.nodes["bob"].t2_ns == 2.5e6 and scenario.nodes["alice"] == base.nodes["alice"]


BAD = [
    ("links.alice-bob.lenght_km=1,2", "links.alice-bob.lenght_km: unknown key"),
    ("links.alice-bob.length_km=ten", "links.alice-bob.length_km: expected a number, got 'ten'"),
    ("links.alice-bob.length_km=-5:10:3", "links.alice-bob.length_km: must be in [0.0, 100000.0], got -5.0"),
    ("workload[0].pairs=1.5", "workload[0].pairs: expected an integer, got 1.5"),
    ("workload[0].pairs=10:70000:3", "workload[0].pairs: must be in [1, 65535], got 70000"),
    ("nodes.alice.transducer_efficiency=0.5,1.5", "nodes.alice.transducer_efficiency: must be in [0.0, 1.0], got 1.5"),
    ("nodes.alice.t2_ms=30", "nodes.alice.t2_ms: must be at most 2 × t1_ms"),
    ("links.alice-bob.mode=fast", "links.alice-bob.mode: must be one of sampled, exact; got 'fast'"),
    ("nodes.carol.t1_ms=1", "nodes.carol: the scenario has no node named 'carol'"),
    ("links.alice-carol.length_km=1", "links.alice-carol: the scenario has no link named 'alice-carol'"),
    ("workload[3].pairs=1", "workload[3]: the scenario has 1 workload entries"),
    ("workload.pairs=1", "workload: is an array of tables: name an entry, e.g. workload[0]"),
    ("links.alice-bob.length_km.x=1", "links.alice-bob.length_km: is a value, not a table"),
    ("run.seed=1,2", "run.seed: set per run by the sweep"),
    ("run.base_port=0", "run.base_port: chosen per run by the sweep"),
    ("sync.kp=3", "sync.kp: must be in [0.0, 2.0], got 3"),
    ("bogus.key=1", "bogus: unknown table"),
]


@pytest.mark.parametrize(("vary", "message"), BAD)
def test_bad_values_are_named_like_the_scenario_loader_names_them(tmp_path: Path, vary: str, message: str) -> None:
    scenario = write_tiny(tmp_path)
    if "t2_ms" in vary:          # t2 ≤ 2·t1 is the loader's cross-key check
        scenario.write_text(tiny_toml().replace("t2_ms = 10.0", "t1_ms = 10.0\nt2_ms = 10.0", 1))
    with pytest.raises(ScenarioError) as caught:
        define_sweep(scenario, [vary])
    assert str(caught.value).startswith(f"{scenario}: {message}")
    assert "(sweep point " in str(caught.value)


def test_other_bad_sweeps(tmp_path: Path) -> None:
    scenario = write_tiny(tmp_path)
    for kwargs, message in ((dict(seeds=0), "--seeds must be a positive integer"),
                            (dict(root_seed=-1), r"--seed must be an integer in \[0, 2\*\*63\)"),
                            (dict(vary=[]), "nothing to vary"),
                            (dict(vary=["workload[0].pairs=1", "workload[0].pairs=2"]), "given more than once")):
        arguments = {"vary": ["workload[0].pairs=1"], **kwargs}
        with pytest.raises(SweepError, match=message):
            define_sweep(scenario, **arguments)
    with pytest.raises(ScenarioError, match=r"no-such.toml: \(file\)"):
        define_sweep(tmp_path / "no-such.toml", ["workload[0].pairs=1"])
    examples = Path(__file__).resolve().parent.parent / "examples"
    for name, key in (("compute.toml", "circuit"), ("api/applications.toml", "application")):
        with pytest.raises(ScenarioError, match=rf"{key}\[0\]: qnet sweep measures the scenario's workload only"):
            define_sweep(examples / name, ["run.seed=1,2"])


@pytest.mark.parametrize(("arguments", "message"), [
    (["--vary", "links.alice-bob.length_km=ten"], "tiny.toml: links.alice-bob.length_km: expected a number, got 'ten'"),
    (["--vary", "links.alice-bob.length_km=1:9"], "--vary links.alice-bob.length_km=1:9: a range is START:STOP:COUNT"),
    (["--vary", "workload[0].pairs=4", "--dilation", "0.01"], "--dilation applies only with --up"),
    (["--vary", "workload[0].pairs=4", "--up", "--dilation", "0"], "--dilation must be a positive"),
    (["--vary", "workload[0].pairs=4", "--seeds", "0"], "--seeds must be a positive integer"),
    (["--vary", "workload[0].pairs=4", "--workers", "0"], "--workers must be at least 1"),
    (["--vary", "workload[0].pairs=4", "--timeout", "-1"], "--timeout must be positive"),
])
def test_cli_bad_input_is_one_line_and_status_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                arguments: list[str], message: str) -> None:
    scenario = write_tiny(tmp_path)
    output = tmp_path / "results"
    assert main(["sweep", str(scenario), *arguments, "--output", str(output), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("qnet: error: ") and message in err
    assert not (output / "journal.jsonl").exists()


def test_cli_bad_base_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = write_tiny(tmp_path)
    scenario.write_text(tiny_toml().replace("length_km = 1.0", 'length_km = "far"'))
    assert main(["sweep", str(scenario), "--vary", "workload[0].pairs=4"]) == 2
    assert capsys.readouterr().err == f"qnet: error: {scenario}: links.alice-bob.length_km: expected a number, " \
                                      "got 'far'\n"


def test_cli_plot_sweep_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plot", "sweep", str(tmp_path / "nothing"), "--y", "x"]) == 2
    assert "no such results directory" in capsys.readouterr().err
    assert main(["plot", "sweep", str(tmp_path), "--y", "x"]) == 2
    assert "sweep.json: not a sweep's metadata" in capsys.readouterr().err


def test_figures_flatten_a_report_by_scenario_names() -> None:
    report = {"report_version": 1, "scenario": "s", "seed": 1, "end_ns": 5, "capture_frames": None, "sync": None,
              "links": [{"name": "ab", "station": "mid", "scheme": "double-click", "attempts": 3,
                         "arm_a_efficiency": {"total": 0.5}}],
              "workload": [{"pairs_per_s": None, "errors": ["TIMEOUT", "NORES"],
                            "disagreement": {"X": {"pairs": 2, "rate": 0.5}}}],
              "nodes": {"alice": {"ip": "198.18.0.1", "sent": 7}}, "medium": {"created": 4}}
    assert figures(report) == {"end_ns": 5, "links.ab.attempts": 3, "links.ab.arm_a_efficiency.total": 0.5,
                               "workload[0].pairs_per_s": None, "workload[0].errors": "TIMEOUT,NORES",
                               "workload[0].disagreement.X.pairs": 2, "workload[0].disagreement.X.rate": 0.5,
                               "nodes.alice.sent": 7, "medium.created": 4}


def _numbers(value: object, out: list[float]) -> list[float]:
    """Every number of a report's JSON, wherever it is (the oracle for the flattening)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in ("seed", "offset_ns", "capture_frames", "report_version"):
                _numbers(item, out)
    elif isinstance(value, list):
        for item in value:
            _numbers(item, out)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        out.append(value)
    return out


def test_every_list_of_a_report_is_flattened_circuits_and_repeaters_too() -> None:
    """The repeater chain's report has circuits[] (with hops_detail[] and repeaters[] inside): every number of it
    is a column (circuits were dropped: only links and workload lists were flattened)."""
    from stack.sweep.figures import section_problem
    from stack.sweep.point import run_point

    scenario = ROOT / "examples" / "repeater-chain.toml"
    sweep = define_sweep(scenario, ["workload[0].pairs=4"])
    task = sweep.tasks()[0]
    row = run_point(task, sweep.text)
    assert row["status"] == "ok", row["error"]
    data = parse_toml(scenario.read_text(), str(scenario))
    report = build_report(run_scenario(load_data(with_values(data, str(scenario), task.params), str(scenario)),
                                       task.seed))
    circuit = report["circuits"][0]
    assert circuit["pairs_per_s"] is not None and len(circuit["repeaters"]) == 3
    assert row["circuits[0].pairs_per_s"] == circuit["pairs_per_s"]
    assert row["circuits[1].pairs_delivered_remote"] == report["circuits"][1]["pairs_delivered_remote"]
    assert row["circuits[0].repeaters[2].swaps"] == circuit["repeaters"][2]["swaps"]
    assert row["circuits[0].hops_detail[3].link_pairs"] == circuit["hops_detail"][3]["link_pairs"]
    assert row["circuits[0].path"] == "a,r1,r2,r3,b"
    flat = figures(report)
    assert sorted(v for v in flat.values() if isinstance(v, int | float) and not isinstance(v, bool)) \
        == sorted(_numbers(report, []))
    assert section_problem("circuits[0].pairs_per_s", ["ab"], ["a", "b"], 2, False) is None
    assert "circuits[2] is not an entry" in str(section_problem("circuits[2].pairs_per_s", [], [], 2, False))


def test_qnet_start_up_imports_nothing_heavy() -> None:
    """Dask, pyarrow, scipy, rich and matplotlib load only when a sweep or a plot runs."""
    heavy = ("dask", "distributed", "pyarrow", "scipy", "rich", "matplotlib", "tomli_w")
    code = f"import sys, stack.cli.commands; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("module", ["stack.sweep.spec", "stack.sweep.figures", "stack.sweep.summary"])
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


def test_the_python_api_takes_a_dict_of_lists_single_values_or_specs(tmp_path: Path) -> None:
    scenario = write_tiny(tmp_path)
    assert define_sweep(scenario, {"workload[0].pairs": 5}).points() == [{"workload[0].pairs": 5}]
    spec = define_sweep(scenario, {"links.alice-bob.length_km": "1:40:5"})     # a SPEC, not its characters
    assert [p["links.alice-bob.length_km"] for p in spec.points()] == [1.0, 10.75, 20.5, 30.25, 40.0]
    for vary, message in (({"workload[0].pairs": None}, "values must be a list, a value or a SPEC string"),
                          ({3: [1]}, "a key must be a string"),
                          ("workload[0].pairs=1", "vary must be a list of KEY=VALUES strings or a dict"),
                          ([5], "5 is not a KEY=VALUES string")):
        with pytest.raises(SweepError, match=message):
            define_sweep(scenario, vary)  # type: ignore[arg-type]


@pytest.mark.parametrize(("spec", "values"), [
    ("k=100000000000:100000000001:3", (100000000000, 100000000000.5, 100000000001)),   # the half was lost
    ("k=1000000000000000:1000000000000001:3", (10**15, 10**15 + 0.5, 10**15 + 1)),
    ("k=-100000000001:-100000000000:3", (-100000000001, -100000000000.5, -100000000000)),
    ("k=100000000000:100000000001:3:log", (100000000000, 100000000000.5, 100000000001)),
    ("k=1000000000000:1000000000001:4", (10**12, 1000000000000.33, 1000000000000.67, 10**12 + 1)),
])
def test_a_non_integer_step_between_large_integers_keeps_its_fraction(spec: str, values: tuple[float, ...]) -> None:
    """Rounding to 12 significant digits made 100000000000:100000000001:3 100000000000 twice (refused as
    repeated), and 1e12:1e12+1:4 two pairs: values whose decimals end are exact, the others keep the digits that
    tell them apart."""
    got = parse_axis(spec).values
    assert got == values and all(isinstance(value, float) for value in got)


@pytest.mark.parametrize(("spec", "words"), [
    ("k=10000000000000000:10000000000000001:3", "10000000000000000.5 is not a value a float holds"),
    ("k=10000000000000000:10000000000000003:3", "10000000000000001.5 is not a value a float holds"),
    ("k=1:1.0000000000000002:3", "1.0000000000000001 is not a value a float holds"),
    ("k=1:1.0000000000000002:3:log", "closer than a float can tell apart near 1.0"),
])
def test_a_range_a_float_cannot_give_is_refused(spec: str, words: str) -> None:
    with pytest.raises(SweepError, match=words) as caught:
        parse_axis(spec)
    assert str(caught.value).startswith(f"--vary {spec}: ") and "\n" not in str(caught.value)


def test_a_million_values_are_checked_in_linear_time() -> None:
    """COUNT may be 1,000,000: the repeated-value check compared every value with every other (10^12 compares)."""
    values = parse_axis("k=0:1:1000000").values
    assert len(set(values)) == 1_000_000 and values[1] == 1.000001e-06


def test_log_ranges_of_large_integers_are_exact_or_floats() -> None:
    """Above 2 ** 52 a float's error is a whole number: numpy's geomspace rounded gave 3000000000000001 for
    3:3e18:7:log (review 9c). The values between are integers only if they are exactly (checked in integers)."""
    from stack.sweep.spec import parse_range

    assert parse_range("x", "3:3000000000000000000:7:log") == tuple(3 * 10 ** (3 * k) for k in range(7))
    assert parse_range("x", "7:7000000000000000000000000000000:4:log") == (7, 7 * 10 ** 10, 7 * 10 ** 20, 7 * 10 ** 30)
    inexact = parse_range("x", "1:3000000000000000000:4:log")
    assert all(isinstance(value, float) for value in inexact) and inexact[-1] == 3e18


def test_an_output_path_in_a_symbolic_link_loop_is_no_input() -> None:
    """`same_file` on a path in a link loop (Path.resolve raises RuntimeError on Python 3.11) is False, not a
    traceback: the output's own open says what is wrong (review 9c)."""
    import os
    import tempfile

    from stack.scenario.files import same_file

    with tempfile.TemporaryDirectory() as scratch:
        here = Path(scratch)
        os.symlink(here / "loop_b", here / "loop_a")
        os.symlink(here / "loop_a", here / "loop_b")
        assert not same_file(here / "loop_a", here / "scenario.toml")
