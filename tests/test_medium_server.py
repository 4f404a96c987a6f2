"""The medium process's socket: bad input from a client is a named error or a counted refusal, never a crash.

The server runs in this process on a real Unix socket; the clients are plain sockets that say whatever a
hostile local process could: nothing, garbage, a hello without the run's secret, or, with the secret, commands
that no node should send.
"""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path
from typing import Any

import trio

from protocols.common import Basis
from protocols.physical.hardware import Arm, Measure
from stack.multiprocess.gate import HELLO_TIMEOUT_S, MAX_PENDING
from stack.multiprocess.medium import MediumServer
from stack.multiprocess.medium_protocol import MessageStream, encode_hardware, frame, hello_proof, read_secret
from stack.scenario import load_text
from tests.mp_util import two_node_toml

NODES = {"alice": 1, "bob": 2, "mid": 3}


async def _client(path: Path) -> tuple[MessageStream, dict[str, Any]]:
    """A connection and the medium's challenge."""
    stream = MessageStream(await trio.open_unix_socket(str(path)))
    challenge = await stream.receive()
    assert challenge is not None and challenge["op"] == "challenge" and len(challenge["nonce"]) == 32
    return stream, challenge


async def _hello(path: Path, node: Any, *, seed: int = 3, secret: bytes | None = None,
                 run_dir: Path | None = None, answer: bool = True) -> tuple[MessageStream, dict[str, Any] | None]:
    """Say hello as ``node``, proving ``secret`` (default: the run's, read from ``run_dir``)."""
    stream, challenge = await _client(path)
    if secret is None:
        assert run_dir is not None
        secret = read_secret(run_dir)
    proof = hello_proof(secret, challenge["nonce"], node if isinstance(node, str) else "x")
    await stream.send({"op": "hello", "node": node, "node_id": NODES.get(str(node), 9), "seed": seed,
                       "proof": proof})
    return stream, await stream.receive() if answer else None


async def _serving(server: MediumServer, nursery: trio.Nursery, path: Path) -> None:
    nursery.start_soon(server.serve, path)
    while not path.exists():
        await trio.sleep(0.01)


def _server(tmp_path: Path) -> MediumServer:
    return MediumServer(load_text(two_node_toml(pairs=1), "two.toml"), 3, tmp_path, dilation=0.01,
                        tolerance_ns=10_000)


async def test_the_socket_and_the_secret_are_private(tmp_path: Path) -> None:
    server = _server(tmp_path)
    path = tmp_path / "medium.sock"
    async with trio.open_nursery() as nursery:
        with trio.fail_after(60):                                      # a hang guard only
            await _serving(server, nursery, path)
            for name in ("medium.sock", "secret"):
                assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600, name
            assert len(read_secret(tmp_path)) == 32
        nursery.cancel_scope.cancel()


async def test_garbage_and_forged_hellos_end_only_their_connection(tmp_path: Path) -> None:
    server = _server(tmp_path)
    path = tmp_path / "medium.sock"
    async with trio.open_nursery() as nursery:
        with trio.fail_after(60):                                      # a hang guard only
            await _serving(server, nursery, path)
            quitter = await trio.open_unix_socket(str(path))           # connect and close at once
            await quitter.aclose()
            rogue, _ = await _client(path)
            await rogue.stream.send_all(struct.pack("!I", 5) + b"hello")            # not JSON
            assert await rogue.stream.receive_some(10) == b""                     # closed on it
            deep, _ = await _client(path)
            body = b"[" * 1000 + b"]" * 1000
            await deep.stream.send_all(struct.pack("!I", len(body)) + body)       # 1,000 deep
            assert await deep.receive() is None
            big, _ = await _client(path)
            await big.stream.send_all(struct.pack("!I", 1 << 20))                  # too long for a hello
            assert await big.receive() is None
            listed = await _hello(path, ["alice"], run_dir=tmp_path)               # a name that is a list
            assert listed[1] is not None and listed[1]["op"] == "refused"
            impostor = await _hello(path, "alice", secret=bytes(32))               # without the secret
            assert impostor[1] is not None and "secret" in impostor[1]["reason"]
            stranger = await _hello(path, "mallory", run_dir=tmp_path)             # with it, but unknown
            assert stranger[1] is not None and "alice" in stranger[1]["reason"]
            alice = await _hello(path, "alice", run_dir=tmp_path, answer=False)    # no answer until all are here
            while "alice" not in server.connections:
                await trio.sleep(0.01)
            twice = await _hello(path, "alice", run_dir=tmp_path)                  # an existing node
            assert twice[1] is not None and "already connected" in twice[1]["reason"]
            reseeded = await _hello(path, "bob", seed=4, run_dir=tmp_path)
            assert reseeded[1] is not None and "seed" in reseeded[1]["reason"]
            while sum(server.gate.refused.values()) < 9 or server.gate.pending:
                await trio.sleep(0.01)
            assert server.gate.refused == {"closed before the hello": 1, "malformed hello": 4, "bad secret": 1,
                                      "unknown node": 1, "node already connected": 1, "seed mismatch": 1}
            assert "alice" in server.connections and server.protocol_errors == 0
            for client in (rogue, deep, big, listed[0], impostor[0], stranger[0], alice[0], twice[0], reseeded[0]):
                await client.stream.aclose()
        nursery.cancel_scope.cancel()


async def test_idle_connections_neither_block_the_start_nor_pile_up(tmp_path: Path) -> None:
    """Idle clients are closed after the hello timeout; beyond the cap they are closed at once, and the nodes
    (which try again when closed before a challenge) still start the run."""
    server = _server(tmp_path)
    path = tmp_path / "medium.sock"
    async with trio.open_nursery() as nursery:
        with trio.fail_after(60):                                      # a hang guard only
            await _serving(server, nursery, path)
            idle = [await trio.open_unix_socket(str(path)) for _ in range(MAX_PENDING + 3)]
            while server.gate.refused["too many connections"] < 3:
                await trio.sleep(0.01)
            assert server.gate.pending == MAX_PENDING
            with trio.move_on_after(HELLO_TIMEOUT_S + 10):
                while server.gate.pending:
                    await trio.sleep(0.05)
            assert server.gate.pending == 0 and server.gate.refused["hello timeout"] == MAX_PENDING
            clients = [await _hello(path, name, run_dir=tmp_path, answer=False) for name in NODES]
            for client, _ in clients:
                reply = await client.receive()
                assert reply is not None and reply["op"] == "welcome"
                await client.stream.aclose()
            for sock in idle:
                await sock.aclose()
        nursery.cancel_scope.cancel()


async def test_an_accepted_node_s_bad_messages_are_refused_and_counted_and_it_stays(tmp_path: Path) -> None:
    server = _server(tmp_path)
    path = tmp_path / "medium.sock"
    async with trio.open_nursery() as nursery:
        with trio.fail_after(60):                                      # a hang guard only
            await _serving(server, nursery, path)
            (alice, _), (bob, _), (mid, _) = [await _hello(path, name, run_dir=tmp_path, answer=False)
                                              for name in NODES]
            arm = encode_hardware(Arm(1, 5)) | {"alpha": 10**400}
            bad: list[dict[str, Any]] = [
                {"op": "command", "at": 5, "node_id": 1, "reply_to": "alice/app1", "command": arm},
                {"op": "command", "at": 5, "node_id": 2, "reply_to": "bob/app1",        # bob's slots, from alice
                 "command": encode_hardware(Measure(0, Basis.Z))},
                {"op": "command", "at": 5, "node_id": 1, "reply_to": "bob/app1",
                 "command": encode_hardware(Measure(0, Basis.Z))},
                {"op": "clock", "at": 5, "node_id": 1, "phase_ns": 1e300, "frequency_ppb": None},
                {"op": "command", "at": -1, "node_id": 1, "reply_to": "alice/app1",
                 "command": encode_hardware(Measure(0, Basis.Z))},
                {"op": "result", "node": "alice", "held": {"1": "all"}},
                {"op": "teleport"},
            ]
            for message in bad:
                await alice.send(message)
            inf = frame({"op": "command", "at": 5, "node_id": 1, "reply_to": "alice/app1",
                         "command": encode_hardware(Arm(1, 5)) | {"alpha": 0.5}}).replace(b"0.5", b"1e400")
            await alice.stream.send_all(struct.pack("!I", len(inf) - 4) + inf[4:])   # JSON's 1e400 is inf
            while server.rejected_messages < len(bad) + 1:
                await trio.sleep(0.01)
            assert not server.connections["alice"].dead and server.protocol_errors == 0
            await alice.send({"op": "command", "at": 5, "node_id": 1, "reply_to": "alice/app1",   # empty slot
                              "command": encode_hardware(Measure(1, Basis.Z))})
            event = await alice.receive()
            while event is not None and event["op"] != "event":
                event = await alice.receive()
            assert event is not None and event["reply_to"] == "alice/app1"
            assert event["event"]["type"] == "CommandRejected" and event["event"]["slot"] == 1
            assert "no qubit in slot 1" in event["event"]["reason"]
            assert server.emu.medium.rejected_commands == 1
            for client in (alice, bob, mid):
                await client.stream.aclose()
        nursery.cancel_scope.cancel()


async def test_a_node_that_leaves_before_the_start_can_connect_again(tmp_path: Path) -> None:
    """Run by hand, a node process stopped before every node is there can be started again."""
    server = _server(tmp_path)
    path = tmp_path / "medium.sock"
    async with trio.open_nursery() as nursery:
        with trio.fail_after(60):                                      # a hang guard only
            await _serving(server, nursery, path)
            first, _ = await _hello(path, "alice", run_dir=tmp_path, answer=False)
            while "alice" not in server.connections:
                await trio.sleep(0.01)
            await first.stream.aclose()                               # gone before the run started
            while "alice" in server.connections:
                await trio.sleep(0.01)
            replies = [await _hello(path, name, run_dir=tmp_path, answer=False) for name in NODES]
            for client, _ in replies:
                reply = await client.receive()
                assert reply is not None and reply["op"] == "welcome"
            assert not server.connections["alice"].dead
            for client, _ in replies:
                await client.stream.aclose()
        nursery.cancel_scope.cancel()
