"""A distributed circuit's pair retracted at both ends (ERR EXPIRE) is retried by both ends together
(stack.api.dqc), in virtual time: the first successful HERALD to b is dropped, so a (the link's leader) gets
its OK, b never heralds the pair, answers a's CONFIRM with EXPIRE, and both ends' applications see ERR EXPIRE
for the same request (a after its OK), as a late process under ``qnet up`` does. The execution still matches
the monolithic GHZ circuit, and the ebits consumed are the predicted ones plus the retried pair."""

from __future__ import annotations

from typing import Any

from protocols.common import HERALD_PORT
from protocols.compiler import compile_circuit, from_stim
from protocols.packets.heralding import MSG_HERALD, OUTCOME_SUCCESS
from stack.api.dqc_run import circuit_report, circuit_table, execute_program
from stack.compile import network_model
from stack.core.network import Network
from tests.test_dqc_exec import LINE

SHOTS = 10


def test_a_pair_retracted_at_both_ends_is_retried_and_the_ghz_stays_all_equal(monkeypatch: Any) -> None:
    dropped: list[int] = []
    send = Network.send

    def lossy(self: Network, src: int, sport: int, dst: Any, payload: bytes) -> None:
        herald_success = dst[1] == HERALD_PORT and (payload[1], payload[2]) == (MSG_HERALD, OUTCOME_SUCCESS)
        if herald_success and not dropped and self._node_of_ip.get(dst[0]) == LINE.nodes["b"].node_id:
            dropped.append(self.kernel.now)
            return
        send(self, src, sport, dst, payload)

    monkeypatch.setattr(Network, "send", lossy)
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

