"""The application API under ``qnet up``: ``[[application]]`` entries and a ``[[circuit]]`` run with every node its
own process (stack/multiprocess/node_apps.py), checked against the oracles the virtual-time tests use.

- Teleportation of the six stabiliser states over a link of model fidelity F: average fidelity (2F + 1)/3, within
  four standard errors of the model's binomial (60 qubits), less an allowance for memory decoherence while the
  data qubit waits for its pair (T1 = T2 = 20 ms, about 0.2 ms of waiting: under 1 %).
- A GHZ circuit over ideal links (examples/circuits/ghz.stim, 24 qubits on three QPUs): every shot's outcomes
  all equal, and the ebits the compiler predicts are the pairs the run consumed.
- A role that fails (a GHZ leaf with no path to its center) ends the run with one line and status 1.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from protocols.common import Basis
from protocols.physical.hardware import Gate, Init, Measure
from protocols.transport.model import teleport_fidelity
from stack.api.apps import ChshResult, QkdResult, TeleportResult
from stack.api.dqc import QpuRun
from stack.api.ghz import GhzResult
from stack.api.results_json import qpu_run_from_json, qpu_run_to_json, result_from_json, result_to_json
from stack.core.kernel import Kernel
from stack.multiprocess.medium_client import MediumClient
from stack.multiprocess.node_apps import ApiPlan, app_outcomes
from stack.multiprocess.outcome import EXIT_APP_FAILED, EXIT_LATE, EXIT_OK
from stack.scenario.parse import load_text
from tests.mp_util import ROOT, run_up
from tests.tshark_util import decode_with_tshark, have_tshark

PER_STATE = 10
"""The example's per_state."""
MEMORY_ALLOWANCE = 0.01
EXAMPLE = ROOT / "examples/api/teleport-up.toml"
"""Two QPUs 2 km apart through a station, depolarizing 0.1, T1 = T2 = 20 ms; its [[application]] teleports."""
TWO_QPUS = EXAMPLE.read_text().split("[[application]]")[0]


def up(tmp_path: Path, text: str, name: str, dilation: str = "0.01") -> tuple[subprocess.CompletedProcess[str],
                                                                              dict[str, Any] | None]:
    scenario, report = tmp_path / f"{name}.toml", tmp_path / f"{name}.json"
    scenario.write_text(text)
    proc = run_up(scenario, tmp_path / name, "--dilation", dilation, "--quiet", "--json", str(report), timeout=240)
    return proc, json.loads(report.read_text()) if report.exists() else None


def error_line(stderr: str) -> str:
    """The one error line of a ``qnet up --quiet`` that failed, after at most the lateness lines it prints even
    when quiet (a loaded machine); no traceback anywhere."""
    lines = stderr.splitlines()
    assert lines and "Traceback" not in stderr, stderr
    assert all(line.startswith(("multi-process:", "WARNING:")) for line in lines[:-1]), stderr
    return lines[-1]


def late(report: dict[str, Any]) -> bool:
    """Whether a process missed deadlines or had late inputs (beyond the default 20 µs): the run says its
    timing-dependent results are not trustworthy (a pair can then expire at one end, a qubit miss its deadline)."""
    return bool(report["multi_process"]["missed_deadlines"] or report["multi_process"]["late_inputs"])


def test_teleportation_under_qnet_up_meets_its_closed_form(tmp_path: Path) -> None:
    proc, report = up(tmp_path, EXAMPLE.read_text(), "teleport")        # the example, as a user runs it
    # a loaded machine may make the run late (status 5): lateness is a reported figure, not a failure here
    assert proc.returncode in (EXIT_OK, EXIT_LATE) and report is not None, proc.stdout + proc.stderr
    entry, = report["applications"]
    assert entry["finished"] and entry["error"] is None
    assert report["app_outcomes"] == {"alice": "finished", "bob": "finished"}       # as qnet run reports them
    # no classical loss: a qubit is lost (and sent again) only when a late process misses its memory deadline
    assert entry["lost"] == 0 or late(report), entry
    assert entry["qubits"] == 6 * PER_STATE and sum(entry["per_state"].values()) > 0
    model = teleport_fidelity(0.925)                     # F of a 0.1-depolarised double-click pair
    assert entry["fidelity_model"] == pytest.approx(model)
    sigma = math.sqrt(model * (1 - model) / entry["qubits"])
    assert model - MEMORY_ALLOWANCE - 4 * sigma <= entry["fidelity"] <= model + 4 * sigma, entry
    # the ledger's sum holds by construction (final_ledger): a qubit no layer held, or an unbalanced ledger, is
    # what accounting_error reports
    assert report["multi_process"]["accounting_error"] is None
    assert report["multi_process"]["dead_nodes"] == []
    if have_tshark():           # the merged capture: real QTP datagrams, every transfer's DATA acknowledged
        frames = decode_with_tshark(tmp_path / "teleport" / "merged.pcap")
        assert not [f["number"] for f in frames if f["malformed"]]
        qtp = [fields for frame in frames for name, fields in frame["layers"] if name == "qtp"]
        transfers = {kind: {int(f["qtp.transfer_seq"][0]) for f in qtp if f["qtp.msg_type"] == [kind]}
                     for kind in ("1", "2")}
        # a qubit lost to a late process (entry["lost"]) was sent again as a new transfer: its own has no ACK
        assert transfers["1"] == set(range(1, entry["qubits"] + entry["lost"] + 1))
        assert transfers["2"] <= transfers["1"] and len(transfers["2"]) >= entry["qubits"]


def line_of_three(shots: int) -> str:
    """Three QPUs in a line, 2 km links through stations, ideal (no depolarising, no memory decay): the GHZ
    circuit of examples/circuits/ghz.stim (24 qubits, 8 data qubits per QPU) spans all three."""
    qpu = 'kind = "qpu"\ncommunication_qubits = 2\ndata_qubits = 8\nreadout_ns = 1000\n'
    link = 'length_km = 2.0\nattempt_duration_ns = 1000\ndepolarizing = 0.0\n'
    return (f'[run]\nduration_ms = 2000.0\nseed = 3\n\n[nodes.qpu1]\n{qpu}\n[nodes.qpu2]\n{qpu}\n[nodes.qpu3]\n{qpu}\n'
            '[nodes.m1]\nkind = "station"\ndetection_window_ns = 1\n[nodes.m2]\nkind = "station"\n'
            'detection_window_ns = 1\n\n[links.qpu1-qpu2]\na = "qpu1"\nb = "qpu2"\nstation = "m1"\n'
            f'{link}\n[links.qpu2-qpu3]\na = "qpu2"\nb = "qpu3"\nstation = "m2"\n{link}\n'
            f'[[circuit]]\nfile = "{ROOT / "examples/circuits/ghz.stim"}"\nshots = {shots}\n')


def test_a_distributed_ghz_circuit_under_qnet_up_gives_equal_bits_and_the_predicted_ebits(tmp_path: Path) -> None:
    shots = 5
    proc, report = up(tmp_path, line_of_three(shots), "ghz", dilation="0.002")
    assert report is not None, proc.stdout + proc.stderr
    circuit = report["circuit"]
    if "error" in circuit:
        # a late process can see a pair's CONFIRM before its own herald and retract the pair (ERR EXPIRE); both
        # ends retry it, and 16 in a row end an execution (docs/architecture.md, "Known limits"): allowed only
        # when the run says it was late
        assert late(report) and proc.returncode == EXIT_APP_FAILED, proc.stderr
        assert "link layer answered ERR EXPIRE" in circuit["error"] and error_line(proc.stderr) == \
            f"qnet: error: {circuit['error']}", circuit
        return
    assert proc.returncode in (EXIT_OK, EXIT_LATE), proc.stdout + proc.stderr
    assert circuit["shots"] == shots and len(set(circuit["placement"])) == 3
    # a pair retracted (a late process) is asked for again, and counted in ebits_retried
    assert circuit["ebits_per_shot"] > 0
    predicted = circuit["ebits_predicted"] + circuit["ebits_retried"]
    assert circuit["ebits_consumed"] == circuit["ebits_received"] == predicted
    assert sum(circuit["outcomes"].values()) == shots
    assert set(circuit["outcomes"]) <= {"0" * 24, "1" * 24}
    assert report["multi_process"]["accounting_error"] is None         # not the ledger's sum: true by construction


def two_qpus_teledata(circuit: Path, shots: int, duration_ms: float) -> str:
    """QPUs a (2 data qubits) and b (3) over an ideal 2 km link, ideal memories (their teleportation deadline is
    transport.model's 10 s cap), running ``circuit``."""
    qpu = 'kind = "qpu"\ncommunication_qubits = 2\nreadout_ns = 1000\nt1_ms = 1e9\nt2_ms = 1e9\n'
    return (f'[run]\nduration_ms = {duration_ms}\nseed = 3\n\n[nodes.a]\n{qpu}data_qubits = 2\n\n[nodes.b]\n{qpu}'
            'data_qubits = 3\n\n[nodes.m]\nkind = "station"\ndetection_window_ns = 1\n\n[links.a-b]\na = "a"\nb = "b"\n'
            'station = "m"\nlength_km = 2.0\nattempt_duration_ns = 1000\ndepolarizing = 0.0\n\n'
            f'[[circuit]]\nfile = "{circuit}"\nshots = {shots}\n')


def test_a_teledata_circuit_under_qnet_up_is_exact_and_ends_with_its_roles(tmp_path: Path) -> None:
    """A Clifford U then U† whose qubit 0 is teleported a → b and back each shot (tests/test_dqc_expire.py): every
    shot measures all zeros, and the run ends when the roles do. Before, each receiver kept answering QTP
    until its last pair's memory deadline (10 s with ideal memories) and the run was cut at its duration; now
    its TIME-WAIT is 16 retransmission intervals after the last DATA it heard (protocols/transport/teleport.py)."""
    from tests.test_dqc_expire import _moving_clifford

    shots, duration_ms = 3, 100.0
    before, after = _moving_clifford("a")
    u = before + after
    circuit = tmp_path / "move.stim"
    circuit.write_text(f"{u + u.inverse()}\nM 0 1 2 3\n")
    proc, report = up(tmp_path, two_qpus_teledata(circuit, shots, duration_ms), "teledata", dilation="0.005")
    assert report is not None, proc.stdout + proc.stderr
    entry = report["circuit"]
    if "error" in entry:                # as for the GHZ circuit: only a late run may retract 16 pairs in a row
        assert late(report) and proc.returncode == EXIT_APP_FAILED, proc.stderr
        assert "link layer answered ERR EXPIRE" in entry["error"], entry
        return
    assert proc.returncode in (EXIT_OK, EXIT_LATE), proc.stdout + proc.stderr
    assert entry["remote_ops"]["teledata"] == 2 and entry["remote_ops_executed"] == {"teledata": 2 * shots}
    assert entry["outcomes"] == {"0000": shots}
    assert entry["ebits_consumed"] == entry["ebits_received"] == entry["ebits_predicted"] + entry["ebits_retried"]
    assert report["end_ns"] < duration_ms * 1e6, (report["end_ns"], entry["emulated_s"])
    assert report["multi_process"]["accounting_error"] is None         # not the ledger's sum: true by construction


def test_an_application_no_path_reaches_is_refused_before_any_process_starts(tmp_path: Path) -> None:
    """carol has no link: the GHZ entry is a scenario error (exit 2, one line), not processes that start and
    each fail to find a fibre path."""
    text = TWO_QPUS + ('[nodes.carol]\nkind = "qpu"\n\n[[application]]\nkind = "ghz"\nnode = "alice"\n'
                       'remotes = ["bob", "carol"]\nshots = 4\n')
    proc, report = up(tmp_path, text, "bad")
    assert proc.returncode == 2 and report is None, proc.stdout + proc.stderr
    assert proc.stderr == (f"qnet: error: {tmp_path / 'bad.toml'}: application[0].remotes[1]: no path between "
                           "'alice' and 'carol'\n")
    assert not (tmp_path / "bad").exists()


def test_a_failing_role_ends_the_run_with_one_line_and_status_1(tmp_path: Path) -> None:
    """A GHZ over four QPUs, 27 pairs, in a 5 ms generation window: the window ends a request before the shots
    are done (ERR TIMEOUT), and the role fails. (The center has the memory for its three pairs: with less, the
    scenario is refused before any process starts, tests/test_ghz_memory.py.)"""
    links = "".join(f'[nodes.{name}]\nkind = "qpu"\n\n[links.alice-{name}]\na = "alice"\nb = "{name}"\n'
                    f'station = "mid"\nlength_km = 2.0\n\n' for name in ("carol", "dave"))
    two = TWO_QPUS.replace("[nodes.alice]\n", "[nodes.alice]\nstorage_qubits = 1\n", 1)
    assert two != TWO_QPUS
    text = two.replace("duration_ms = 2000.0", "duration_ms = 5.0") + links + (
        '[[application]]\nkind = "ghz"\nnode = "alice"\nremotes = ["bob", "carol", "dave"]\nshots = 9\n')
    proc, report = up(tmp_path, text, "short")
    assert proc.returncode == EXIT_APP_FAILED and report is not None, proc.stdout + proc.stderr
    # whichever end's request the window ends first is named; a late run may instead retract a pair (ERR EXPIRE,
    # as the GHZ circuit's test allows), which fails the role first
    line = error_line(proc.stderr)
    answers = "TIMEOUT .*|EXPIRE.*" if late(report) else "TIMEOUT .*"
    assert re.fullmatch(rf"qnet: error: (alice|bob|carol|dave): LinkError: link layer answered ERR ({answers})", line)
    entry, = report["applications"]
    assert not entry["finished"] and f"qnet: error: {entry['error']}" == line
    outcomes = report["app_outcomes"]
    assert set(outcomes) == {"alice", "bob", "carol", "dave"} and outcomes[line.split()[2][:-1]] == "failed"


def test_a_role_whose_node_sent_no_result_failed() -> None:
    """A node process that died sends no result: its role is "failed" in app_outcomes, the others as they said."""
    plan = ApiPlan(roles={"a": None, "b": None, "c": None})  # type: ignore[dict-item]
    said = {"a": {"outcome": "finished"}, "b": None, "c": {"outcome": "no such outcome"}}
    assert app_outcomes(plan, said) == {"a": "finished", "b": "failed", "c": "failed"}


@pytest.mark.parametrize(("kind", "role", "result"), [
    ("qkd", "create", QkdResult(10, 6, 3, 1, {"Z": [1, 2], "X": [0, 1]}, [0, 1, 1], 1234)),
    ("chsh", "recv", ChshResult([0, 1], [1], 2.5, 0.125)),
    ("teleport", "recv", TeleportResult({"0": [1, 2], "1": [0, 0], "+": [3, 3], "-": [0, 1], "+i": [1, 1],
                                         "-i": [2, 2]}, 1, 99)),
    ("ghz", "create", GhzResult(2, {(Basis.Z, Basis.Z): [(0, 0), (1, 1)], (Basis.X, Basis.X): [(0, 1)]})),
])
def test_results_cross_processes_as_json_and_come_back_equal(kind: str, role: str, result: Any) -> None:
    data = json.loads(json.dumps(result_to_json(kind, role, result)))
    assert result_from_json(kind, role, data) == result
    run = QpuRun([{0: 1, 3: 0}, {}], 2, 1, Counter(cat_entangle=2), 77, 1)
    assert qpu_run_from_json(json.loads(json.dumps(qpu_run_to_json(run)))) == run


@pytest.mark.parametrize(("kind", "data"), [
    ("qkd", {"pairs": "10"}), ("chsh", {"zz": [2], "xx": [], "s": 1.0, "s_error": 0.1}),
    ("teleport", {"right": {"0": [1, 2]}, "lost": 0, "elapsed_ns": 0}), ("ghz", {"n": 2, "outcomes": [["ZQ", []]]}),
    ("ghz", [1, 2]),
])
def test_a_malformed_result_is_refused(kind: str, data: Any) -> None:
    with pytest.raises(ValueError, match=f"not a {kind} result"):
        result_from_json(kind, "create", data)
    with pytest.raises(ValueError, match="not a QPU's run"):
        qpu_run_from_json({"records": [[[0, 2]]], "pairs_created": 0, "pairs_received": 0, "remote_ops": {},
                           "finished_ns": 0, "nores_retries": 0})


def test_the_node_side_checks_commands_by_the_node_layout_and_the_application_slots() -> None:
    """A node process cannot see the memory: the application API's checks of Init, Gate and Discard go by the
    node's data slots and what the application holds (the medium process checks them again)."""
    scenario = load_text(TWO_QPUS, "<test>")
    client = MediumClient(Kernel(), scenario)
    alice = scenario.nodes["alice"].node_id
    first = scenario.nodes["alice"].communication_qubits + scenario.nodes["alice"].storage_qubits
    assert client.free_data_slot(alice, set()) == first and client.free_data_slot(alice, {first}) is None
    assert client.refusal(alice, Init(first), set()) is None
    assert "free data qubit" in str(client.refusal(alice, Init(first), {first}))
    assert "free data qubit" in str(client.refusal(alice, Init(0), set()))
    assert client.refusal(alice, Gate("H", (first,)), {first}) is None
    assert "distinct held qubits" in str(client.refusal(alice, Gate("CNOT", (first, 0)), {first}))
    assert client.refusal(alice, Measure(first, Basis.Z), set()) == f"no qubit in slot {first}"


def test_an_application_without_a_port_slot_is_refused_before_anything_starts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An application binds the first application port its node's workload leaves free; a node whose workload
    takes every slot of the port map leaves it none: one line, status 2, no run directory."""
    from stack.cli import main

    workload = '[[workload]]\nnode = "alice"\nremote = "bob"\npairs = 1\n' * 22
    scenario = tmp_path / "full.toml"
    scenario.write_text(EXAMPLE.read_text() + workload)
    assert main(["up", str(scenario), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "node alice: its application needs UDP port 49174" in err, err
    assert not (tmp_path / "run").exists()
