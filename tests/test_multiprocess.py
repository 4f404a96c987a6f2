"""``qnet up``: every node its own process on localhost, against the in-process mode.

These tests spawn real processes that talk real UDP on 127.0.0.1 and a Unix socket; each
run is bounded by a timeout. The statistical comparison uses two-sample tolerances of
four standard errors, from each run's own counts.

They hold on a busy machine: lateness (missed deadlines, late inputs) is a figure the run
reports and the exit status reflects, never asserted to be zero; what is asserted is what the
code guarantees whatever the load (every pair accounted for at both ends, the ledger, the
exit status agreeing with the report). Wall-clock bounds are only timeouts against hangs,
far above what a loaded machine needs. Each ``qnet up`` runs with ``--base-port 0``: its launcher binds a
free block and keeps it bound, so concurrent test runs on the machine cannot take each other's ports
(tests/test_held_ports.py); processes started by hand get their ports the same way, bound by the test and
handed over (tests/mp_util.py's ``holding`` and ``handing``). Port checks look at the run's own processes'
sockets, never at whatever is bound in a range of ports another checkout's run may use too.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from protocols.security import Authenticator, Drop, run_secret_from
from stack import cli
from stack.core.capture import node_ip, read_pcap
from stack.multiprocess.held import block_ports, close_all
from stack.multiprocess.launcher import allocate_base
from stack.multiprocess.medium_protocol import read_secret
from stack.multiprocess.outcome import EXIT_BAD_INPUT, EXIT_LATE, EXIT_NODE_DIED, EXIT_OK
from stack.multiprocess.udp import PortMap
from stack.report import build_report
from stack.runtime import build, run_scenario
from stack.scenario import load
from tests.mp_util import (
    ROOT,
    base_port_of,
    handing,
    holding,
    qnet,
    run_up,
    start_up,
    three_node_toml,
    two_node_toml,
    wait_gone,
    wait_pairs,
    wait_running,
)
from tests.tshark_util import decode_with_tshark, have_tshark

PAIRS = 300
LENGTH_KM = 0.2
"""A short link: herald timeouts sit at their 100 µs floor, 50 ms of wall time at the dilation below, so the
scheduling delays of a loaded 2-core machine (tens of ms) rarely lose a herald, while 2 × 300 pairs take
about 20 emulated ms (10 wall s)."""
DILATION = "0.002"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("mp")
    scenario = tmp / "two.toml"
    scenario.write_text(two_node_toml(pairs=PAIRS, length_km=LENGTH_KM))
    run_dir = tmp / "run"
    squatted, squatter = allocate_base(load(scenario), ["alice", "bob", "mid"])   # the first free block: taken
    try:
        proc = run_up(scenario, run_dir, "--dilation", DILATION, "--json", str(tmp / "mp.json"))
    finally:
        close_all(squatter.values())
    assert proc.returncode in (EXIT_OK, EXIT_LATE), proc.stdout + proc.stderr
    base = base_port_of(run_dir)
    assert base != squatted                   # --base-port 0 came up on a free block, not the one held
    in_process = build_report(run_scenario(load(scenario)))
    return {"mp": json.loads((tmp / "mp.json").read_text()), "ip": in_process, "run_dir": run_dir,
            "stdout": proc.stdout, "status": proc.returncode, "base": base}


def test_every_pair_is_delivered_and_accounted_for(runs: dict[str, Any]) -> None:
    report = runs["mp"]
    delivered = 0
    for workload in report["workload"]:
        assert workload["errors"] == []
        # Real timing (a loaded machine) can make the ends disagree about a pair now and then; EXPIRE settles
        # it at both ends, so every pair asked for is matched or expired, and none is left at one end only.
        matched, expired = workload["pairs_matched"], workload["pairs_expired"]
        assert matched + expired == PAIRS
        for end in ("pairs_delivered", "pairs_delivered_remote"):
            assert matched <= workload[end] <= matched + expired
            delivered += workload[end]
    ledger = report["medium"]
    assert report["multi_process"]["accounting_error"] is None    # not the ledger's sum: true by construction
    assert ledger["measured"] >= delivered          # every delivered qubit is measured, at each end (and any
    # measure-directly pair measured at emission whose herald was then lost)
    mp = report["multi_process"]
    assert mp["dead_nodes"] == []
    assert set(mp["nodes"]) == {"alice", "bob", "mid"}


def test_lateness_is_reported_and_sets_the_exit_status(runs: dict[str, Any]) -> None:
    """How late the processes were depends on the machine's load: the run's totals must add up and the
    exit status and the printed lines must say what the report says."""
    mp = runs["mp"]["multi_process"]
    processes = [mp["medium"], *mp["nodes"].values()]
    for key in ("missed_deadlines", "late_inputs"):
        assert mp[key] == sum(p[key] for p in processes)
    late = mp["missed_deadlines"] + mp["late_inputs"] > 0
    assert runs["status"] == (EXIT_LATE if late or mp["unsettled_nodes"] or mp["commands_not_run"] else EXIT_OK)
    stdout = runs["stdout"]
    assert f"missed deadlines {mp['missed_deadlines']}, late inputs {mp['late_inputs']}" in stdout
    assert ("not trustworthy" in stdout) == late


def _two_sample(a: float, sa: float, b: float, sb: float) -> None:
    assert abs(a - b) <= 4 * math.hypot(sa, sb), f"{a} vs {b} (4σ = {4 * math.hypot(sa, sb)})"


def test_physics_matches_the_in_process_mode(runs: dict[str, Any]) -> None:
    """Success probability, fidelity and QBER come from the same seeded draws whatever the timing: they
    must agree with the in-process run on any machine, loaded or not."""
    mp, ip = runs["mp"], runs["ip"]
    link_mp, link_ip = mp["links"][0], ip["links"][0]
    _two_sample(link_mp["success_probability_measured"], link_mp["success_probability_stderr"],
                link_ip["success_probability_measured"], link_ip["success_probability_stderr"])
    for w_mp, w_ip in zip(mp["workload"], ip["workload"], strict=True):
        if w_mp["type"] == "keep":
            _two_sample(w_mp["fidelity_measured"], w_mp["fidelity_stderr"],
                        w_ip["fidelity_measured"], w_ip["fidelity_stderr"])
        else:
            q_mp, q_ip = w_mp["disagreement"]["Z"]["rate"], w_ip["disagreement"]["Z"]["rate"]
            _two_sample(q_mp, math.sqrt(max(q_mp * (1 - q_mp), 1e-4) / PAIRS),
                        q_ip, math.sqrt(max(q_ip * (1 - q_ip), 1e-4) / PAIRS))


def test_pair_rates_match_the_in_process_mode_when_the_run_kept_up(runs: dict[str, Any]) -> None:
    """The pair rate is timing-dependent. Lateness delays events (a late input runs after its stamp, a
    late timer fires late, a herald that comes too late is lost), which slows the run; a backlog handled
    at once can bunch a few OKs together, but by far less than the statistical tolerance. So on any
    machine the rate may fall below in-process but not rise above it beyond the tolerance. Equality is
    what the code claims only when the run reports it kept up (no missed deadline, no late input);
    otherwise it says the figures are not trustworthy, and the two-sided comparison is skipped, visibly."""
    mp, ip = runs["mp"], runs["ip"]
    # pair arrivals are near-geometric: the rate's relative standard error is about 1/sqrt(n)
    rel = 1 / math.sqrt(PAIRS - 1)
    pairs = [(w_mp["pairs_per_s"], w_mp["pairs_per_s"] * rel, w_ip["pairs_per_s"], w_ip["pairs_per_s"] * rel)
             for w_mp, w_ip in zip(mp["workload"], ip["workload"], strict=True)]
    for rate_mp, s_mp, rate_ip, s_ip in pairs:
        assert rate_mp <= rate_ip + 4 * math.hypot(s_mp, s_ip), f"{rate_mp} faster than in-process {rate_ip}"
    late = mp["multi_process"]["missed_deadlines"], mp["multi_process"]["late_inputs"]
    if any(late):
        pytest.skip(f"the run reported {late[0]} missed deadlines and {late[1]} late inputs (a loaded machine): "
                    "its pair rates are not claimed to match")
    for rate_mp, s_mp, rate_ip, s_ip in pairs:
        _two_sample(rate_mp, s_mp, rate_ip, s_ip)


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


def test_every_datagram_is_authenticated_under_the_medium_secret(runs: dict[str, Any]) -> None:
    """Without a key file, the nodes key classical control from the medium's RUN_DIR/secret (docs/wire.md §10.2):
    every datagram of the merged capture verifies under it, at the logical ports, as in-process."""
    secret = run_secret_from(read_secret(runs["run_dir"]))
    checker = Authenticator(secret)
    datagrams = 0
    for _, frame in read_pcap((runs["run_dir"] / "merged.pcap").read_bytes()):
        if frame[12:14] != b"\x08\x00":
            continue
        src, dst = frame[28] << 8 | frame[29], frame[32] << 8 | frame[33]
        sport, dport, length = struct.unpack_from("!HHH", frame, 34)
        assert isinstance(checker.open(src, dst, sport, dport, frame[42:34 + length]), bytes)
        assert checker.open(src, dst, sport, dport, frame[42:34 + length]) is Drop.REPLAYED
        datagrams += 1
    assert datagrams > 100
    assert all(set(node["auth_dropped"].values()) == {0} for node in runs["mp"]["nodes"].values())
    assert runs["mp"]["authentication"] is True


def test_ports_json_describes_the_port_map(runs: dict[str, Any]) -> None:
    ports, base = json.loads((runs["run_dir"] / "ports.json").read_text()), runs["base"]
    assert ports["base_port"] == base
    assert ports["nodes"]["bob"]["link_service"] == base + 32 * 2 + 1
    # all closed after the run: no process of the run is left holding a socket. (Not "nothing is bound in the
    # block": once the run is over its block is free, and another checkout's `--base-port 0` may take it.)
    pids = json.loads((runs["run_dir"] / "pids.json").read_text())
    assert wait_gone(list(pids.values()), timeout=30) == []
    assert _udp_sockets(list(pids.values())) == {}


def _udp_sockets(pids: list[int]) -> dict[int, list[tuple[str, int]]]:
    """Every UDP socket (local address in /proc/net/udp's hex, port) each of ``pids`` has open, on any address
    and port, IPv4 or IPv6; only the pids that have one. Read from the processes' own descriptors, so a socket
    another process (another checkout's run) binds in the same ports is not counted."""
    inodes: dict[str, tuple[str, int]] = {}
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        if os.path.exists(table):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                address, port_hex = fields[1].rsplit(":", 1)
                inodes[f"socket:[{fields[9]}]"] = (address, int(port_hex, 16))
    found: dict[int, list[tuple[str, int]]] = {}
    for pid in pids:
        try:
            descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
        except (FileNotFoundError, ProcessLookupError):
            continue                            # gone (or, as for a zombie, nothing left open)
        for fd in descriptors:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target in inodes:
                found.setdefault(pid, []).append(inodes[target])
    return {pid: sorted(sockets) for pid, sockets in found.items()}


@pytest.fixture
def long_run(tmp_path: Path) -> Path:
    scenario = tmp_path / "long.toml"
    scenario.write_text(two_node_toml(pairs=65535, duration_ms=1e6))
    return scenario


def test_sigterm_stops_every_process_and_nothing_listens_beyond_loopback(long_run: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    launcher = start_up(long_run, run_dir, "--dilation", "0.001")
    try:
        pids = wait_running(launcher, run_dir, expected_nodes=3)
        base = base_port_of(run_dir)
        # The run's own sockets, found from its processes' descriptors (not every socket bound in the block's
        # range: another checkout's run may bind ports next to it, or below its first node's block).
        sockets = _udp_sockets(list(pids.values()))
        bound = [entry for held in sockets.values() for entry in held]
        assert {address for address, _ in bound} == {"0100007F"}   # 127.0.0.1 only, no IPv6 socket either
        # every node holds its whole block, as the launcher bound it: what the in-process build binds (the
        # oracle, through the port map) and the ports it does not use, each bound once, by that node alone; the
        # launcher and the medium hold no UDP socket
        ports, emu = PortMap(base), build(load(long_run))
        node_of = {node_ip(n.node_id): n.node_id for n in emu.scenario.nodes.values()}
        used = {ports.real(node_of[ip], number) for ip, number in emu.network.bindings}
        used |= {ports.sideband(node) for node in {node_of[ip] for ip, _ in emu.network.bindings}}
        assert sorted(port for _, port in bound) == list(range(base + 32, base + 32 * 4))
        assert used <= {port for _, port in bound}
        assert sockets == {pids[name]: [("0100007F", port)
                                        for port in block_ports(ports, emu.scenario.nodes[name].node_id)]
                           for name in ("alice", "bob", "mid")}
        # forked from the launcher, which had imported everything (a fresh `qnet node` would show its own argv)
        argv = Path(f"/proc/{launcher.pid}/cmdline").read_bytes()
        for name, pid in pids.items():
            if name != "launcher":
                assert Path(f"/proc/{pid}/cmdline").read_bytes() == argv
                assert int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) == launcher.pid
        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(timeout=60) == 128 + signal.SIGTERM
        assert wait_gone(list(pids.values()), timeout=30) == []
    finally:
        if launcher.poll() is None:
            launcher.kill()
        launcher.communicate()


def test_when_the_medium_dies_the_nodes_exit_with_a_clear_message(long_run: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    launcher = start_up(long_run, run_dir, "--dilation", "0.001")
    try:
        pids = wait_running(launcher, run_dir, expected_nodes=3)
        os.kill(pids["medium"], signal.SIGKILL)
        assert wait_gone([pids[n] for n in ("alice", "bob", "mid")], timeout=60) == []
        _, stderr = launcher.communicate(timeout=60)
        assert launcher.returncode == 3
        assert "did not finish (medium killed by SIGKILL)" in stderr
        for name in ("alice", "bob", "mid"):
            assert "the medium process went away" in (run_dir / f"{name}.log").read_text()
    finally:
        if launcher.poll() is None:
            launcher.kill()
        launcher.communicate()


def test_a_killed_origin_ends_the_run_at_once_and_is_named(long_run: Path, tmp_path: Path) -> None:
    """SIGKILL the node whose workload drives the run: the medium sees its socket close, the peer gets
    errors, and the run ends long before its duration (10⁶ emulated ms, 10⁶ wall s at this dilation)."""
    run_dir = tmp_path / "run"
    launcher = start_up(long_run, run_dir, "--dilation", "0.001", "--quiet",
                        "--json", str(tmp_path / "r.json"))
    try:
        pids = wait_running(launcher, run_dir, expected_nodes=3)
        wait_pairs(run_dir)                                  # bob has the requests by now
        os.kill(pids["alice"], signal.SIGKILL)
        _, stderr = launcher.communicate(timeout=120)        # a hang guard: the run ends in seconds
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.communicate()
    assert launcher.returncode == EXIT_NODE_DIED, stderr
    assert "node processes died during the run: alice" in stderr
    assert "alice (killed by SIGKILL)" in stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["multi_process"]["dead_nodes"] == ["alice"] and report["nodes"]["alice"]["dead"] is True
    assert report["nodes"]["alice"]["sent"] is None                  # its counts never came: unknown, not 0
    for entry in report["workload"]:        # alice's records are missing: nothing joined against an empty side
        assert entry["dead_ends"] == ["alice"]
        assert entry["pairs_delivered"] is entry["pairs_disagreeing"] is entry["pairs_matched"] is None
    assert report["generation_end_ns"] < load(long_run).run.duration_ns // 1000
    assert report["multi_process"]["accounting_error"] is None    # the dead node's qubits are lost, not leaked
    assert "node alice died" in (run_dir / "medium.log").read_text()
    bob = (run_dir / "bob.log").read_text()          # the peer's one-line summary: its requests failed
    assert "alice->bob keep (responder)" in bob and "ERR OTHER" in bob


def test_a_killed_node_turns_into_errors_at_its_peer_and_the_run_goes_on(tmp_path: Path) -> None:
    scenario = tmp_path / "three.toml"
    scenario.write_text(three_node_toml(pairs_ab=65535, pairs_ac=150))
    run_dir = tmp_path / "run"
    launcher = start_up(scenario, run_dir, "--dilation", "0.01",
                        "--json", str(tmp_path / "r.json"))
    try:
        pids = wait_running(launcher, run_dir, expected_nodes=5)
        os.kill(pids["bob"], signal.SIGKILL)
        stdout, stderr = launcher.communicate(timeout=300)   # a hang guard, far above the run's length
        assert launcher.returncode == EXIT_NODE_DIED, stdout + stderr
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.communicate()
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["multi_process"]["dead_nodes"] == ["bob"]
    assert report["nodes"]["bob"]["dead"] is True
    assert report["generation_end_ns"] < load(scenario).run.duration_ns    # ended by the workload, not the clock
    to_bob, to_carol = report["workload"]
    assert to_bob["errors"] == ["OTHER"]                     # the request on the dead link fails
    assert to_bob["pairs_delivered"] < 65535
    assert to_bob["dead_ends"] == ["bob"]                    # bob's records are missing: unknown, not disagreeing
    assert to_bob["pairs_delivered_remote"] is to_bob["pairs_disagreeing"] is to_bob["pairs_matched"] is None
    assert to_carol["errors"] == []                           # the rest of the run goes on: every pair is
    assert to_carol["pairs_matched"] + to_carol["pairs_expired"] == 150      # matched or expired at both ends
    assert "node processes died during the run: bob" in stdout
    assert "ONE END ONLY" not in stdout and "bob's records missing (its node died)" in stdout
    assert "died during the run: no counts" in stdout


def test_processes_started_by_hand_make_the_same_run_and_print_their_summaries(tmp_path: Path) -> None:
    """The README's recipe: `qnet medium` and each `qnet node NAME`, no launcher. A tolerance of 0 makes
    every process late (any lateness counts), so the medium's exit status must say so."""
    scenario = tmp_path / "two.toml"
    scenario.write_text(two_node_toml(pairs=20))
    run_dir = tmp_path / "by-hand"                    # not created beforehand: the first process makes it
    # The nodes' blocks, bound here and handed to each `qnet node` (as the launcher does): a free block picked
    # and left unbound could be taken by another checkout's run before the nodes bind it.
    with holding(load(scenario), ["alice", "bob", "mid"]) as (base, held):
        common = [str(scenario), "--run-dir", str(run_dir), "--base-port", str(base)]
        medium = subprocess.Popen(qnet("medium", *common, "--dilation", "0.01", "--tolerance-us", "0"), cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        nodes = {name: subprocess.Popen(qnet("node", name, *common), cwd=ROOT, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, **handing(held[name]))
                 for name in ("alice", "bob", "mid")}
    try:
        stdout, stderr = medium.communicate(timeout=300)
        outputs = {name: node.communicate(timeout=60) for name, node in nodes.items()}
    finally:
        for process in (medium, *nodes.values()):
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert medium.returncode == EXIT_LATE, stdout + stderr
    assert [node.returncode for node in nodes.values()] == [0, 0, 0]
    report = json.loads((run_dir / "report.json").read_text())
    assert [w["pairs_matched"] + w["pairs_expired"] for w in report["workload"]] == [20, 20]
    assert report["multi_process"]["dead_nodes"] == []
    assert report["multi_process"]["missed_deadlines"] > 0
    # the medium prints what `qnet run` prints, and merges every process's capture
    assert "alice->bob keep" in stdout and "qubits:" in stdout and "not trustworthy" in stdout
    merged = read_pcap((run_dir / "merged.pcap").read_bytes())
    parts = [read_pcap((run_dir / f"{name}.pcap").read_bytes()) for name in ("medium", "alice", "bob", "mid")]
    assert len(merged) == sum(len(p) for p in parts) > 0
    assert f"capture: {run_dir / 'merged.pcap'} ({len(merged)} frames)" in stdout
    for name, (out, _) in outputs.items():             # each node: one line of its own
        lines = out.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"qnet node {name}: finished at emulated")
        assert f"{len(read_pcap((run_dir / f'{name}.pcap').read_bytes()))} frames" in lines[0]
    keep, measure = report["workload"]
    assert f"alice->bob keep: {keep['pairs_delivered']}/20 pairs" in outputs["alice"][0]
    assert f"alice->bob measure (responder): {measure['pairs_delivered_remote']} pairs" in outputs["bob"][0]


def test_qnet_up_exits_non_zero_when_it_says_results_are_not_trustworthy(tmp_path: Path) -> None:
    scenario = tmp_path / "two.toml"
    scenario.write_text(two_node_toml(pairs=5))
    proc = run_up(scenario, tmp_path / "run", "--dilation", "0.01", "--tolerance-us", "0", "--quiet")
    assert proc.returncode == EXIT_LATE, proc.stderr
    assert proc.stdout == ""
    assert "WARNING" in proc.stderr and "not trustworthy" in proc.stderr      # even with --quiet


@pytest.mark.parametrize(("args", "named"), [
    (["node", "nobody"], ["'nobody'", "alice, bob, mid"]),
    (["medium", "--dilation", "0"], ["--dilation", "0.0"]),
    (["medium", "--dilation", "nan"], ["--dilation", "nan"]),
    (["medium", "--tolerance-us", "-1"], ["--tolerance-us"]),
    (["medium", "--base-port", "0"], ["--base-port", "between 1 and 65535"]),
    (["node", "alice", "--base-port", "65530"], ["--base-port 65530", "65535"]),
    (["up", "--base-port", "-5"], ["--base-port", "0 to 65535"]),
    (["up", "--json", "/nonexistent/r.json"], ["--json", "/nonexistent does not exist"]),
    (["medium", "--pcap", "/nonexistent/m.pcap"], ["--pcap", "/nonexistent does not exist"]),
])
def test_bad_inputs_are_one_line_errors_and_create_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           args: list[str], named: list[str]) -> None:
    scenario = tmp_path / "two.toml"
    scenario.write_text(two_node_toml(pairs=1))
    run_dir = tmp_path / "D"
    command, rest = args[0], args[1:]
    positional = rest[:1] if command == "node" else []
    assert cli.main([command, *positional, str(scenario), "--run-dir", str(run_dir),
                     *rest[len(positional):]]) == EXIT_BAD_INPUT
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1, err
    assert err.startswith("qnet: error:") and all(word in err for word in named)
    assert not run_dir.exists()


def test_a_second_medium_for_a_served_run_directory_is_refused(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "two.toml"
    scenario.write_text(two_node_toml(pairs=1))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as serving:    # stands for a live medium
        serving.bind(str(tmp_path / "medium.sock"))
        serving.listen(1)
        assert cli.main(["medium", str(scenario), "--run-dir", str(tmp_path)]) == EXIT_BAD_INPUT
        assert (tmp_path / "medium.sock").exists()                    # not taken from under it
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "already serving" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["medium.sock", "two.toml"]
