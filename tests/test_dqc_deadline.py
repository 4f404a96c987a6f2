"""A teledata pair past the target's memory deadline before the source's Bell measurement (QTP DEADLINE with the
qubit kept) is given up at both ends and the qubit goes over a new pair (stack.api.dqc), in virtual time.

Fault: the teleportation deadline is fixed at BUDGET_NS (memories stay ideal, so the oracle stays exact), and
the target's status for the first pair (its exchange tag 2, after the rendezvous' tag 1) is dropped for
DROP_NS, so the source learns the pair is held at both ends only after the deadline: its QTP refuses to
Bell-measure (the qubit stays), the target's half expires unused. Both orientations (the source is the link's
master, or not). The oracle is exact (tests/test_dqc_expire.py): U then U† measures all zeros, and a qubit lost
or teleported with wrong corrections would not; the ebits consumed are the predicted ones plus the one
retried pair. A DEADLINE after the Bell measurement (the qubit gone) still ends the execution.
"""

from __future__ import annotations

from typing import Any

import pytest

from protocols.common import QTP_PORT
from protocols.packets.exchange import MAGIC
from protocols.packets.qtp import TYPE_DATA, Qtp
from stack.api.dqc_run import circuit_report, execute_program
from stack.api.errors import TransportError
from stack.core.network import Network
from stack.scenario import Scenario
from tests.test_dqc_expire import moving_teledata

SHOTS = 4
BUDGET_NS = 40_000
"""The teleportation deadline: a pair settled without loss is used within a few µs on these 100 m links."""
DROP_NS = 100_000
"""How long the target's first status is dropped: past BUDGET_NS."""


def drop_first_status(monkeypatch: Any, sc: Scenario, target: str) -> list[int]:
    """Drop every copy of ``target``'s exchange tag 2 sent within DROP_NS of its first; returns their times."""
    dropped: list[int] = []
    node = sc.nodes[target].node_id
    send = Network.send

    def lossy(self: Network, src: int, sport: int, dst: Any, payload: bytes) -> None:
        status = src == node and payload[:2] == MAGIC and int.from_bytes(payload[2:6], "big") == 2
        if status and (not dropped or self.kernel.now < dropped[0] + DROP_NS):
            dropped.append(self.kernel.now)
            return
        send(self, src, sport, dst, payload)

    monkeypatch.setattr(Network, "send", lossy)
    return dropped


def moving(sender: str) -> tuple[Scenario, Any, Any]:
    sc, circuit, program, _ = moving_teledata(sender)
    return sc, circuit, program


@pytest.mark.parametrize("sender", ["a", "b"])
def test_a_teledata_pair_past_the_deadline_before_the_bell_measurement_is_retried(monkeypatch: Any,
                                                                                 sender: str) -> None:
    sc, circuit, program = moving(sender)
    monkeypatch.setattr("stack.api.transport.deadline_budget_ns", lambda *args: BUDGET_NS)
    dropped = drop_first_status(monkeypatch, sc, "b" if sender == "a" else "a")
    report = circuit_report(execute_program(sc, program, SHOTS, seed=1), circuit, seed=1)
    assert dropped and dropped[-1] - dropped[0] > BUDGET_NS
    assert report["outcomes"] == {"0000": SHOTS}
    assert report["ebits_retried"] == 1
    assert report["ebits_consumed"] == report["ebits_received"] == report["ebits_predicted"] + 1
    assert report["remote_ops_executed"] == {"teledata": 2 * SHOTS}


def test_without_the_fault_nothing_is_retried(monkeypatch: Any) -> None:
    sc, circuit, program = moving("a")
    monkeypatch.setattr("stack.api.transport.deadline_budget_ns", lambda *args: BUDGET_NS)
    report = circuit_report(execute_program(sc, program, SHOTS, seed=1), circuit, seed=1)
    assert report["outcomes"] == {"0000": SHOTS} and report["ebits_retried"] == 0


def test_a_qubit_lost_after_the_bell_measurement_is_not_retried(monkeypatch: Any) -> None:
    """Only a kept qubit is resent: every DATA of the first transfer is dropped, so the target's half reaches
    its deadline after the source's Bell measurement (the qubit is gone), the target answers ERR DEADLINE, and
    the source's TransportError (not kept) ends the execution."""
    sc, _, program = moving("a")
    monkeypatch.setattr("stack.api.transport.deadline_budget_ns", lambda *args: BUDGET_NS)
    dropped: list[int] = []
    send = Network.send

    def lossy(self: Network, src: int, sport: int, dst: Any, payload: bytes) -> None:
        if sport == QTP_PORT and Qtp.decode(payload).type == TYPE_DATA and Qtp.decode(payload).transfer_seq == 1:
            dropped.append(self.kernel.now)
            return
        send(self, src, sport, dst, payload)

    monkeypatch.setattr(Network, "send", lossy)
    with pytest.raises(BaseExceptionGroup) as failure:
        execute_program(sc, program, 1, seed=1)
    assert dropped
    assert failure.group_contains(TransportError, match="the receiver answered ERR DEADLINE", depth=None)


LONG_KM = 10.0
"""A link whose one-way delay (~49 µs here) is large against the retransmission grid of the exchanges."""
STRADDLE_BUDGET_NS = 150_000
"""Between the time an undisturbed teledata takes on that link (the target's DATA ~99 µs after its OK) and
the source's own deadline when the target's status comes one retransmission (~108 µs) late."""


def test_the_source_decides_with_the_targets_earlier_ok(monkeypatch: Any) -> None:
    """The target (a, the link's master) gets its OK at the herald, the source (b) one way later on CONFIRM.
    The first copy of the target's status is lost, so the source learns it holds its half one retransmission
    later: still before the source's own OK plus the budget, but too late for a DATA sent then to reach the
    target before its half's deadline (counted from its earlier OK). Before, the source went by its own OK:
    it Bell-measured, the target's half had expired, ERR DEADLINE came back and the qubit was lost. Now the
    target's status carries its OK time and the source, deciding what the target will, keeps the qubit and
    resends it over a new pair."""
    sc, circuit, program, _ = moving_teledata("b", length_km=LONG_KM)
    monkeypatch.setattr("stack.api.transport.deadline_budget_ns", lambda *args: STRADDLE_BUDGET_NS)
    node, sent, dropped = sc.nodes["a"].node_id, Network.send, []

    def lossy(self: Network, src: int, sport: int, dst: Any, payload: bytes) -> None:
        if src == node and payload[:2] == MAGIC and int.from_bytes(payload[2:6], "big") == 2 and not dropped:
            dropped.append(self.kernel.now)
            return
        sent(self, src, sport, dst, payload)

    monkeypatch.setattr(Network, "send", lossy)
    report = circuit_report(execute_program(sc, program, 2, seed=1), circuit, seed=1)
    assert dropped
    assert report["outcomes"] == {"0000": 2}
    assert report["ebits_retried"] == 1
    assert report["ebits_consumed"] == report["ebits_received"] == report["ebits_predicted"] + 1


def test_on_the_long_link_nothing_is_retried_without_the_loss(monkeypatch: Any) -> None:
    """The control: the same budget suffices when the target's status is not lost (the source does not keep
    qubits it could send)."""
    sc, circuit, program, _ = moving_teledata("b", length_km=LONG_KM)
    monkeypatch.setattr("stack.api.transport.deadline_budget_ns", lambda *args: STRADDLE_BUDGET_NS)
    report = circuit_report(execute_program(sc, program, 2, seed=1), circuit, seed=1)
    assert report["outcomes"] == {"0000": 2} and report["ebits_retried"] == 0
