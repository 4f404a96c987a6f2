"""The network layer under ``qnet up``: every node its own process, real UDP on 127.0.0.1 (wire.md §8: the
network layer's ports have slots 5–7 of the port map). The same engines as in-process: a 2-hop chain of
couplers (three QPUs, four processes) delivers every pair at both ends, the report describes the circuits
from the nodes' records, and the fidelity agrees with the in-process run within four standard errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

from stack.multiprocess.outcome import EXIT_LATE, EXIT_OK
from stack.report import build_report
from stack.runtime import run_scenario
from stack.scenario import load
from tests.mp_util import base_port_of, run_up
from tests.network_scenarios import chain_text, entry

PAIRS = 45


def test_a_repeater_chain_runs_with_every_node_its_own_process(tmp_path: Path) -> None:
    scenario = tmp_path / "chain.toml"
    scenario.write_text(chain_text(2, workload=entry(pairs=PAIRS) + entry("measure", pairs=PAIRS, basis="XZ"),
                                   depolarizing=0.1, coupler_efficiency=0.5, t2_ms=1000.0))
    report_path, run_dir = tmp_path / "mp.json", tmp_path / "run"
    # the timeout is a hang guard only: the run took 142 s of wall time at load 12 (2 cores), and went past a
    # guard of 180 s at load 13, a failure by chance
    proc = run_up(scenario, run_dir, "--dilation", "0.005", "--tolerance-us", "500", "--json", str(report_path),
                  "--quiet", timeout=900)
    # a loaded machine may make the run late (status 5): lateness is a reported figure, not a failure here
    assert proc.returncode in (EXIT_OK, EXIT_LATE), proc.stdout + proc.stderr
    mp = json.loads(report_path.read_text())
    ports, base_port = json.loads((run_dir / "ports.json").read_text())["nodes"]["r1"], base_port_of(run_dir)
    assert (ports["network_service"], ports["qnp"], ports["qncp"]) == tuple(base_port + 32 * 3 + s for s in (5, 6, 7))
    for w in mp["workload"]:
        assert w["service"] == "network" and w["errors"] == []
        assert w["pairs_delivered"] == w["pairs_delivered_remote"] == PAIRS
        assert w["pairs_matched"] + w["pairs_expired"] == PAIRS and w["pairs_disagreeing"] == 0
    for circuit in mp["circuits"]:
        assert circuit["path"] in (["a", "r1", "b"], ["b", "r1", "a"]) and circuit["ended"] == "complete"
        assert circuit["bell_mismatches"] == 0 and circuit["repeaters"][0]["swaps"] >= PAIRS
    for name in ("a", "r1", "b"):                   # the network layer's counters, from the nodes' results
        assert set(mp["nodes"][name]["network"]) == {"late_confirms", "gave_up"}
    assert mp["multi_process"]["accounting_error"] is None     # not the ledger's sum: true by construction
    ip = build_report(run_scenario(load(scenario)))["workload"][0]
    keep = mp["workload"][0]
    assert abs(keep["fidelity_measured"] - ip["fidelity_measured"]) <= 4 * math.hypot(keep["fidelity_stderr"],
                                                                                     ip["fidelity_stderr"])
