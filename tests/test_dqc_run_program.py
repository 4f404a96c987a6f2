"""``stack.api.dqc.run_program`` in a user's own application: a program it cannot run, or a QPU name that is
not the program's or not the application's node, is one line, raised before anything is done."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from protocols.apps.dqc import NotExecutable
from stack.api import AppContext, run_apps
from stack.api.dqc import run_program
from stack.compile import compile_files
from stack.scenario import load_text
from tests.mp_util import ROOT

SCENARIO = load_text((ROOT / "examples/compute.toml").read_text().split("[[circuit]]")[0], "compute")
"""qpu1 .. qpu4 in a line, 8 data qubits each, without the example's [[circuit]] (run_apps refuses one)."""
T_CIRCUIT = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0];\nt q[1];\nmeasure q -> c;\n'


def _program(tmp_path: Path, circuit: str) -> object:
    path = tmp_path / ("c.qasm" if circuit.startswith("OPENQASM") else "c.stim")
    path.write_text(circuit)
    return compile_files(path, SCENARIO)


@pytest.mark.parametrize(("circuit", "qpu", "kind", "message"), [
    (T_CIRCUIT, "qpu1", NotExecutable, r"the circuit has non-Clifford operations \(T\): "),
    ("H 0\nCX 0 1\nM 0 1\n", "qpuX", ValueError,
     r"run_program: 'qpuX' is not a QPU of the program \(its QPUs: qpu1, qpu2, qpu3, qpu4\)"),
    ("H 0\nCX 0 1\nM 0 1\n", "qpu2", ValueError,
     r"run_program: the part of QPU 'qpu2' runs on node 'qpu2', not on this application's node 'qpu1' "
     r"\(each QPU runs its own part: qpu='qpu1' here\)"),
])
def test_what_run_program_refuses_before_anything_is_done(circuit: str, qpu: str, kind: type, message: str,
                                                          tmp_path: Path) -> None:
    program = _program(tmp_path, circuit)
    caught: list[BaseException] = []
    done: list[object] = []

    async def qpu1(ctx: AppContext) -> None:
        try:
            done.append(await run_program(ctx, program, qpu, 3))      # type: ignore[arg-type]
        except Exception as error:
            caught.append(error)

    result = run_apps(SCENARIO, {"qpu1": qpu1})
    assert not done and len(caught) == 1 and isinstance(caught[0], kind)
    assert re.fullmatch(message + ".*", str(caught[0])) and "\n" not in str(caught[0])
    assert result.ledger["created"] == 0, result.ledger


def test_its_own_part_runs(tmp_path: Path) -> None:
    """The same call with the node's own name runs (the circuit lives on one QPU: no partner needed)."""
    program = _program(tmp_path, "X 0\nCX 0 1\nM 0 1\n")
    (home,) = set(program.placement)      # type: ignore[attr-defined]
    runs: list[object] = []

    async def app(ctx: AppContext) -> None:
        runs.append(await run_program(ctx, program, home, 3))      # type: ignore[arg-type]

    run_apps(SCENARIO, {home: app})
    assert [run.records for run in runs] == [[{0: 1, 1: 1}] * 3]    # type: ignore[attr-defined]
