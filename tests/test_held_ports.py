"""``qnet up`` binds the run's UDP ports before it starts a process and hands them over (stack.multiprocess.held).

What is tested is the guarantee, not the race it removes: once the launcher has prepared a run, every port of every
node's block is bound (no other socket can take one); a ``--base-port 0`` launch skips a block another process
holds; a node process, forked or a fresh interpreter, gets its own block's sockets and no other process's, and
builds its network on them without binding a port of its own.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from stack.multiprocess.forked import fork_command
from stack.multiprocess.held import HELD_ENV, Held, block_ports, close_all, take_held
from stack.multiprocess.launcher import UpOptions, allocate_base, popen_holding, prepare
from stack.multiprocess.medium import process_nodes
from stack.multiprocess.node import NodeProcess
from stack.multiprocess.udp import PortMap, UdpNetwork
from stack.scenario import load_text
from tests.mp_util import ROOT, two_node_toml

SCENARIO = load_text(two_node_toml(pairs=1), "two.toml")
NAMES = process_nodes(SCENARIO)


def _taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            assert error.errno == errno.EADDRINUSE
            return True
    return False


def test_a_prepared_run_holds_every_port_of_every_block_and_base_0_skips_a_held_block(tmp_path: Path) -> None:
    squatted, squatter = allocate_base(SCENARIO, NAMES)      # the first free block: another run's, say
    options = UpOptions(tmp_path / "two.toml", 3, 0.01, 0, tmp_path / "run", 10.0)
    try:
        assert prepare(SCENARIO, options) is None
        assert options.base_port != squatted and options.base_port % 1000 == 0
        ports = PortMap(options.base_port)
        assert json.loads((tmp_path / "run" / "ports.json").read_text())["base_port"] == options.base_port
        for name in NAMES:
            block = block_ports(ports, SCENARIO.nodes[name].node_id)
            assert sorted(options.held[name]) == list(block)
            assert all(sock.getsockname() == ("127.0.0.1", real) for real, sock in options.held[name].items())
            assert all(_taken(real) for real in block)
    finally:
        close_all([*squatter.values(), *options.held.values()])
    assert not any(_taken(real) for block in options.held.values() for real in block)     # closed: free again


def test_a_node_builds_its_network_on_the_held_sockets_and_binds_none(tmp_path: Path) -> None:
    base, held = allocate_base(SCENARIO, NAMES)
    close_all(held[name] for name in NAMES if name != "alice")
    sockets = dict(held["alice"])
    # Were any port bound again, the held socket still open on it would make that bind fail (EADDRINUSE).
    process = NodeProcess(SCENARIO, "alice", 3, tmp_path, base, held["alice"])
    network = process.emu.network
    assert isinstance(network, UdpNetwork)
    try:
        used = [*network.sockets.values(), *network.sidebands.values()]
        assert len(used) > 2 and all(sockets[sock.getsockname()[1]] is sock for sock in used)
        assert {id(sock) for sock in [*used, *network.held.values()]} == {id(sock) for sock in sockets.values()}
        assert all(not sock.getblocking() for sock in used)
    finally:
        network.close()
        process._pcap.close()
    assert all(sock.fileno() == -1 for sock in sockets.values())      # every one closed with the network


def _held_block() -> tuple[Held, Held]:
    """Two node blocks bound here (alice's and bob's of a free base)."""
    held = allocate_base(SCENARIO, NAMES)[1]
    close_all([held["mid"]])
    return held["alice"], held["bob"]


def test_take_held_adopts_the_named_descriptors_and_refuses_anything_else() -> None:
    alice, bob = _held_block()
    close_all([bob])
    held = alice
    real, sock = next(iter(held.items()))
    try:
        environ = {HELD_ENV: f"{real}:{os.dup(sock.fileno())}", "OTHER": "1"}
        adopted = take_held(environ)
        assert list(adopted) == [real] and adopted[real].getsockname() == ("127.0.0.1", real)
        assert environ == {"OTHER": "1"}                     # not passed on to anything the node starts
        close_all([adopted])
        assert take_held({}) == {}
        with pytest.raises(OSError, match=f"not a UDP socket bound to 127.0.0.1:{real + 1}"):
            take_held({HELD_ENV: f"{real + 1}:{sock.fileno()}"})
        assert sock.getsockname() == ("127.0.0.1", real)     # a refused descriptor is left alone
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp, pytest.raises(OSError, match="not a UDP"):
            take_held({HELD_ENV: f"{real}:{tcp.fileno()}"})
        with pytest.raises(ValueError):
            take_held({HELD_ENV: f"{real}-{sock.fileno()}"})
    finally:
        close_all([held])


REPORT = """
import json, os, socket, sys
from stack.multiprocess.held import take_held
held = take_held()
os.write(1, json.dumps({"held": {str(p): s.getsockname()[1] for p, s in held.items()},
                        "env": "QNET_HELD_SOCKETS" in os.environ,
                        "others": [fd for fd in map(int, sys.argv[1:]) if os.path.exists(f"/proc/self/fd/{fd}")]
                        }).encode() + b"\\n")
"""


def _report(entry_args: list[str]) -> int:
    """A forked child's entry point: what :data:`REPORT` writes, from the child."""
    sys.argv = ["report", *entry_args]
    exec(REPORT, {})
    return 0


def test_a_forked_child_gets_its_block_and_none_of_the_others(tmp_path: Path) -> None:
    alice, bob = _held_block()
    try:
        others = [str(sock.fileno()) for sock in bob.values()]
        child = fork_command(_report, others, tmp_path / "child.log", alice, [bob])
        assert child.wait(timeout=60) == 0
        report = json.loads((tmp_path / "child.log").read_text().splitlines()[-1])
        assert report == {"held": {str(real): real for real in alice}, "env": False, "others": []}
    finally:
        close_all([alice, bob])


def test_a_fresh_interpreter_gets_its_block_and_none_of_the_others(tmp_path: Path) -> None:
    alice, bob = _held_block()
    try:
        others = [str(sock.fileno()) for sock in bob.values()]
        child = popen_holding([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r})\n{REPORT}",
                               *others], tmp_path / "child.log", alice)
        assert child.wait(timeout=60) == 0, (tmp_path / "child.log").read_text()
        report = json.loads((tmp_path / "child.log").read_text().splitlines()[-1])
        assert report == {"held": {str(real): real for real in alice}, "env": False, "others": []}
    finally:
        close_all([alice, bob])


DESCRIPTORS = """
import resource, sys
from stack.multiprocess.held import PortsBusy, bind_blocks, close_all
from stack.multiprocess.ports import PortMap
resource.setrlimit(resource.RLIMIT_NOFILE, (256, int(sys.argv[1])))
for base in range(20000, 60000, 1000):          # the first grid block where 20 nodes' ports are free
    try:
        held = bind_blocks({f"n{i}": i for i in range(1, 21)}, PortMap(base))   # 640 sockets
    except PortsBusy as error:
        if "is in use" not in str(error):
            print("refused:", error)
            break
    else:
        print("bound", sum(len(block) for block in held.values()), resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        break
"""


def test_the_launcher_raises_its_descriptor_limit_to_hold_every_port_or_says_why_it_cannot() -> None:
    """20 nodes hold 640 sockets: more than a soft limit of 256 (1024 is common, and runs have had 32 nodes)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 1024:
        pytest.skip(f"the hard limit of open descriptors here is {hard}")
    for limit, expected in ((1024, "bound 640 896"), (256, "refused: cannot bind UDP port")):   # 896: 640 + FD_MARGIN
        done = subprocess.run([sys.executable, "-c", DESCRIPTORS, str(limit)], cwd=ROOT,
                              capture_output=True, text=True, timeout=60, check=True)
        assert done.stdout.startswith(expected), done.stdout + done.stderr
        assert limit == 1024 or "ulimit -n" in done.stdout
