"""``qnet compile`` and ``stack.compile``: the network model from a scenario, the summary, the JSON, the
one-line errors, and that ``qnet run`` never loads the partitioner or the QASM parser."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from protocols.compiler import CatEntangle, NetworkModel, program_from_json
from protocols.network.routing import Route, Router
from stack import cli
from stack.compile import compile_files, network_model
from stack.quantum.topology import build_topology
from stack.scenario import load

ROOT = Path(__file__).resolve().parent.parent
COMPUTE = str(ROOT / "examples" / "compute.toml")
GHZ = str(ROOT / "examples" / "circuits" / "ghz.stim")
QFT = str(ROOT / "examples" / "circuits" / "qft-like.qasm")


def test_the_network_model_is_the_scenarios_qpus_and_the_routers_routes() -> None:
    scenario = load(Path(COMPUTE))
    model = network_model(scenario)
    assert model.names == ("qpu1", "qpu2", "qpu3", "qpu4")
    assert all(q.data_qubits == 8 and q.link_qubits == 2 for q in model.qpus)
    topology = build_topology(scenario)
    router = Router(topology)
    ids = {node.name: node.node_id for node in scenario.nodes.values()}
    for a in model.names:
        for b in model.names:
            if a < b:
                route = router.route(ids[a], ids[b], 0.0)
                assert isinstance(route, Route)
                pair = model.pair(a, b)
                assert pair is not None and pair.hops == route.hops and pair.fidelity == route.fidelity
    assert model.pair("qpu1", "qpu4").hops == 3  # type: ignore[union-attr]


def test_qnet_compile_prints_the_partition_and_the_budget(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["compile", GHZ, "--network", COMPUTE]) == 0
    out = capsys.readouterr().out
    # 24 qubits need 3 of the 8-qubit QPUs; a chain cut into 3 pieces needs at least 2 ebits
    assert "24 qubits" in out and "over 3 of 4 QPUs" in out and "total: 2 ebits (2 link pairs)" in out
    assert "naive baseline" in out


def test_qnet_compile_program_lists_every_qpus_instructions(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["compile", GHZ, "--network", COMPUTE, "--program"]) == 0
    out = capsys.readouterr().out
    program = compile_files(GHZ, COMPUTE)
    steps = [line.split()[0] for line in out.splitlines() if line.startswith("      ") and line.split()[0].isdigit()]
    assert len(steps) == sum(len(program.program(qpu)) for qpu in program.qpus)
    assert out.count("cat-entangle q") == 2 * program.count(CatEntangle)      # in both QPUs' programs


def test_qnet_compile_json_holds_the_program(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["compile", QFT, "--network", COMPUTE, "--json", "-"]) == 0
    out, err = capsys.readouterr()
    document = json.loads(out)
    program = program_from_json(document["program"])
    assert document["ebits"] == program.total_ebits == sum(row["ebits"] for row in document["budget"])
    assert document["link_pairs"] == sum(row["link_pairs"] for row in document["budget"])
    assert set(document["partition"]) == {str(q) for q in range(12)}
    assert not document["executable"] and document["non_clifford"] == ["RZ"]
    assert "cannot execute" in err                      # the summary goes to stderr with --json -


def test_the_python_api_gives_the_same_program() -> None:
    from protocols.compiler import compile_circuit
    from stack.compile import read_circuit

    direct = compile_circuit(read_circuit(GHZ), network_model(load(Path(COMPUTE))), seed=3)
    assert compile_files(GHZ, COMPUTE, seed=3) == direct


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("qnet: error: ")
    return lines[0]


def test_too_many_qubits_names_the_capacities(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "big.stim"
    big.write_text("H 0\nCX 0 39\n")
    assert cli.main(["compile", str(big), "--network", COMPUTE]) == 2
    assert one_error_line(capsys).endswith(
        "the circuit has 40 qubits but the network's QPUs hold only 32 data qubits (qpu1 8, qpu2 8, qpu3 8, qpu4 8; "
        "scenario key nodes.NAME.data_qubits)")


@pytest.mark.parametrize(("text", "suffix", "wanted"), [
    ("H 0\nFOO 1\n", ".stim", "not a stim circuit"),
    ("OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\nfoo q[0];\n", ".qasm", "foo"),
    ("X_ERROR(0.1) 0\n", ".stim", "unsupported stim instruction X_ERROR"),
])
def test_bad_circuits_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, suffix: str,
                                   wanted: str) -> None:
    path = tmp_path / f"c{suffix}"
    path.write_text(text)
    assert cli.main(["compile", str(path), "--network", COMPUTE]) == 2
    line = one_error_line(capsys)
    assert str(path) in line and wanted in line


def test_missing_files_and_networks_without_data_qubits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["compile", str(tmp_path / "none.stim"), "--network", COMPUTE]) == 2
    assert "cannot read" in one_error_line(capsys)
    assert cli.main(["compile", GHZ, "--network", str(ROOT / "examples" / "two-qpus.toml")]) == 2
    assert "hold only 0 data qubits" in one_error_line(capsys)
    assert cli.main(["compile", GHZ, "--network", str(tmp_path / "none.toml")]) == 2
    one_error_line(capsys)


def test_qnet_run_does_not_import_the_compiler_s_heavy_dependencies() -> None:
    code = ("import sys\nfrom stack.cli import commands\ncommands.build_parser()\n"
            "print(sorted(m for m in ('mtkahypar', 'pyqasm', 'openqasm3', 'antlr4') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                            timeout=60)
    assert result.stdout.strip() == "[]"


def test_uniform_networks_are_connected_as_told() -> None:
    model = NetworkModel.uniform([2, 2, 2], hops={(0, 1): 1, (1, 2): 2})
    assert model.pair("qpu0", "qpu2") is None and model.pair("qpu1", "qpu2").hops == 2  # type: ignore[union-attr]
