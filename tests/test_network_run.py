"""The network layer end to end on repeater chains (issue 13): both ends get OKs naming the same pair and
Bell state, and the Bell index the TRACKs carry is exact.

With perfect hardware (coupler links without depolarisation, perfect gates and readout, no memory decay)
every end-to-end pair is exactly the Bell state both OKs name, so the two ends' outcomes disagree with its
correlation in no pair and no basis: a swapped bit in the P4 conversion or the XOR rule would give 50 %
errors in some basis. The swaps' outcomes are uniformly random, so all four end-to-end Bell states occur.
A single-click hop heralds Ψ+ and Ψ− (with a bright-state population α = 10⁻⁵ its pairs are exact but for a
chance of about α each: 6·10⁻⁴ for its 60 pairs, and the run is seeded), so the link Bell indices in the EGP
headers are not all zero either.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from stack.report import build_report
from stack.report_circuits import circuit_table
from stack.runtime import RunResult, run_scenario
from stack.scenario import load
from tests.consistency import heralded_qubits
from tests.network_scenarios import chain, entry

PAIRS = 300


def assert_exact(result: RunResult, pairs: int = PAIRS) -> dict:
    report = build_report(result)
    (workload,) = report["workload"]
    (circuit,) = report["circuits"]
    assert workload["service"] == "network"
    assert workload["pairs_delivered"] == workload["pairs_delivered_remote"] == workload["pairs_matched"] == pairs
    assert workload["errors"] == [] and workload["pairs_expired"] == 0
    rates = workload["disagreement"]
    assert set(rates) == {"Z", "X", "Y"} and all(rates[b]["pairs"] == pairs // 3 for b in rates)
    assert all(rates[b]["rate"] == 0.0 for b in rates)
    assert circuit["bell_mismatches"] == 0 and circuit["fidelity_measured"] == 1.0
    w = result.emulation.workloads[0]
    head = {r.sequence_number: r for r in w.origin.records}
    tail = {r.sequence_number: r for r in w.responder.records}
    assert sorted(head) == sorted(tail) == list(range(pairs))
    ends = result.emulation.scenario.nodes
    for n, record in head.items():       # both OKs name the same pair, Bell state and (perfect memory) goodness
        assert (record.bell_state, record.goodness) == (tail[n].bell_state, tail[n].goodness)
        assert (record.d, tail[n].d) == (0, 1)
        assert (record.remote_node_id, tail[n].remote_node_id) == (ends["b"].node_id, ends["a"].node_id)
    assert all(engine.settled() for engine in result.emulation.network_layers)
    ledger = result.ledger
    assert ledger["created"] == heralded_qubits(result) > 0      # not the ledger's sum: true by construction
    return report


@pytest.mark.parametrize("hops", [2, 4])
def test_bell_tracking_is_exact_on_a_perfect_chain(hops: int) -> None:
    result = run_scenario(chain(hops, workload=entry(pairs=PAIRS)))
    report = assert_exact(result)
    states = Counter(r.bell_state for r in result.emulation.workloads[0].origin.records)
    assert set(states) == {0, 1, 2, 3}                      # random swap outcomes: every Bell state occurs
    (circuit,) = report["circuits"]
    assert circuit["path"] == ["a"] + [f"r{i}" for i in range(1, hops)] + ["b"]
    assert sum(r["swaps"] for r in circuit["repeaters"]) >= (hops - 1) * PAIRS


def test_bell_tracking_is_exact_across_a_single_click_hop() -> None:
    scenario = chain(2, workload=entry(pairs=60), schemes=["single-click", "coupler"],
                     link="bright_state_population = 1e-5\n", qpu="emission_efficiency = 1.0\n"
                     "transducer_efficiency = 1.0\n")
    result = run_scenario(scenario)
    assert_exact(result, 60)
    heralded = Counter(h.link_bell for h in _halves(result, "a"))
    assert set(heralded) == {1, 3}                          # Ψ+ and Ψ−: single-click never heralds Φ±


def _halves(result: RunResult, name: str) -> list:
    node_id = result.emulation.scenario.nodes[name].node_id
    (engine,) = [e for e in result.emulation.network_layers if e.node_id == node_id]
    return list(engine.node.halves.values())


def test_measure_directly_end_to_end_in_random_bases_is_exact() -> None:
    """Both ends measure their half at its link OK, each in X or Z at random (BB84): where the bases agree
    the outcomes follow the end-to-end Bell state exactly, and the bases are drawn evenly."""
    result = run_scenario(chain(3, workload=entry("measure", pairs=PAIRS, basis="XZ")))
    w = build_report(result)["workload"][0]
    assert w["pairs_delivered"] == w["pairs_delivered_remote"] == w["pairs_matched"] == PAIRS
    assert set(w["disagreement"]) == {"X", "Z"} and all(t["rate"] == 0.0 for t in w["disagreement"].values())
    same = sum(t["pairs"] for t in w["disagreement"].values())
    assert abs(same - PAIRS / 2) < 4 * (PAIRS / 4) ** 0.5          # both ends chose the same basis half the time
    for end in (result.emulation.workloads[0].origin, result.emulation.workloads[0].responder):
        xs = sum(r.basis == 1 for r in end.records)
        assert abs(xs - PAIRS / 2) < 4 * (PAIRS / 4) ** 0.5
        assert {r.kind for r in end.records} == {"M"}


def test_measure_directly_in_a_fixed_basis() -> None:
    result = run_scenario(chain(2, workload=entry("measure", pairs=60, basis="Y")))
    w = build_report(result)["workload"][0]
    assert w["pairs_matched"] == 60 and w["disagreement"] == {"Y": {"pairs": 60, "rate": 0.0}}


def test_consecutive_false_holds_the_outcomes_until_the_request_completes() -> None:
    """CON clear with measure-directly: every OK-M comes at once at each end when the request is over (at
    the tail when all its pairs are settled, at the head on COMPLETE)."""
    result = run_scenario(chain(2, workload=entry("measure", pairs=20, consecutive=False)))
    w = result.emulation.workloads[0]
    for end in (w.origin, w.responder):
        assert len(end.records) == 20 and len({r.ok_time for r in end.records}) == 1
    assert w.origin.records[0].ok_time > w.responder.records[0].ok_time
    assert build_report(result)["workload"][0]["pairs_matched"] == 20


def test_a_one_hop_circuit_between_neighbours() -> None:
    result = run_scenario(chain(1, workload=entry(pairs=30, service="network")))
    report = build_report(result)
    assert report["circuits"][0]["path"] == ["a", "b"] and report["circuits"][0]["repeaters"] == []
    assert report["workload"][0]["pairs_matched"] == 30 and report["workload"][0]["disagreement"]["Y"]["rate"] == 0


RING = """
[run]
duration_ms = 1000
""" + "".join(f'[nodes.{n}]\nkind = "qpu"\nt2_ms = inf\nstorage_qubits = 2\n' for n in ("a", "b", "r1", "r2", "r3")) + \
    "".join(f'[links.{x}-{y}]\na = "{x}"\nb = "{y}"\nscheme = "coupler"\ndepolarizing = 0.0\n'
            for x, y in (("a", "r1"), ("r1", "b"), ("a", "r2"), ("r2", "r3"), ("r3", "b")))


def test_the_head_routes_the_cheapest_path_unless_the_entry_names_one() -> None:
    from stack.scenario import load_text
    chosen = build_report(run_scenario(load_text(RING + entry(pairs=6), "<ring>")))
    assert chosen["circuits"][0]["path"] == ["a", "r1", "b"]
    forced = build_report(run_scenario(load_text(RING + entry(pairs=6, path=["a", "r2", "r3", "b"]), "<ring>")))
    assert forced["circuits"][0]["path"] == ["a", "r2", "r3", "b"]
    assert forced["workload"][0]["pairs_matched"] == 6


def test_applications_of_the_python_api_get_pairs_across_a_repeater() -> None:
    from protocols.common import Basis
    from protocols.packets import linkservice as ll
    from protocols.physical import physics
    from stack.api import AppContext, LinkError, run_apps

    outcomes: dict[str, dict[int, tuple[int, int]]] = {"a": {}, "b": {}}

    def app(name: str, create: bool):  # type: ignore[no-untyped-def]
        async def run(ctx: AppContext) -> None:
            if create:
                await ctx.create("island", pairs=1)           # ACKed, then refused: no route
                refusal = await ctx.next_message()
                assert isinstance(refusal, ll.Err) and refusal.err == ll.ERR_NOPATH
                with pytest.raises(LinkError, match="UNSUPP"):
                    await ctx.create("b", pairs=2, atomic=True)
                await ctx.create("b", pairs=12)               # no link between a and b: the network layer
            for _ in range(12):
                ok = await ctx.next_message()
                assert isinstance(ok, ll.OkKeep)
                outcomes[name][ok.sequence_number] = (ok.bell_state, await ctx.measure(ok.lqid, Basis.X))
        return run

    from stack.scenario import load_text
    from tests.network_scenarios import chain_text
    scenario = load_text(chain_text(2, workload="") + '[nodes.island]\nkind = "qpu"\n', "<api>")
    run_apps(scenario, {"a": app("a", True), "b": app("b", False)})
    assert sorted(outcomes["a"]) == sorted(outcomes["b"]) == list(range(12))
    for n, (bell, outcome) in outcomes["a"].items():
        assert bell == outcomes["b"][n][0]
        assert outcome ^ outcomes["b"][n][1] == physics.expected_parity(bell, Basis.X)


def test_the_circuit_table_keeps_its_columns_apart_for_long_names() -> None:
    """`carol->alice measure` is 20 characters, the width of the circuit column: it must not run into the
    path (examples/all-messages.toml's four circuits)."""
    report = build_report(run_scenario(load(Path(__file__).resolve().parent.parent / "examples" /
                                            "all-messages.toml")))
    lines = circuit_table(report)[1:]
    start = lines[0].index("path")
    assert any(line.startswith("carol->alice measure ") for line in lines)
    for line in lines[1:]:
        assert line[start - 1] == " " and line[start:].split()[0].count(">") == 2, line


def reports(root: Path) -> list[dict[str, Any]]:
    """examples/all-messages.toml's report, and the same as ``qnet up`` would make it had the node process of its
    first circuit's tail died, or of its first repeater (keys only then: ``dead_ends``, ``dead``,
    ``dead_repeaters``)."""
    result = run_scenario(load(root / "examples" / "all-messages.toml"))
    dead = frozenset({next(w.config.remote for w in result.emulation.workloads if w.config.service == "network")})
    full = build_report(result)
    repeater = next(c["path"][1] for c in full["circuits"] if len(c["path"]) > 2)
    return [full, build_report(result, dead=dead), build_report(result, dead=frozenset({repeater}))]


def test_docs_report_md_describes_every_key_of_a_circuit() -> None:
    """docs/report.md's `circuits[]` table names every key a circuit record has, and no other."""
    root = Path(__file__).resolve().parent.parent
    text = (root / "docs" / "report.md").read_text(encoding="utf-8")
    section = text[text.index("## `circuits[]`"):text.index("## `nodes{}`")]
    documented = {key for line in section.splitlines() if line.startswith("| `")
                  for key in re.findall(r"`([a-z_0-9]+)`", line.split("|")[1])}
    keys = {key for report in reports(root) for circuit in report["circuits"] for key in circuit}
    assert documented == keys


@pytest.mark.parametrize(("section", "until", "records"), [
    ("## `links[]`", "## `workload[]`", lambda report: report["links"]),
    ("## `workload[]`", "## `circuits[]`", lambda report: report["workload"]),
    ("## `nodes{}`", "## `medium`", lambda report: list(report["nodes"].values())),
    ("## `medium`", "## `applications[]`", lambda report: [report["medium"]]),
])
def test_docs_report_md_describes_every_key_of_the_other_sections(section: str, until: str, records: Any) -> None:
    """As for `circuits[]`: each of these tables names every key its records have (a run with both services,
    examples/all-messages.toml), and no other."""
    root = Path(__file__).resolve().parent.parent
    text = (root / "docs" / "report.md").read_text(encoding="utf-8")
    table = text[text.index(section):text.index(until)]
    documented = {key for line in table.splitlines() if line.startswith("| `")
                  for key in re.findall(r"`([a-z_0-9]+)`", line.split("|")[1])}
    assert documented == {key for report in reports(root) for record in records(report) for key in record}
