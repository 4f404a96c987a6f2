"""``qnet up``: every node its own process on localhost, against the in-process mode.

These tests spawn real processes that talk real UDP on 127.0.0.1 and a Unix socket; each
run is bounded by a timeout. The statistical comparison uses two-sample tolerances of
four standard errors, from each run's own counts.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from stack.core.capture import node_ip, read_pcap
from stack.multiprocess.udp import PortMap
from stack.report import build_report
from stack.runtime import build, run_scenario
from stack.scenario import load
from tests.mp_util import ROOT, qnet, start_up, three_node_toml, two_node_toml, udp_listeners, wait_gone, wait_running
from tests.tshark_util import decode_with_tshark, have_tshark

PAIRS = 300
BASE_PORT = 43000
DILATION = "0.01"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("mp")
    scenario = tmp / "two.toml"
    scenario.write_text(two_node_toml(pairs=PAIRS))
    run_dir = tmp / "run"
    proc = subprocess.run(qnet("up", str(scenario), "--run-dir", str(run_dir), "--base-port", str(BASE_PORT),
                               "--dilation", DILATION, "--tolerance-us", "500", "--json", str(tmp / "mp.json")),
                          cwd=ROOT, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    in_process = build_report(run_scenario(load(scenario)))
    return {"mp": json.loads((tmp / "mp.json").read_text()), "ip": in_process, "run_dir": run_dir,
            "stdout": proc.stdout}


def test_every_pair_is_delivered_and_accounted_for(runs: dict[str, Any]) -> None:
    report = runs["mp"]
    for workload in report["workload"]:
        assert workload["pairs_delivered"] == PAIRS and workload["errors"] == []
        # Real timing can make the ends disagree about a pair now and then; EXPIRE repairs it at both ends,
        # so no pair is ever left delivered at one end only.
        assert workload["pairs_matched"] + workload["pairs_expired"] == PAIRS
        assert workload["pairs_delivered_remote"] == workload["pairs_matched"]
    ledger = report["medium"]
    assert ledger["created"] == ledger["measured"] + ledger["discarded"] + ledger["discarded_at_end"]
    assert ledger["measured"] >= 4 * PAIRS                   # every delivered qubit, at both ends (and any
    # measure-directly pair measured at emission whose herald was then lost)
    mp = report["multi_process"]
    assert mp["dead_nodes"] == []
    assert set(mp["nodes"]) == {"alice", "bob", "mid"}
    assert mp["missed_deadlines"] == 0 and mp["late_inputs"] == 0
    assert "missed deadlines 0" in runs["stdout"]


def _two_sample(a: float, sa: float, b: float, sb: float) -> None:
    assert abs(a - b) <= 4 * math.hypot(sa, sb), f"{a} vs {b} (4σ = {4 * math.hypot(sa, sb)})"


def test_rates_and_fidelities_match_the_in_process_mode(runs: dict[str, Any]) -> None:
    mp, ip = runs["mp"], runs["ip"]
    link_mp, link_ip = mp["links"][0], ip["links"][0]
    _two_sample(link_mp["success_probability_measured"], link_mp["success_probability_stderr"],
                link_ip["success_probability_measured"], link_ip["success_probability_stderr"])
    for w_mp, w_ip in zip(mp["workload"], ip["workload"], strict=True):
        # pair arrivals are near-geometric: the rate's relative standard error is about 1/sqrt(n)
        rel = 1 / math.sqrt(PAIRS - 1)
        _two_sample(w_mp["pairs_per_s"], w_mp["pairs_per_s"] * rel, w_ip["pairs_per_s"], w_ip["pairs_per_s"] * rel)
        if w_mp["type"] == "keep":
            _two_sample(w_mp["fidelity_measured"], w_mp["fidelity_stderr"],
                        w_ip["fidelity_measured"], w_ip["fidelity_stderr"])
        else:
            q_mp, q_ip = w_mp["disagreement"]["Z"]["rate"], w_ip["disagreement"]["Z"]["rate"]
            _two_sample(q_mp, math.sqrt(max(q_mp * (1 - q_mp), 1e-4) / PAIRS),
                        q_ip, math.sqrt(max(q_ip * (1 - q_ip), 1e-4) / PAIRS))


def test_merged_capture_holds_every_process_capture_in_time_order(runs: dict[str, Any]) -> None:
    run_dir: Path = runs["run_dir"]
    merged = read_pcap((run_dir / "merged.pcap").read_bytes())
    parts = [read_pcap(p.read_bytes()) for p in run_dir.glob("*.pcap") if p.name != "merged.pcap"]
    assert len(parts) == 4                                   # medium (quantum frames) + 3 nodes
    assert len(merged) == sum(len(p) for p in parts) == runs["mp"]["capture_frames"]
    assert sorted(merged, key=lambda r: r[0]) == merged
    assert sorted(r[1] for p in parts for r in p) == sorted(r[1] for r in merged)


@pytest.mark.skipif(not have_tshark(), reason="tshark not installed")
def test_tshark_decodes_the_merged_capture(runs: dict[str, Any]) -> None:
    frames = decode_with_tshark(runs["run_dir"] / "merged.pcap")
    protocols = {name for frame in frames for name, _ in frame["layers"]}
    assert {"qhp", "qll", "egp", "qframe"} <= protocols
    assert not [f["number"] for f in frames if f["malformed"]]


def test_ports_json_describes_the_port_map(runs: dict[str, Any]) -> None:
    ports = json.loads((runs["run_dir"] / "ports.json").read_text())
    assert ports["base_port"] == BASE_PORT
    assert ports["nodes"]["bob"]["link_service"] == BASE_PORT + 32 * 2 + 1
    assert udp_listeners(range(BASE_PORT, BASE_PORT + 32 * 4)) == []     # all closed after the run


@pytest.fixture
def long_run(tmp_path: Path) -> Path:
    scenario = tmp_path / "long.toml"
    scenario.write_text(two_node_toml(pairs=65535, duration_ms=1e6))
    return scenario


def test_sigterm_stops_every_process_and_nothing_listens_beyond_loopback(long_run: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    launcher = start_up(long_run, run_dir, BASE_PORT + 200, "--dilation", "0.001")
    try:
        pids = wait_running(launcher, run_dir, expected_nodes=3)
        bound = udp_listeners(range(BASE_PORT + 200, BASE_PORT + 200 + 32 * 4))
        # the oracle: what the in-process build binds, through the port map
        ports, emu = PortMap(BASE_PORT + 200), build(load(long_run))
        node_of = {node_ip(n.node_id): n.node_id for n in emu.scenario.nodes.values()}
        expected = [ports.real(node_of[ip], number) for ip, number in emu.network.bindings]
        expected += [ports.sideband(node) for node in {node_of[ip] for ip, _ in emu.network.bindings}]
        assert sorted(port for _, port in bound) == sorted(expected)
        assert {address for address, _ in bound} == {"0100007F"}   # 127.0.0.1 only
        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(timeout=30) == 128 + signal.SIGTERM
        assert wait_gone(list(pids.values()), timeout=10) == []
    finally:
        if launcher.poll() is None:
            launcher.kill()
        launcher.communicate()


def test_when_the_medium_dies_the_nodes_exit_with_a_clear_message(long_run: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    launcher = start_up(long_run, run_dir, BASE_PORT + 200, "--dilation", "0.001")
    try:
        pids = wait_running(launcher, run_dir, expected_nodes=3)
        os.kill(pids["medium"], signal.SIGKILL)
        assert wait_gone([pids[n] for n in ("alice", "bob", "mid")], timeout=15) == []
        _, stderr = launcher.communicate(timeout=30)
        assert launcher.returncode != 0
        assert "did not finish" in stderr
        for name in ("alice", "bob", "mid"):
            assert "the medium process went away" in (run_dir / f"{name}.log").read_text()
    finally:
        if launcher.poll() is None:
            launcher.kill()
        launcher.communicate()


def test_a_killed_node_turns_into_errors_at_its_peer_and_the_run_goes_on(tmp_path: Path) -> None:
    scenario = tmp_path / "three.toml"
    scenario.write_text(three_node_toml(pairs_ab=65535, pairs_ac=150))
    run_dir = tmp_path / "run"
    launcher = start_up(scenario, run_dir, BASE_PORT + 300, "--dilation", "0.01", "--json", str(tmp_path / "r.json"))
    try:
        pids = wait_running(launcher, run_dir, expected_nodes=5)
        os.kill(pids["bob"], signal.SIGKILL)
        killed = time.monotonic()
        stdout, _ = launcher.communicate(timeout=120)
        assert launcher.returncode == 0, stdout
        assert time.monotonic() - killed < 60
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.communicate()
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["multi_process"]["dead_nodes"] == ["bob"]
    assert report["nodes"]["bob"]["dead"] is True
    to_bob, to_carol = report["workload"]
    assert to_bob["errors"] == ["OTHER"]                     # the request on the dead link fails
    assert to_bob["pairs_delivered"] < 65535
    assert to_carol["pairs_delivered"] == 150 and to_carol["errors"] == []     # the rest of the run goes on
    assert to_carol["pairs_matched"] + to_carol["pairs_expired"] == 150      # none at one end only
    assert "node processes died during the run: bob" in stdout


def test_processes_started_by_hand_make_the_same_run(tmp_path: Path) -> None:
    """The README's recipe: `qnet medium` and each `qnet node NAME`, no launcher."""
    scenario = tmp_path / "two.toml"
    scenario.write_text(two_node_toml(pairs=20))
    run_dir = tmp_path / "by-hand"                    # not created beforehand: the first process makes it
    common = [str(scenario), "--run-dir", str(run_dir), "--base-port", str(BASE_PORT + 400)]
    medium = subprocess.Popen(qnet("medium", *common, "--dilation", "0.01"), cwd=ROOT)
    nodes = [subprocess.Popen(qnet("node", name, *common), cwd=ROOT) for name in ("alice", "bob", "mid")]
    try:
        assert medium.wait(timeout=120) == 0
        assert [node.wait(timeout=30) for node in nodes] == [0, 0, 0]
    finally:
        for process in (medium, *nodes):
            if process.poll() is None:
                process.kill()
                process.wait()
    report = json.loads((run_dir / "report.json").read_text())
    assert [w["pairs_delivered"] for w in report["workload"]] == [20, 20]
    assert report["multi_process"]["dead_nodes"] == []
