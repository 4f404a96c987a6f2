"""A local attacker against a real ``qnet up``: the run completes, its results are those of a clean run in
kind, and what was refused is counted in the report.

The attacker is this test process: it connects to the medium's socket (idle connections held through the
start, connect and close, JSON nested 1,000 deep, an oversized message, a hello whose name is a list, hellos
without the run's secret as a known and an unknown node, and, reading the secret as the same user may, a
hello as a node already connected) and sends forged datagrams to the nodes' real ports (an OK_K naming an
empty slot to an application, a CREATE for 65,535 pairs at Priority 7 from outside the port map, garbage to
every port, timestamp-sideband records stamped 2^62), and from inside the port map (unbound application
slots of a node claim to be that node): forged EGP messages and HERALDs with made-up ICVs, a replayed
sequence number, a valid datagram sent from another node's slot, and one sent to a node it is not for
(tests/test_auth_runtime.py covers the engines' own check of a valid datagram from a node that may not send it).
Every forged datagram is dropped by authenticated classical control (docs/wire.md §10) and counted by reason.

Bounded in time and robust on a busy machine: lateness is allowed (exit status 5); what is asserted is
what the code guarantees whatever the load, and that no pair was delivered at one end only when the run reports
it settled (otherwise skipped, saying why: the code promises no more). One run (a module fixture) and a test for
each part of it. Forging from inside the port map needs a copy of a node's own socket: under ``qnet up`` the test
takes it with pidfd_getfd; where that is refused, the run is started by hand instead (``qnet medium`` and each
``qnet node``, as in the README), the nodes' blocks bound by the test and handed over, so that it keeps a copy of
each, and every test runs either way.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from protocols.packets import linkservice as ll
from protocols.packets.auth import Trailer
from protocols.packets.egp import MSG_SCHEDULE, EgpMessage
from protocols.packets.heralding import Herald
from protocols.security import Authenticator, run_secret_from
from stack.multiprocess.medium import process_nodes
from stack.multiprocess.medium_protocol import hello_proof, read_secret
from stack.multiprocess.outcome import EXIT_LATE, EXIT_NOT_FINISHED, EXIT_OK
from stack.multiprocess.udp import PORTS_PER_NODE, SIDEBAND, SIDEBAND_SLOT, PortMap, payload_digest
from stack.scenario import load
from tests.mp_util import ROOT, handing, holding, qnet, socket_of, start_up, two_node_toml, unsettled, wait_pairs

PAIRS = 60


class MediumClient:
    """A raw client of the medium socket (blocking, with a timeout: the test must not hang)."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(str(path))

    def send_raw(self, body: bytes) -> None:
        self.sock.sendall(struct.pack("!I", len(body)) + body)

    def send(self, message: object) -> None:
        self.send_raw(json.dumps(message).encode())

    def receive(self) -> dict[str, object] | None:
        """The next message, or None once the medium has closed the connection."""
        header = self._exactly(4)
        if header is None:
            return None
        body = self._exactly(struct.unpack("!I", header)[0])
        return None if body is None else json.loads(body)

    def _exactly(self, size: int) -> bytes | None:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def close(self) -> None:
        self.sock.close()


def _wait_for(path: Path, launcher: subprocess.Popen[str], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert launcher.poll() is None, launcher.communicate()
        assert time.monotonic() < deadline, f"no {path} within {timeout} s"
        time.sleep(0.02)


def _attack_the_socket(path: Path, run_dir: Path) -> list[dict[str, object] | None]:
    """Every hostile client of the medium socket; the medium's answers to those that get one."""
    answers = []
    MediumClient(path).close()                                        # connect and close
    deep = MediumClient(path)
    deep.receive()                                                    # the challenge
    deep.send_raw(b"[" * 1000 + b"]" * 1000)
    answers.append(deep.receive())
    huge = MediumClient(path)
    huge.receive()
    huge.sock.sendall(struct.pack("!I", 1 << 30))                     # a message beyond the hello's limit
    answers.append(huge.receive())
    for node, secret in ((["alice"], None), ("alice", bytes(32)), ("mallory", bytes(32)), ("bob", b"")):
        client = MediumClient(path)
        nonce = client.receive()
        assert nonce is not None and nonce["op"] == "challenge"
        proof = hello_proof(secret, str(nonce["nonce"]), "alice") if secret else "not a proof"
        client.send({"op": "hello", "node": node, "node_id": 1, "seed": 3, "proof": proof})
        answers.append(client.receive())
        client.close()
    for client in (deep, huge):
        client.close()
    return answers


def _forge_datagrams(ports: dict[str, object], base: int) -> int:
    """Forged and garbage datagrams to every port of every node; how many were sent."""
    rng = random.Random(11)
    nodes = ports["nodes"]
    assert isinstance(nodes, dict)
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        phantom = ll.OkKeep(create_id=1, lqid=9, d=0, bell_state=0, sequence_number=7, purpose_id=1,
                            remote_node_id=2, goodness=60000, time_of_goodness=0).encode()
        udp.sendto(phantom, ("127.0.0.1", nodes["alice"]["first_app"]))            # an OK_K naming an empty slot
        flood = ll.Create(remote_node_id=2, purpose_id=1, number=65535, priority=7).encode()
        udp.sendto(flood, ("127.0.0.1", nodes["alice"]["link_service"]))           # a stranger's huge request
        sent += 2
        for table in nodes.values():
            node_id = (table["heralding"] - base) // PORTS_PER_NODE
            sideband = base + PORTS_PER_NODE * node_id + SIDEBAND_SLOT
            for _ in range(20):
                udp.sendto(SIDEBAND.pack(1 << 62, payload_digest(rng.randbytes(8))), ("127.0.0.1", sideband))
                sent += 1
            for real in [*(v for k, v in table.items() if k != "first_app"), table["first_app"]]:
                for _ in range(5):
                    udp.sendto(rng.randbytes(rng.randrange(1, 64)), ("127.0.0.1", real))
                    sent += 1
    return sent


FREE_SLOT = 30
"""An application slot no node of the test's scenario serves: a datagram from it claims to come from that node.
The node holds its whole block, so nobody else can bind it (asserted): the attacker uses a copy of the node's own
socket instead (pidfd_getfd under ``qnet up``, with the ptrace rights a parent has; or the test's own, by hand)."""
FREE_SLOT_PORT = 49152 + FREE_SLOT - 8


Take = Callable[[str, int], socket.socket]
"""How the attacker gets a copy of node NAME's socket bound to PORT (:class:`OSError` if it cannot)."""


def _slot_sockets(take: Take, ids: dict[str, int], base: int) -> dict[str, socket.socket] | str:
    """Each node's socket of its unserved slot :data:`FREE_SLOT` (a copy: taken from the node with pidfd_getfd
    under ``qnet up``, or from the blocks the test bound and handed over), or why they cannot be taken. That
    nobody else can bind the slot, its node holding it, is asserted whether or not they can."""
    slots = {name: base + PORTS_PER_NODE * ids[name] + FREE_SLOT for name in ("alice", "mid", "bob")}
    for port in slots.values():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter, pytest.raises(OSError) as refused:
            squatter.bind(("127.0.0.1", port))
        assert refused.value.errno == errno.EADDRINUSE          # held by the node since it was handed the block
    taken: dict[str, socket.socket] = {}
    for name, port in slots.items():
        try:
            taken[name] = take(name, port)
        except OSError as error:
            for sock in taken.values():
                sock.close()
            return f"cannot take node {name}'s socket to forge from inside the port map: {error}"
    return taken


def _forge_inside_the_port_map(run_dir: Path, ports: dict[str, Any], base: int, take: Take
                               ) -> Counter[tuple[str, str]] | str:
    """Datagrams from the nodes' own (unserved) slots; the (receiving node, drop reason) each should be counted
    under, or why none could be sent (:func:`_slot_sockets`). Valid tags are made with the run's keys, which the
    test reads from the run directory: a stand-in for datagrams seen on the wire (replays, redirected or resent
    from elsewhere)."""
    nodes = ports["nodes"]
    ids = {name: (table["heralding"] - base) // PORTS_PER_NODE for name, table in nodes.items()}
    keys = Authenticator(run_secret_from(read_secret(run_dir)))
    expected: Counter[tuple[str, str]] = Counter()
    sockets = _slot_sockets(take, ids, base)
    if isinstance(sockets, str):
        return sockets

    abort = EgpMessage(MSG_SCHEDULE, 6, 1, 1, 1, 0, run=1, pairs=0).encode()
    herald = Herald(1, 2, 1, 1, 12345, 1, 0).encode()
    with sockets["alice"] as alice, sockets["mid"] as mid, sockets["bob"] as bob:
        for seq in range(1 << 40, (1 << 40) + 5):                   # made-up ICVs: bad_tag
            forged = abort + Trailer(ids["alice"], ids["bob"], seq, random.Random(seq).randbytes(16)).encode()
            alice.sendto(forged, ("127.0.0.1", nodes["bob"]["egp"]))
            expected["bob", "bad_tag"] += 1
            for end in ("alice", "bob"):
                fake = herald + Trailer(ids["mid"], ids[end], seq, bytes(16)).encode()
                mid.sendto(fake, ("127.0.0.1", nodes[end]["heralding"]))
                expected[end, "bad_tag"] += 1
        seen = keys.seal(ids["alice"], ids["bob"], FREE_SLOT_PORT, 7772, abort)   # seq 1: long accepted
        alice.sendto(seen, ("127.0.0.1", nodes["bob"]["egp"]))
        expected["bob", "replayed"] += 1
        mid.sendto(keys.seal(ids["alice"], ids["bob"], FREE_SLOT_PORT, 7772, abort), ("127.0.0.1", nodes["bob"]["egp"]))
        expected["bob", "wrong_source"] += 1                         # alice's tag, from mid's slot
        alice.sendto(keys.seal(ids["alice"], ids["bob"], FREE_SLOT_PORT, 7770, herald),
                     ("127.0.0.1", nodes["mid"]["heralding"]))
        expected["mid", "no_tag"] += 1                               # a datagram for bob, sent to mid
        bob.sendto(keys.seal(ids["bob"], ids["alice"], FREE_SLOT_PORT, 7770, herald),
                   ("127.0.0.1", nodes["alice"]["heralding"]))
        expected["alice", "replayed"] += 1                           # bob's seq 1, and a HERALD bob may not send
    return expected


@dataclass
class Attacked:
    """A ``qnet up`` run under attack, and what the attacker did."""

    status: int
    output: str
    answers: list[dict[str, object] | None]
    """The medium's answers to the hostile clients of its socket (:func:`_attack_the_socket`, then the impostor)."""
    port_map: dict[str, Any]
    forged: int
    """How many datagrams were sent from outside the port map (:func:`_forge_datagrams`)."""
    inside: Counter[tuple[str, str]] | str
    """The datagrams sent from inside it, by (receiving node, drop reason), or why none could be."""
    report: dict[str, Any]
    launched: str
    """``qnet up``, or by hand and why (pidfd_getfd refused)."""


HOLDER = ("import socket, time\nsock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
          "sock.bind(('127.0.0.1', 0))\nprint(sock.getsockname()[1], flush=True)\ntime.sleep(120)\n")
"""A child holding a UDP socket, to find out whether this process may copy it."""


def _pidfd_refusal() -> str | None:
    """Why this process cannot copy a child's socket with pidfd_getfd (an old kernel, a seccomp filter, ptrace
    restrictions), or None if it can."""
    child = subprocess.Popen([sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        try:
            socket_of(child.pid, port).close()
        except OSError as error:
            return str(error)
        return None
    finally:
        child.kill()
        child.communicate()


@dataclass
class Launched:
    """The run's processes, the one whose exit status is the run's, and how the attacker takes a node's socket."""

    main: subprocess.Popen[str]
    others: list[subprocess.Popen[str]]
    take: Take
    port_map: dict[str, Any] | None
    """The port map, when no ``ports.json`` says it (processes started by hand)."""
    report: Path


def _launch(scenario: Path, run_dir: Path, tmp_path: Path, stack: contextlib.ExitStack, refusal: str | None
            ) -> Launched:
    """``qnet up`` if pidfd_getfd may copy a node's socket (``refusal`` None); otherwise the medium and each node
    started by hand (as in the README), the nodes' blocks bound here and handed to them: the test keeps its own
    copy of every node's socket, and needs no pidfd_getfd."""
    if refusal is None:
        report = tmp_path / "report.json"
        launcher = start_up(scenario, run_dir, "--dilation", "0.002", "--json", str(report))

        def copy(name: str, port: int) -> socket.socket:
            return socket_of(json.loads((run_dir / "pids.json").read_text())[name], port)
        return Launched(launcher, [], copy, None, report)
    parsed = load(scenario)
    names = process_nodes(parsed)
    base, held = stack.enter_context(holding(parsed, names))
    common = [str(scenario), "--run-dir", str(run_dir), "--base-port", str(base)]
    medium = subprocess.Popen(qnet("medium", *common, "--dilation", "0.002"), cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    nodes = [subprocess.Popen(qnet("node", name, *common), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, **handing(held[name])) for name in names]
    table = PortMap(base).table({name: parsed.nodes[name].node_id for name in names})
    return Launched(medium, nodes, lambda name, port: held[name][port].dup(), {"base_port": base, "nodes": table},
                    run_dir / "report.json")


@pytest.fixture(scope="module")
def attacked(tmp_path_factory: pytest.TempPathFactory) -> Attacked:
    if not hasattr(socket, "AF_UNIX"):
        pytest.skip("needs Unix sockets")
    tmp_path = tmp_path_factory.mktemp("attack")
    scenario = tmp_path / "two.toml"
    scenario.write_text(two_node_toml(pairs=PAIRS, length_km=0.2, duration_ms=1e5))
    run_dir = tmp_path / "run"
    refusal = _pidfd_refusal()
    idle: list[socket.socket] = []
    with contextlib.ExitStack() as stack:
        run = _launch(scenario, run_dir, tmp_path, stack, refusal)
        launcher = run.main
        try:
            path = run_dir / "medium.sock"
            _wait_for(path, launcher)
            for _ in range(4):                                            # idle through the start
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.connect(str(path))
                idle.append(sock)
            answers = _attack_the_socket(path, run_dir)
            _wait_for(run_dir / "started.json", launcher)
            time.sleep(max(0.0, (json.loads((run_dir / "started.json").read_text())["epoch_ns"] - time.time_ns())
                           / 1e9))
            impostor = MediumClient(path)                                 # with the secret, as a node that is there
            nonce = impostor.receive()
            assert nonce is not None
            impostor.send({"op": "hello", "node": "alice", "node_id": 1, "seed": 3,
                           "proof": hello_proof(read_secret(run_dir), str(nonce["nonce"]), "alice")})
            answers.append(impostor.receive())
            impostor.close()
            port_map = run.port_map or json.loads((run_dir / "ports.json").read_text())
            base = port_map["base_port"]
            forged = _forge_datagrams(port_map, base)
            wait_pairs(run_dir)                     # alice has sent bob datagrams: sequence number 1 is taken
            inside = _forge_inside_the_port_map(run_dir, port_map, base, run.take)
            stdout, stderr = launcher.communicate(timeout=300)
            for process in run.others:
                process.communicate(timeout=60)
        finally:
            for sock in idle:
                sock.close()
            for process in (launcher, *run.others):
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
                    process.communicate(timeout=60)
    assert launcher.returncode in (EXIT_OK, EXIT_LATE), stdout + stderr
    assert [process.returncode for process in run.others] == [0] * len(run.others)
    return Attacked(launcher.returncode, stdout + stderr, answers, port_map, forged, inside,
                    json.loads(run.report.read_text()), "qnet up" if refusal is None else f"by hand ({refusal})")


def test_the_run_completes_with_the_results_of_a_clean_run(attacked: Attacked) -> None:
    """What holds whatever the load, then what only a run that settled promises (:func:`tests.mp_util.unsettled`):
    no pair at one end only, so every pair requested matched or expired; otherwise that part is skipped, saying
    why."""
    report = attacked.report
    for workload in report["workload"]:                               # the results, in kind
        assert workload["errors"] == []
    mp = report["multi_process"]
    assert mp["accounting_error"] is None                             # every qubit in memory held by a layer
    assert mp["dead_nodes"] == [] and mp["protocol_errors"] == 0 and mp["rejected_messages"] == 0
    reason = unsettled(report)
    if reason is not None:
        pytest.skip(f"the run did not settle ({reason}; exit status 5): only a settled run promises no "
                    "pair at one end only")
    for workload in report["workload"]:
        assert workload["pairs_disagreeing"] == 0
        assert workload["pairs_matched"] + workload["pairs_expired"] == PAIRS    # a pair at one end only is neither


def test_the_medium_socket_refuses_every_hostile_client_and_counts_it(attacked: Attacked) -> None:
    answers = attacked.answers
    assert answers[:2] == [None, None]                                # deep and huge: just closed
    reasons = [str(a["reason"]) for a in answers[2:] if a is not None and a["op"] == "refused"]
    assert len(reasons) == 5 and "hello" in reasons[0] and "secret" in reasons[1] and "secret" in reasons[2]
    assert "secret" in reasons[3] and "already connected" in reasons[4]
    refused = attacked.report["multi_process"]["refused_connections"]
    assert refused["bad secret"] == 3 and refused["malformed hello"] >= 3 and refused["node already connected"] == 1
    assert refused["closed before the hello"] >= 1


def _drops(report: dict[str, Any]) -> Counter[tuple[str, str]]:
    """The datagrams every node dropped, by (node, reason): authentication's reasons and a wrong sender."""
    return Counter({(name, reason): count for name, node in report["nodes"].items()
                    for reason, count in [*node["auth_dropped"].items(), ("wrong_sender", node["wrong_sender"])]
                    if count})


def test_datagrams_from_outside_the_port_map_reach_no_engine_and_are_counted(attacked: Attacked) -> None:
    """Needs no socket of a node's: counted whether or not the forgeries from inside could be sent (those are
    told apart by their reasons and taken out)."""
    report, port_map = attacked.report, attacked.port_map
    ledger, mp = report["medium"], report["multi_process"]
    nodes = mp["nodes"]                      # bound: 7770-7772 and an application at alice and bob, 7770 at mid
    assert sum(n["foreign_datagrams"] for n in nodes.values()) == 2 + 5 * 9
    # none of the forged datagrams reached an engine (the phantom OK_K, the stranger's CREATE flood, garbage)
    assert ledger["rejected_commands"] == 0 and report["nodes"]["alice"]["phantom_oks"] == 0
    assert all(report["nodes"][name]["unknown_clients"] == 0 for name in ("alice", "bob"))
    strangers = 2 + 5 * 9                    # from outside the port map: no trailer for the node, or no node
    inside = attacked.inside if isinstance(attacked.inside, Counter) else Counter()
    outside = _drops(report) - inside
    assert sum(count for (_, reason), count in outside.items() if reason in ("no_tag", "wrong_source")) == strangers
    assert outside == Counter({k: v for k, v in outside.items() if k[1] in ("no_tag", "wrong_source")})
    assert all(n["sideband_rejected"] == 20 for n in nodes.values())
    assert attacked.forged == 2 + sum(20 + 5 * len(table) for table in port_map["nodes"].values())


def test_datagrams_from_inside_the_port_map_are_dropped_and_counted_by_reason(attacked: Attacked) -> None:
    """The one test that needs a copy of a node's socket: skipped, alone, only if taking one failed although
    pidfd_getfd was found to work (or the run would have been started by hand)."""
    if isinstance(attacked.inside, str):
        pytest.skip(attacked.inside)
    counted = _drops(attacked.report)
    assert all(counted[key] >= count for key, count in attacked.inside.items()), (counted, attacked.inside)


def test_a_node_the_medium_refuses_exits_3_with_one_line(tmp_path: Path) -> None:
    """A node that cannot join the run (refused, or a medium that speaks nonsense) exits with status 3 and one
    line on stderr, never a traceback."""
    scenario = tmp_path / "two.toml"
    scenario.write_text(two_node_toml(pairs=1))
    with holding(load(scenario), ["alice"]) as (base, held):   # alice's ports, bound here and handed to her
        _refuse(scenario, tmp_path, base, held["alice"])


def _refuse(scenario: Path, tmp_path: Path, base: int, block: dict[int, socket.socket]) -> None:
    for answer, words in (({"op": "refused", "reason": "seed mismatch: the run's seed is 4"}, "refused node alice"),
                          ({"op": "welcome"}, "instead of a challenge")):
        run_dir = tmp_path / f"run-{len(words)}"
        run_dir.mkdir()
        (run_dir / "secret").write_text("00" * 32)
        os.chmod(run_dir / "secret", 0o600)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(run_dir / "medium.sock"))
        server.listen(1)
        node = subprocess.Popen(qnet("node", "alice", str(scenario), "--run-dir", str(run_dir), "--base-port",
                                     str(base)), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                **handing(block))
        try:
            server.settimeout(60)
            peer, _ = server.accept()
            challenge = json.dumps({"op": "challenge", "nonce": "ab" * 16}).encode()
            first = json.dumps(answer).encode() if answer["op"] == "welcome" else challenge
            peer.sendall(struct.pack("!I", len(first)) + first)
            if answer["op"] == "refused":
                peer.settimeout(60)
                assert peer.recv(4096)                                 # its hello
                body = json.dumps(answer).encode()
                peer.sendall(struct.pack("!I", len(body)) + body)
            _, stderr = node.communicate(timeout=60)
            peer.close()
        finally:
            server.close()
            if node.poll() is None:
                node.kill()
                node.communicate()
        assert node.returncode == EXIT_NOT_FINISHED, stderr
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0] and "Traceback" not in stderr, stderr
