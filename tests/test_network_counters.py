"""The network layer's ``late_confirms`` and ``gave_up`` counters in the run report (docs/report.md): per node in
``nodes{}.network``, summed over the route in ``circuits[]``, and flagged in the summary's circuit table.

A 2-hop chain whose classical channel loses datagrams, with the relay bound (``confirm_lifetime_ns``) shrunk to
1 ns: each record of a CONFIRM's answer is forgotten as soon as the next CONFIRM comes, so a copy retransmitted
because its answer was lost comes late (counted and dropped), its sender hears nothing more and gives the
CONFIRM up (counted; the pair then expires at both ends). The counts are checked against the engines' own events,
counted apart. A one-hop circuit in a 2-hop chain checks that a circuit sums the counters of its route's nodes only.
"""

from __future__ import annotations

from typing import Any

import pytest

import protocols.network.deadlines as deadlines
import protocols.network.end_reports as end_reports
import protocols.network.endpoint as endpoint
import protocols.network.relay as relay
from stack.report import build_report, summary
from stack.report_circuits import COUNTERS, NODE_COUNTERS
from stack.runtime import run_scenario
from tests.network_scenarios import chain, entry


def test_late_confirms_and_given_up_messages_are_in_the_report(monkeypatch: pytest.MonkeyPatch) -> None:
    """The report's counts are checked against the engines' own events, counted apart from the counters: every
    give-up (``Deadlines.gave_up``, the one place the counter is raised) and every CONFIRM the head or a relay
    dropped as late (a handler call that found the pair's record gone: nothing sent, the message's sequence
    number below the bound of the records kept)."""
    monkeypatch.setattr(relay, "confirm_lifetime_ns", lambda node, circuit: 1)
    monkeypatch.setattr(end_reports, "confirm_lifetime_ns", lambda node, circuit: 1)
    events: dict[tuple[str, int], int] = {}

    def count(kind: str, node: object) -> None:
        events[kind, id(node)] = events.get((kind, id(node)), 0) + 1

    gave_up = deadlines.Deadlines.gave_up

    def counted_gave_up(self: deadlines.Deadlines, key: tuple[object, ...], now: int) -> object:
        count("gave_up", self.node)
        return gave_up(self, key, now)

    relay_confirm, head_confirm = relay.Relay.on_confirm, endpoint.EndPoint.on_confirm

    def counted_relay_confirm(self: relay.Relay, circuit: Any, message: Any, now: int, data: Any = None) -> Any:
        actions = relay_confirm(self, circuit, message, now, data)
        answers = self.answers.get(circuit.handle)
        if (not actions.send and answers is not None and message.e2e_seq not in answers.values
                and message.e2e_seq < answers.floor):
            count("late_confirms", self.node)
        return actions

    def counted_head_confirm(self: endpoint.EndPoint, message: Any, sender: int, now: int) -> Any:
        circuit = self.node.circuits.get((message.head_node, message.circuit_id))
        actions = head_confirm(self, message, sender, now)
        if circuit is not None and circuit.is_end and circuit.is_head and not actions.send:
            answered = self.reports.answered(self.state(circuit), circuit)
            if answered.get(message.e2e_seq) is None and answered.late(message.e2e_seq):
                count("late_confirms", self.node)
        return actions

    monkeypatch.setattr(deadlines.Deadlines, "gave_up", counted_gave_up)
    monkeypatch.setattr(relay.Relay, "on_confirm", counted_relay_confirm)
    monkeypatch.setattr(endpoint.EndPoint, "on_confirm", counted_head_confirm)
    scenario = chain(2, workload=entry("measure", pairs=40, basis="Z"), link="classical_loss = 0.1",
                     duration_ms=60_000)
    result = run_scenario(scenario)
    report = build_report(result)
    engines = {engine.node_id: engine for engine in result.emulation.network_layers}
    names = {node.node_id: name for name, node in result.emulation.scenario.nodes.items()}
    seen = {node_id: {key: events.get((key, id(engine.node)), 0) for key in NODE_COUNTERS}
            for node_id, engine in engines.items()}
    for node_id in engines:
        assert report["nodes"][names[node_id]]["network"] == seen[node_id]
    (circuit,) = report["circuits"]
    late = sum(counts["late_confirms"] for counts in seen.values())
    given_up = sum(counts["gave_up"] for counts in seen.values())
    assert late > 0 and given_up > 0
    assert (circuit["late_confirms"], circuit["gave_up"]) == (late, given_up)
    assert f"  {given_up} given up, {late} late CONFIRMs" in summary(report, 0.0, None)


def test_a_circuit_sums_the_counters_of_its_route_only() -> None:
    """A one-hop network circuit a–r1 in a chain a–r1–b: b is off its route, so b's counters are not in the
    circuit's sums (each node's counters set to a distinct power of two after the run, so any node wrongly
    counted or left out shows)."""
    scenario = chain(2, workload=entry("measure", pairs=5, basis="Z", remote="r1", service="network"))
    result = run_scenario(scenario)
    engines = {engine.node_id: engine for engine in result.emulation.network_layers}
    nodes = result.emulation.scenario.nodes
    assert set(engines) == {node.node_id for name, node in nodes.items() if name in ("a", "r1", "b")}
    for power, engine in enumerate(engines.values()):
        for shift, key in enumerate(COUNTERS):
            setattr(engine.counters, key, 1 << (power + 4 * shift))
    report = build_report(result)
    (circuit,) = report["circuits"]
    route = (nodes["a"].node_id, nodes["r1"].node_id)
    for key in COUNTERS:
        assert circuit[key] == sum(getattr(engines[node_id].counters, key) for node_id in route)
    assert report["nodes"]["b"]["network"] == {key: getattr(engines[nodes["b"].node_id].counters, key)
                                               for key in NODE_COUNTERS}


def test_a_lossless_run_reports_zero_and_flags_nothing() -> None:
    result = run_scenario(chain(2, workload=entry("measure", pairs=5, basis="Z")))
    report = build_report(result)
    (circuit,) = report["circuits"]
    assert (circuit["late_confirms"], circuit["gave_up"]) == (0, 0)
    assert all(node["network"] == {"late_confirms": 0, "gave_up": 0} for node in report["nodes"].values())
    assert "given up" not in summary(report, 0.0, None)
