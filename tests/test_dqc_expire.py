"""A distributed circuit's pair retracted at both ends (ERR EXPIRE) is retried by both ends together
(stack.api.dqc, stack.api.dqc_pairs), in virtual time: the first successful HERALD to b is dropped, so a (the
link's master) gets its OK, b never heralds the pair, answers a's CONFIRM with EXPIRE, and both ends'
applications see ERR EXPIRE for the same request (a after its OK), as a late process under ``qnet up`` does.

- Cat-entangle: the execution still matches the monolithic GHZ circuit (only all-equal bits).
- Teledata: the retry is decided before the sender's Bell measurement, so the qubit is still there to go over
  the next pair. The oracle is exact: a Clifford U then U† measures all zeros, and a wrong teleported state
  would not (checked below with stim for the Paulis a lost or wrongly corrected qubit would carry). Both
  orientations: the sender is the master (its OK comes, then the EXPIRE) or the end that lost the herald.

In each, the ebits consumed are the predicted ones plus the one retried pair."""

from __future__ import annotations

from typing import Any

import pytest
import stim

from protocols.common import HERALD_PORT
from protocols.compiler import CatEntangle, Teledata, compile_circuit, from_stim
from protocols.packets.heralding import MSG_HERALD, OUTCOME_SUCCESS
from stack.api.dqc_run import circuit_report, circuit_table, execute_program
from stack.compile import network_model
from stack.core.network import Network
from stack.scenario import Scenario
from tests.test_dqc_exec import scenario

SHOTS = 10
LINE = scenario({"a": 2, "b": 2, "c": 2}, [("a", "b"), ("b", "c")])
"""a - b - c heralded at stations (test_dqc_exec's LINE uses couplers, which send no HERALD to drop)."""


def drop_first_herald_to(monkeypatch: Any, sc: Scenario, node: str) -> list[int]:
    """Drop the first successful HERALD the station sends to ``node``; returns the list of drop times."""
    dropped: list[int] = []
    send = Network.send

    def lossy(self: Network, src: int, sport: int, dst: Any, payload: bytes) -> None:
        herald_success = dst[1] == HERALD_PORT and (payload[1], payload[2]) == (MSG_HERALD, OUTCOME_SUCCESS)
        if herald_success and not dropped and self._node_of_ip.get(dst[0]) == sc.nodes[node].node_id:
            dropped.append(self.kernel.now)
            return
        send(self, src, sport, dst, payload)

    monkeypatch.setattr(Network, "send", lossy)
    return dropped


def test_a_pair_retracted_at_both_ends_is_retried_and_the_ghz_stays_all_equal(monkeypatch: Any) -> None:
    dropped = drop_first_herald_to(monkeypatch, LINE, "b")
    circuit = from_stim("H 0\nCX 0 1 1 2\nM 0 1 2")
    program = compile_circuit(circuit, network_model(LINE), seed=1)
    execution = execute_program(LINE, program, SHOTS, seed=1)
    report = circuit_report(execution, circuit, seed=1)
    assert dropped
    assert report["ebits_retried"] == 1
    assert report["ebits_consumed"] == report["ebits_received"] == report["ebits_predicted"] + 1
    assert set(report["outcomes"]) <= {"000", "111"} and sum(report["outcomes"].values()) == SHOTS
    assert "1 retried after ERR EXPIRE" in "\n".join(circuit_table(report))


def test_without_a_retraction_nothing_is_retried() -> None:
    circuit = from_stim("H 0\nCX 0 1 1 2\nM 0 1 2")
    program = compile_circuit(circuit, network_model(LINE), seed=1)
    report = circuit_report(execute_program(LINE, program, 3, seed=1), circuit, seed=1)
    assert report["ebits_retried"] == 0 and report["ebits_consumed"] == report["ebits_predicted"]
    assert "retried" not in "\n".join(circuit_table(report))


def _rounds(a: int, b: int, times: int) -> str:
    """``times`` CZs between a and b, each its own segment (H on both between them)."""
    return f"H {a} {b}\nCZ {a} {b}\n" * times


# Qubit `mover` works with `home` (bound to it on one QPU), then five times with `away` (bound to `partner` on
# the other QPU, which has a spare data qubit): the compiler teleports `mover` over and, for U†, back.
MOVES = {"a": (0, 2, 1, 3), "b": (1, 3, 0, 2)}
"""Sender of the first teledata -> (mover, home, away, partner)."""


def _moving_clifford(sender: str) -> tuple[stim.Circuit, stim.Circuit]:
    """U, split where the mover is away from both its partners (the teledata happens in between)."""
    mover, home, away, partner = MOVES[sender]
    bell = f"H {mover}\nCX {mover} {home}\nS {mover}\nH {away}\n"       # the mover maximally entangled
    before = stim.Circuit(bell + _rounds(away, partner, 6) + _rounds(mover, home, 6))
    return before, stim.Circuit(_rounds(mover, away, 5))


def moving_teledata(sender: str, length_km: float = 0.1) -> tuple[Scenario, Any, Any, list[Any]]:
    """Two QPUs a and b (a link of ``length_km``) whose circuit U U^-1 the compiler runs with teledata moves
    only, the first from ``sender``: the scenario, the circuit, its program and the program's remote
    operations."""
    sc = scenario({"a": 2, "b": 3} if sender == "a" else {"a": 3, "b": 2}, [("a", "b")], length_km=length_km)
    before, after = _moving_clifford(sender)
    u = before + after
    circuit = from_stim(str(u + u.inverse()) + "\nM 0 1 2 3")
    program = compile_circuit(circuit, network_model(sc), seed=1)
    remote = [op for op in program.instructions if isinstance(op, CatEntangle | Teledata)]
    assert remote and all(isinstance(op, Teledata) for op in remote) and remote[0].source == sender
    return sc, circuit, program, remote



def test_the_oracle_sees_a_wrong_teleported_qubit() -> None:
    """Any Pauli on the mover where it is teleported (there, or back: the middle of U U†, and its mirror) flips
    a measured bit of U U† deterministically (the mover is maximally entangled there, so none of X, Y, Z leaves
    the state as it was). A single-qubit Clifford maps {X, Y, Z} onto itself, so this holds wherever in its free
    segment (between its H gates) the move happens."""
    for sender, (mover, *_) in MOVES.items():
        before, after = _moving_clifford(sender)
        u = before + after
        for pauli in "XYZ":
            there = before + stim.Circuit(f"{pauli} {mover}") + after + u.inverse()
            back = u + after.inverse() + stim.Circuit(f"{pauli} {mover}") + before.inverse()
            for circuit in (there, back):
                circuit.append("M", range(4))
                assert circuit.compile_sampler().sample(1)[0].any(), (sender, pauli)


@pytest.mark.parametrize("sender", ["a", "b"])
def test_a_teledata_pair_retracted_at_both_ends_is_retried_before_the_qubit_is_sent(monkeypatch: Any,
                                                                                    sender: str) -> None:
    sc, circuit, program, remote = moving_teledata(sender)
    assert sc.nodes["a"].node_id < sc.nodes["b"].node_id            # a is the link's master
    dropped = drop_first_herald_to(monkeypatch, sc, "b")
    report = circuit_report(execute_program(sc, program, SHOTS, seed=1), circuit, seed=1)
    assert dropped
    assert report["outcomes"] == {"0000": SHOTS}
    assert report["ebits_retried"] == 1
    assert report["ebits_consumed"] == report["ebits_received"] == report["ebits_predicted"] + 1
    assert report["remote_ops_executed"] == {"teledata": len(remote) * SHOTS}
