"""A late ERR of a request a distributed circuit's target is done with is not taken for its next pair
(stack.api.dqc_pairs, stack.api.epr): the layer is made to send the target, once, an ERR EXPIRE of the pair it
has just taken, after it used it (its settle status sent for a cat-entangle, its QTP ACK for a teledata), as a
network layer does for a pair poisoned after both ends delivered it.

Before the target read only its own request's messages, that ERR was taken for the next pair: the target
answered EXPIRED for a pair the source held, both dropped it, and the next round paired the target's half of
the dropped pair (still queued) with the source's new one. The oracles are exact (ideal pairs and gates): the
GHZ circuit gives only all-equal bits, U then U† only zeros, no pair is retried, and the ebits consumed are the
predicted ones.
"""

from __future__ import annotations

from typing import Any

import pytest

from protocols.common import NETWORK_SERVICE_PORT, QTP_PORT, ParseError
from protocols.compiler import CatEntangle, Teledata, compile_circuit, from_stim
from protocols.packets import linkservice as ll
from protocols.packets.exchange import MAGIC
from stack.api.dqc_run import circuit_report, execute_program
from stack.compile import network_model
from stack.core.network import Network
from stack.scenario import Scenario
from tests.test_dqc_exec import scenario
from tests.test_dqc_expire import moving_teledata

SHOTS = 6


def late_err_to(monkeypatch: Any, sc: Scenario, target: str, after_port: int | None) -> list[ll.Err]:
    """Once ``target``'s network service has delivered an OK (K) of a remote's request to its application and
    the application next sends from ``after_port`` (None: an application message), the service also sends it
    ERR EXPIRE of that pair. Returns the ERRs sent."""
    sent: list[ll.Err] = []
    taken: list[tuple[ll.OkKeep, int, Any]] = []
    node = sc.nodes[target].node_id
    send = Network.send

    def late(self: Network, src: int, sport: int, dst: Any, payload: bytes) -> None:
        send(self, src, sport, dst, payload)
        if sent:
            return
        if sport == NETWORK_SERVICE_PORT and self._node_of_ip.get(dst[0]) == node:
            try:
                message = ll.decode_upward(payload)
            except ParseError:                          # the network layer's own messages to its peers
                return
            if isinstance(message, ll.OkKeep) and message.d == 1:
                taken.append((message, src, dst))
        elif taken and src == node and (sport == after_port if after_port is not None else payload[:2] == MAGIC):
            ok, service, app = taken[0]
            sent.append(ll.Err(ok.create_id, ll.ERR_EXPIRE, 1, ok.sequence_number, (ok.sequence_number + 1) & 0xFFFF,
                               ok.remote_node_id))
            send(self, service, NETWORK_SERVICE_PORT, app, sent[0].encode())

    monkeypatch.setattr(Network, "send", late)
    return sent


def test_a_late_err_of_a_used_cat_entangle_pair_is_not_taken_for_the_next() -> None:
    sc = scenario({"a": 2, "b": 2}, [("a", "b")])
    circuit = from_stim("H 0\nCX 0 1\nCX 0 2\nCX 0 3\nM 0 1 2 3")
    program = compile_circuit(circuit, network_model(sc), seed=1)
    remote = [op for op in program.instructions if isinstance(op, CatEntangle)]
    assert remote and not [op for op in program.instructions if isinstance(op, Teledata)]
    with pytest.MonkeyPatch.context() as patch:
        sent = late_err_to(patch, sc, remote[0].target, None)
        report = circuit_report(execute_program(sc, program, SHOTS, seed=1, service="network"), circuit, seed=1)
    assert sent
    assert set(report["outcomes"]) <= {"0000", "1111"} and sum(report["outcomes"].values()) == SHOTS
    assert report["ebits_retried"] == 0
    assert report["ebits_consumed"] == report["ebits_received"] == report["ebits_predicted"]


@pytest.mark.parametrize("sender", ["a", "b"])
def test_a_late_err_of_a_used_teledata_pair_is_not_taken_for_the_next(sender: str) -> None:
    sc, circuit, program, remote = moving_teledata(sender)
    with pytest.MonkeyPatch.context() as patch:
        sent = late_err_to(patch, sc, remote[0].target, QTP_PORT)
        report = circuit_report(execute_program(sc, program, SHOTS, seed=1, service="network"), circuit, seed=1)
    assert sent
    assert report["outcomes"] == {"0000": SHOTS}
    assert report["ebits_retried"] == 0
    assert report["ebits_consumed"] == report["ebits_received"] == report["ebits_predicted"]
