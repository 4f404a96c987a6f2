"""Scenario validation and the ``qnet`` command line.

Every bad scenario must become one ScenarioError (and one ``qnet: error:`` line, exit status
2) naming the file and the dotted key; never a traceback.
"""

from __future__ import annotations

import copy
import json
import math
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stack.cli import commands as cli
from stack.scenario import ScenarioError, load, load_text

ROOT = Path(__file__).resolve().parent.parent

BASE: dict[str, Any] = {
    "run": {"duration_ms": 1000.0, "seed": 3},
    "nodes": {
        "alice": {"kind": "qpu"},
        "bob": {"kind": "qpu"},
        "carol": {"kind": "qpu"},
        "mid": {"kind": "station"},
    },
    "links": {"ab": {"a": "alice", "b": "bob", "station": "mid", "length_km": 1.0}},
    "workload": [
        {"node": "alice", "remote": "bob", "type": "keep", "pairs": 20},
        {"node": "alice", "remote": "bob", "type": "measure", "pairs": 20, "basis": "X"},
    ],
}


def value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(v)


def to_toml(doc: dict[str, Any]) -> str:
    """Just enough TOML for scenario documents: scalars, tables of tables, an array of tables."""
    lines = [f"{k} = {value(v)}" for k, v in doc.items() if not isinstance(v, dict | list)]
    for key, sub in doc.items():
        if isinstance(sub, list):
            for item in sub:
                lines.append(f"\n[[{key}]]")
                lines += [f"{k} = {value(v)}" for k, v in item.items()]
        elif isinstance(sub, dict):
            scalars = {k: v for k, v in sub.items() if not isinstance(v, dict)}
            if scalars or not sub:
                lines.append(f"\n[{key}]")
                lines += [f"{k} = {value(v)}" for k, v in scalars.items()]
            for name, table in sub.items():
                if isinstance(table, dict):
                    lines.append(f"\n[{key}.{name}]")
                    lines += [f"{k} = {value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def mutated(path: tuple[Any, ...], new: Any) -> dict[str, Any]:
    """BASE with the value at ``path`` replaced (or, with new=DELETE, removed)."""
    doc = copy.deepcopy(BASE)
    target = doc
    for step in path[:-1]:
        target = target[step]
    if new is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = new
    return doc


DELETE = object()


def test_base_scenario_loads_with_units_converted() -> None:
    scenario = load_text(to_toml(BASE), "base.toml")
    assert scenario.run.duration_ns == 1_000_000_000
    assert scenario.run.seed == 3
    assert [n.node_id for n in scenario.nodes.values()] == [1, 2, 3, 4]
    (link,) = scenario.links
    assert (link.length_a_km, link.length_b_km) == (0.5, 0.5)
    assert [w.type for w in scenario.workload] == ["keep", "measure"]
    assert [w.purpose_id for w in scenario.workload] == [1, 2]
    assert scenario.workload[1].basis == "X"


def test_two_qpu_scenario_loads() -> None:
    scenario = load(ROOT / "examples" / "two-qpus.toml")
    assert scenario.run.duration_ns == 5_000_000_000
    assert scenario.run.seed == 1
    assert {name: n.kind for name, n in scenario.nodes.items()} == {
        "alice": "qpu", "bob": "qpu", "midpoint": "station"}
    assert scenario.nodes["alice"].t2_ns == pytest.approx(1e6)
    (link,) = scenario.links
    assert (link.a, link.b, link.station) == ("alice", "bob", "midpoint")
    assert link.length_a_km + link.length_b_km == pytest.approx(10.0)
    assert [(w.type, w.pairs) for w in scenario.workload] == [("keep", 500), ("measure", 500)]


def test_default_scenario_is_a_data_centre_and_a_second_site() -> None:
    scenario = load(ROOT / "examples" / "default.toml")
    kinds = [n.kind for n in scenario.nodes.values()]
    assert kinds.count("qpu") >= 4 and "switch" in kinds and kinds.count("station") >= 2
    schemes = {link.scheme for link in scenario.links}
    assert {"coupler", "double-click", "single-click"} <= schemes
    assert max(link.length_a_km + link.length_b_km for link in scenario.links) >= 10.0
    assert any(link.switch for link in scenario.links)


def test_units_of_optional_keys() -> None:
    doc = mutated(("workload", 0, "start_us"), 2.5)
    doc["nodes"]["alice"].update(t2_ms=0.25, readout_ns=700)
    del doc["links"]["ab"]["length_km"]                 # the arms instead of the total
    doc["links"]["ab"].update(length_a_km=0.2, length_b_km=0.9)
    scenario = load_text(to_toml(doc), "x.toml")
    assert scenario.workload[0].start_ns == 2_500
    assert scenario.nodes["alice"].t2_ns == pytest.approx(250_000)
    assert scenario.nodes["alice"].readout_ns == 700
    assert (scenario.links[0].length_a_km, scenario.links[0].length_b_km) == (0.2, 0.9)


def test_infinite_t2_means_no_dephasing_and_is_accepted() -> None:
    scenario = load_text(to_toml(mutated(("nodes", "bob", "t2_ms"), math.inf)), "x.toml")
    assert math.isinf(scenario.nodes["bob"].t2_ns)


BAD: list[tuple[str, tuple[Any, ...], Any, str]] = [
    # (case id, path in BASE, new value, dotted key the error must name)
    ("run-type", ("run", "duration_ms"), "long", "run.duration_ms"),
    ("run-range", ("run", "duration_ms"), -1.0, "run.duration_ms"),
    ("run-nan", ("run", "duration_ms"), math.nan, "run.duration_ms"),
    ("run-seed-float", ("run", "seed"), 1.5, "run.seed"),
    ("run-seed-bool", ("run", "seed"), True, "run.seed"),
    ("run-seed-negative", ("run", "seed"), -1, "run.seed"),
    ("run-unknown", ("run", "speed"), 2, "run.speed"),
    ("run-not-table", ("run",), 5, "run"),
    ("node-kind", ("nodes", "alice", "kind"), "router", "nodes.alice.kind"),
    ("node-kind-missing", ("nodes", "alice", "kind"), DELETE, "nodes.alice.kind"),
    ("node-qubits-range", ("nodes", "alice", "communication_qubits"), 0, "nodes.alice.communication_qubits"),
    ("node-qubits-type", ("nodes", "alice", "communication_qubits"), 2.0, "nodes.alice.communication_qubits"),
    ("node-storage-lqid", ("nodes", "alice", "storage_qubits"), 15, "nodes.alice.storage_qubits"),
    ("workload-priority", ("workload", 0, "priority"), 8, "workload[0].priority"),
    ("link-cutoff", ("links", "ab", "cutoff_us"), -1.0, "links.ab.cutoff_us"),
    ("link-cutoff-below-1ns", ("links", "ab", "cutoff_us"), 0.0004, "links.ab.cutoff_us"),
    ("link-quantum", ("links", "ab", "queue_quantum"), 0, "links.ab.queue_quantum"),
    ("node-t2-range", ("nodes", "bob", "t2_ms"), 0.0, "nodes.bob.t2_ms"),
    ("node-unknown", ("nodes", "alice", "colour"), "red", "nodes.alice.colour"),
    ("station-qpu-key", ("nodes", "mid", "t2_ms"), 1.0, "nodes.mid.t2_ms"),
    ("station-efficiency", ("nodes", "mid", "detector_efficiency"), 1.5, "nodes.mid.detector_efficiency"),
    ("node-not-table", ("nodes", "carol"), 3, "nodes.carol"),
    ("nodes-missing", ("nodes",), DELETE, "nodes"),
    ("link-type", ("links", "ab", "length_km"), "far", "links.ab.length_km"),
    ("link-range", ("links", "ab", "depolarizing"), 2.0, "links.ab.depolarizing"),
    ("link-loss-range", ("links", "ab", "classical_loss"), -0.1, "links.ab.classical_loss"),
    ("link-unknown", ("links", "ab", "colour"), "red", "links.ab.colour"),
    ("link-unknown-node", ("links", "ab", "a"), "dave", "links.ab.a"),
    ("link-station-is-qpu", ("links", "ab", "station"), "carol", "links.ab.station"),
    ("link-end-is-station", ("links", "ab", "b"), "mid", "links.ab.b"),
    ("link-same-ends", ("links", "ab", "b"), "alice", "links.ab.b"),
    ("link-station-missing", ("links", "ab", "station"), DELETE, "links.ab.station"),
    ("links-missing", ("links",), DELETE, "links"),
    ("workload-pairs-zero", ("workload", 0, "pairs"), 0, "workload[0].pairs"),
    ("workload-pairs-big", ("workload", 0, "pairs"), 70_000, "workload[0].pairs"),
    ("workload-type", ("workload", 0, "type"), "teleport", "workload[0].type"),
    ("workload-unknown", ("workload", 0, "colour"), "red", "workload[0].colour"),
    ("workload-unlinked", ("workload", 0, "remote"), "carol", "workload[0].remote"),
    ("workload-unknown-node", ("workload", 0, "node"), "nobody", "workload[0].node"),
    ("workload-station", ("workload", 0, "remote"), "mid", "workload[0].remote"),
    ("workload-basis", ("workload", 1, "basis"), "W", "workload[1].basis"),
    ("workload-listen", ("workload", 1, "listen"), "yes", "workload[1].listen"),
    ("workload-purpose-clash", ("workload", 1, "purpose_id"), 1, "workload[1].purpose_id"),
    ("workload-not-array", ("workload",), {"node": "alice"}, "workload"),
    ("top-unknown", ("extra",), 1, "extra"),
    # Non-finite values that are converted to integer nanoseconds.
    ("link-attempt-inf", ("links", "ab", "attempt_duration_ns"), math.inf, "links.ab.attempt_duration_ns"),
    ("link-jitter-inf", ("links", "ab", "classical_jitter_ns"), math.inf, "links.ab.classical_jitter_ns"),
    ("node-readout-inf", ("nodes", "alice", "readout_ns"), math.inf, "nodes.alice.readout_ns"),
    ("station-window-inf", ("nodes", "mid", "detection_window_ns"), math.inf, "nodes.mid.detection_window_ns"),
    ("workload-start-inf", ("workload", 0, "start_us"), math.inf, "workload[0].start_us"),
]


@pytest.mark.parametrize(("path", "new", "key"), [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_value_names_file_and_key(path: tuple[Any, ...], new: Any, key: str) -> None:
    text = to_toml(mutated(path, new))
    with pytest.raises(ScenarioError) as info:
        load_text(text, "bad.toml")
    error = info.value
    assert error.source == "bad.toml"
    assert error.key == key
    assert str(error).startswith(f"bad.toml: {key}: ")
    assert len(str(error).splitlines()) == 1


def test_toml_syntax_error_names_file() -> None:
    with pytest.raises(ScenarioError) as info:
        load_text("[run\nseed = 1\n", "broken.toml")
    assert info.value.source == "broken.toml"
    assert str(info.value).startswith("broken.toml: ")
    assert "line 1" in str(info.value)


def test_missing_file_names_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ScenarioError) as info:
        load(missing)
    assert str(info.value).startswith(f"{missing}: ")


# -- the command line -------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "new", "key"), [
    (("links", "ab", "station"), "carol", "links.ab.station"),
    (("workload", 0, "pairs"), 0, "workload[0].pairs"),
    (("run", "duration_ms"), "long", "run.duration_ms"),
    (("links", "ab", "attempt_duration_ns"), math.inf, "links.ab.attempt_duration_ns"),
])
def test_cli_bad_scenario_is_one_line_and_status_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   path: tuple[Any, ...], new: Any, key: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(to_toml(mutated(path, new)))
    status = cli.main(["run", str(bad), "--no-pcap"])
    out, err = capsys.readouterr()
    assert status == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("qnet: error:")
    assert str(bad) in lines[0] and key in lines[0]
    assert "Traceback" not in err


def test_cli_syntax_error_and_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[nodes.alice\n")
    assert cli.main(["run", str(broken), "--no-pcap"]) == 2
    assert cli.main(["run", str(tmp_path / "missing.toml"), "--no-pcap"]) == 2
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert out == "" and len(lines) == 2
    assert lines[0].startswith("qnet: error: ") and str(broken) in lines[0]
    assert lines[1].startswith("qnet: error: ") and str(tmp_path / "missing.toml") in lines[1]


def test_cli_negative_seed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.toml"
    good.write_text(to_toml(BASE))
    assert cli.main(["run", str(good), "--seed", "-4", "--no-pcap"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("qnet: error:")


def test_console_script_bad_scenario_subprocess(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(to_toml(mutated(("nodes", "alice", "colour"), "red")))
    proc = subprocess.run([sys.executable, "-m", "stack.cli", "run", str(bad)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("qnet: error:")
    assert str(bad) in lines[0] and "nodes.alice.colour" in lines[0]
    assert not (tmp_path / "out").exists()          # nothing written for a rejected scenario


SMALL = """
[run]
duration_ms = 1000
seed = 3

[nodes.a]
kind = "qpu"

[nodes.b]
kind = "qpu"

[nodes.m]
kind = "station"

[links.ab]
a = "a"
b = "b"
station = "m"
length_km = 1.0

[[workload]]
node = "a"
remote = "b"
type = "keep"
pairs = 20

[[workload]]
node = "a"
remote = "b"
type = "measure"
pairs = 20
"""

REPORT_KEYS = {"report_version", "scenario", "seed", "links", "workload", "nodes", "medium", "capture_frames"}


def count_pcap_records(data: bytes) -> int:
    offset, count = 24, 0
    while offset < len(data):
        incl = struct.unpack_from("<I", data, offset + 8)[0]
        offset += 16 + incl
        count += 1
    assert offset == len(data)
    return count


def test_cli_runs_a_small_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "small.toml"
    scenario.write_text(SMALL)
    out_json, pcap = tmp_path / "report.json", tmp_path / "small.pcap"
    assert cli.main(["run", str(scenario), "--json", str(out_json), "--pcap", str(pcap)]) == 0
    stdout, stderr = capsys.readouterr()
    assert stderr == ""
    assert "small.toml" in stdout                      # the summary table
    report = json.loads(out_json.read_text())
    assert set(report) >= REPORT_KEYS
    assert report["report_version"] == 1
    assert report["scenario"] == str(scenario)
    assert report["seed"] == 3
    assert set(report["nodes"]) == {"a", "b", "m"}
    assert [link["name"] for link in report["links"]] == ["ab"]
    assert [(w["type"], w["pairs_requested"]) for w in report["workload"]] == [("keep", 20), ("measure", 20)]
    for w in report["workload"]:
        assert w["pairs_delivered"] == 20 and w["errors"] == []
    data = pcap.read_bytes()
    assert data[:4] == b"\x4d\x3c\xb2\xa1"
    assert report["capture_frames"] == count_pcap_records(data) > 0


def test_cli_same_seed_same_report_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "small.toml"
    scenario.write_text(SMALL)
    reports = []
    for name, seed in (("one", "9"), ("two", "9"), ("three", "10")):
        out = tmp_path / f"{name}.json"
        assert cli.main(["run", str(scenario), "--seed", seed, "--json", str(out), "--no-pcap", "--quiet"]) == 0
        reports.append(out.read_bytes())
    assert capsys.readouterr().out == ""
    assert reports[0] == reports[1]
    assert reports[0] != reports[2]
    assert json.loads(reports[0])["seed"] == 9
    assert json.loads(reports[0])["capture_frames"] is None


def test_plot_rate_vs_distance_writes_a_png(tmp_path: Path) -> None:
    output = tmp_path / "sweep.png"
    code = cli.main(["plot", "rate-vs-distance", str(ROOT / "examples" / "two-qpus.toml"), "--output", str(output),
                 "--max-km", "20", "--pairs", "30"])
    assert code == 0
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_two_links_must_agree_on_a_shared_stretch_of_fibre() -> None:
    text = """
[nodes.a]
kind = "qpu"
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
length_km = 10.0
[links.ac]
a = "a"
b = "c"
station = "st"
length_km = 2.0
"""
    with pytest.raises(ScenarioError, match=r"x.toml: links.ac.length_a_km: 'a' to 'st' is 5.0 km"):
        load_text(text, "x.toml")


def test_a_link_that_can_never_herald_refuses_requests() -> None:
    text = """
[run]
duration_ms = 5
[nodes.a]
kind = "qpu"
emission_efficiency = 0.0
[nodes.b]
kind = "qpu"
[nodes.st]
kind = "station"
[links.ab]
a = "a"
b = "b"
station = "st"
[[workload]]
node = "a"
remote = "b"
pairs = 3
"""
    from stack.runtime import run_scenario
    result = run_scenario(load_text(text, "x.toml"))
    assert result.emulation.link_physics[1].success_probability == 0.0
    workload = result.emulation.workloads[0]
    assert workload.origin.errors == [1] and not workload.origin.records     # ERR UNSUPP


def test_plot_sync_draws_the_clock_offsets(tmp_path: Path) -> None:
    scenario = tmp_path / "sync.toml"
    scenario.write_text("""
[run]
duration_ms = 200
[nodes.a]
kind = "qpu"
ptp = "slave"
clock_offset_ns = 500.0
[nodes.st]
kind = "station"
ptp = "grandmaster"
[nodes.b]
kind = "qpu"
[links.ab]
a = "a"
b = "b"
station = "st"
""")
    output = tmp_path / "sync.png"
    assert cli.main(["plot", "sync", str(scenario), "--output", str(output)]) == 0
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cli.main(["plot", "sync", str(ROOT / "examples" / "two-qpus.toml"), "--output", str(output)]) == 2
