"""A ``[[circuit]]`` that cannot run is refused before anything runs or is written (exit 2, one line naming the
scenario and the key): ebits between QPUs that share no link under ``service = "link"``, a circuit that does not
compile on the scenario, non-Clifford operations; under ``qnet up`` before any process starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stack.cli import main

CHAIN = """[run]
duration_ms = 50.0
seed = 1
[nodes.qpu1]
kind = "qpu"
communication_qubits = 2
data_qubits = 2
[nodes.qpu2]
kind = "qpu"
communication_qubits = 2
data_qubits = DATA2
[nodes.qpu3]
kind = "qpu"
communication_qubits = 2
data_qubits = 2
[links.a]
a = "qpu1"
b = "qpu2"
scheme = "coupler"
length_km = 0.005
[links.b]
a = "qpu2"
b = "qpu3"
scheme = "coupler"
length_km = 0.005
[[circuit]]
file = "c.stim"
shots = 20
service = "SERVICE"
"""
FOUR = "H 0\nCX 0 1 0 2 0 3\nM 0 1 2 3\n"
"""Four qubits: with no data qubit on qpu2, qpu1 and qpu3 hold two each and the GHZ needs an ebit between them."""


def _scenario(tmp_path: Path, circuit: str = FOUR, service: str = "link", data2: int = 0) -> Path:
    (tmp_path / "c.stim").write_text(circuit)
    path = tmp_path / "s.toml"
    path.write_text(CHAIN.replace("SERVICE", service).replace("DATA2", str(data2)))
    return path


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("qnet: error: ") and "Traceback" not in err, err
    return err.strip()


@pytest.mark.parametrize("command", ["run", "up"])
def test_link_service_for_ebits_between_non_neighbours_is_refused_before_the_run(
        tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = _scenario(tmp_path)
    capture = tmp_path / "keep.pcap"
    capture.write_bytes(b"kept")
    extra = ["--run-dir", str(tmp_path / "run")] if command == "up" else []
    assert main([command, str(scenario), *extra, "--pcap", str(capture)]) == 2
    assert _one_line(capsys) == (f"qnet: error: {scenario}: circuit[0].service: \"link\" serves neighbours only, "
                                 "and the compiled circuit needs ebits between 'qpu1' and 'qpu3', which share no "
                                 "link: use \"network\" or \"auto\"")
    assert capture.read_bytes() == b"kept"
    assert not (tmp_path / "run").exists()                   # no process was started


def test_the_same_circuit_runs_with_the_network_service(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """qpu2 only repeats: the report's ``qpus`` and the summary's count leave it out alike."""
    report = tmp_path / "r.json"
    assert main(["run", str(_scenario(tmp_path, service="auto")), "--no-pcap", "--json", str(report)]) == 0
    entry = json.loads(report.read_text())["circuit"]
    assert entry["ebits_consumed"] == 20 and entry["qpus"] == ["qpu1", "qpu3"]
    assert "20 shots on 2 QPUs" in capsys.readouterr().out


def test_link_service_with_neighbour_ebits_only_is_accepted(tmp_path: Path) -> None:
    """qpu2 holds data: the compiler keeps ebits on the links (checked: the run ends, every shot's outcome)."""
    report = tmp_path / "r.json"
    assert main(["run", str(_scenario(tmp_path, "H 0\nCX 0 1 1 2 2 3 3 4\nM 0 1 2 3 4\n", data2=2)),
                 "--no-pcap", "--quiet", "--json", str(report)]) == 0
    assert '"shots": 20' in report.read_text()


@pytest.mark.parametrize("command", ["run", "up"])
@pytest.mark.parametrize(("circuit", "problem"), [
    ("H 0\nCX 0 1 1 2 2 3 3 4\nM 0 1 2 3 4\n", "qubits"),               # 5 qubits, 4 data qubits in all
    ('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0];\nt q[0];\ncx q[0],q[1];\n'
     "measure q -> c;\n", "non-Clifford operations (T)"),
    ("", "the file is empty"),
])
def test_a_circuit_that_cannot_run_names_the_scenario_and_its_file(
        tmp_path: Path, command: str, circuit: str, problem: str, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = _scenario(tmp_path, circuit, service="auto")
    capture = tmp_path / "keep.pcap"
    capture.write_bytes(b"kept")
    extra = ["--run-dir", str(tmp_path / "run")] if command == "up" else []
    assert main([command, str(scenario), *extra, "--pcap", str(capture)]) == 2
    err = _one_line(capsys)
    assert err.startswith(f"qnet: error: {scenario}: circuit[0].file: ") and problem in err, err
    assert capture.read_bytes() == b"kept"
    assert not (tmp_path / "run").exists()
