"""The network layer's ``late_confirms`` and ``gave_up`` counters in the run report (docs/report.md): per node in
``nodes{}.network``, summed over the route in ``circuits[]``, and flagged in the summary's circuit table.

A 2-hop chain whose classical channel loses datagrams, with the relay bound (``confirm_lifetime_ns``) shrunk to
1 ns: each record of a CONFIRM's answer is forgotten as soon as the next CONFIRM comes, so a copy retransmitted
because its answer was lost comes late (counted and dropped), its sender hears nothing more and gives the
CONFIRM up (counted; the pair then expires at both ends).
"""

from __future__ import annotations

import pytest

import protocols.network.endpoint as endpoint
import protocols.network.relay as relay
from stack.report import build_report, summary
from stack.runtime import run_scenario
from tests.network_scenarios import chain, entry


def test_late_confirms_and_given_up_messages_are_in_the_report(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(relay, "confirm_lifetime_ns", lambda node, circuit: 1)
    monkeypatch.setattr(endpoint, "confirm_lifetime_ns", lambda node, circuit: 1)
    scenario = chain(2, workload=entry("measure", pairs=40, basis="Z"), link="classical_loss = 0.1",
                     duration_ms=60_000)
    result = run_scenario(scenario)
    report = build_report(result)
    engines = {engine.node_id: engine for engine in result.emulation.network_layers}
    names = {node.node_id: name for name, node in result.emulation.scenario.nodes.items()}
    for node_id, engine in engines.items():
        assert report["nodes"][names[node_id]]["network"] == {"late_confirms": engine.counters.late_confirms,
                                                              "gave_up": engine.counters.gave_up}
    (circuit,) = report["circuits"]
    late = sum(engine.counters.late_confirms for engine in engines.values())
    gave_up = sum(engine.counters.gave_up for engine in engines.values())
    assert late > 0 and gave_up > 0
    assert (circuit["late_confirms"], circuit["gave_up"]) == (late, gave_up)
    assert f"  {gave_up} given up, {late} late CONFIRMs" in summary(report, 0.0, None)


def test_a_lossless_run_reports_zero_and_flags_nothing() -> None:
    result = run_scenario(chain(2, workload=entry("measure", pairs=5, basis="Z")))
    report = build_report(result)
    (circuit,) = report["circuits"]
    assert (circuit["late_confirms"], circuit["gave_up"]) == (0, 0)
    assert all(node["network"] == {"late_confirms": 0, "gave_up": 0} for node in report["nodes"].values())
    assert "given up" not in summary(report, 0.0, None)
