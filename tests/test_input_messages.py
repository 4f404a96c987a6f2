"""Messages for inputs a user gets wrong: each names what is wrong and where (the instruction, the key, the file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocols.compiler.circuit import from_stim
from protocols.compiler.gates import CompileError
from stack import cli
from stack.compile import read_circuit
from stack.scenario import ScenarioError, load

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("text", "words"), [
    ("MPP X0*X1\n", "MPP X0*X1: MPP (a Pauli-product measurement or rotation) is not supported"),
    ("H 0\nCX rec[-1] 1\n", "CX rec[-1] 1: a classically controlled gate"),
    ("M !0\n", "M !0: an inverted target (!q) is not supported"),
])
def test_a_refused_stim_target_names_the_instruction(text: str, words: str) -> None:
    with pytest.raises(CompileError) as info:
        from_stim(text)
    assert words in str(info.value)


@pytest.mark.parametrize(("name", "text", "words"), [
    ("e.qasm", "", "the file is empty: no circuit to compile"),
    ("e.stim", "\n  \n", "the file is empty"),
    ("c.qasm", "// nothing yet\n/* still nothing */\n", "OpenQASM: the program is empty"),
    ("h.qasm", 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\n', "the circuit has no operation"),
    ("t.stim", "TICK\nQUBIT_COORDS(0, 0) 0\n", "the circuit has no operation"),
])
def test_an_empty_circuit_is_refused_saying_so(tmp_path: Path, name: str, text: str, words: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(CompileError) as info:
        read_circuit(path)
    assert str(info.value).startswith(f"{path}: ") and words in str(info.value)
    assert "NoneType" not in str(info.value)


def test_an_empty_circuit_in_a_scenario_is_refused_before_the_run(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "compute.toml"
    scenario.write_text((ROOT / "examples" / "compute.toml").read_text()
                        .replace('file = "circuits/ghz.stim"', 'file = "empty.stim"'))
    (tmp_path / "empty.stim").write_text("TICK\n")
    assert cli.main(["run", str(scenario), "--no-pcap", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("qnet: error: ") and "the circuit has no operation" in err and err.count("\n") == 1


def test_a_missing_circuit_file_names_the_key_and_the_scenario(tmp_path: Path) -> None:
    scenario = tmp_path / "compute.toml"
    scenario.write_text((ROOT / "examples" / "compute.toml").read_text()
                        .replace('file = "circuits/ghz.stim"', 'file = "nowhere.stim"'))
    with pytest.raises(ScenarioError) as info:
        load(scenario)
    assert info.value.key == "circuit[0].file"
    assert str(info.value).startswith(f"{scenario}: circuit[0].file: cannot read ")
    assert "nowhere.stim" in str(info.value) and "No such file" in str(info.value)


def test_a_scenario_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    """Editors on Windows start UTF-8 files with a BOM; it was 'Invalid statement (at line 1, column 1)'."""
    import dataclasses

    original = ROOT / "examples" / "two-qpus.toml"
    scenario = tmp_path / "bom.toml"
    scenario.write_bytes(b"\xef\xbb\xbf" + original.read_bytes())
    assert dataclasses.replace(load(scenario), source=str(original)) == load(original)
