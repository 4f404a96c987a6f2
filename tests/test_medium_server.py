"""The medium process's socket: bad input from a node is a named error, never a crash."""

from __future__ import annotations

import struct
from pathlib import Path

import trio

from stack.multiprocess.medium import MediumServer
from stack.multiprocess.medium_protocol import MessageStream, frame
from stack.scenario import load_text
from tests.mp_util import two_node_toml


async def _client(path: Path) -> MessageStream:
    return MessageStream(await trio.open_unix_socket(str(path)))


async def test_garbage_and_forged_messages_drop_only_that_connection(tmp_path: Path) -> None:
    scenario = load_text(two_node_toml(pairs=1), "two.toml")
    server = MediumServer(scenario, 3, tmp_path, dilation=0.01, tolerance_ns=10_000)
    path = tmp_path / "medium.sock"
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve, path)
        with trio.fail_after(60):                                      # a hang guard only
            while not path.exists():
                await trio.sleep(0.01)
            rogue = await trio.open_unix_socket(str(path))
            await rogue.send_all(struct.pack("!I", 5) + b"hello")           # not JSON
            assert await rogue.receive_some(10) == b""                    # closed on it
            stranger = await _client(path)
            await stranger.send({"op": "hello", "node": "mallory", "node_id": 9, "seed": 3})
            reply = await stranger.receive()
            assert reply is not None and reply["op"] == "refused" and "alice" in reply["reason"]
            alice = await _client(path)
            await alice.send({"op": "hello", "node": "alice", "node_id": 1, "seed": 3})
            await alice.stream.send_all(frame({"op": "clock", "at": 5, "node_id": 2, "phase_ns": 1.0,
                                               "frequency_ppb": None}))     # bob's clock, from alice
            assert await alice.receive() is None                           # dropped
            while server.protocol_errors < 2 or "alice" in server.connections:
                await trio.sleep(0.01)                                     # before the start: forgotten
            bob = await _client(path)                                      # the server still serves
            await bob.send({"op": "hello", "node": "bob", "node_id": 2, "seed": 4})
            reply = await bob.receive()
            assert reply is not None and reply["op"] == "refused" and "seed" in reply["reason"]
            for client in (rogue, stranger.stream, alice.stream, bob.stream):
                await client.aclose()
        nursery.cancel_scope.cancel()


async def test_a_node_that_leaves_before_the_start_can_connect_again(tmp_path: Path) -> None:
    """Run by hand, a node process stopped before every node is there can be started again."""
    scenario = load_text(two_node_toml(pairs=1), "two.toml")
    server = MediumServer(scenario, 3, tmp_path, dilation=0.01, tolerance_ns=10_000)
    path = tmp_path / "medium.sock"
    hellos = {name: {"op": "hello", "node": name, "node_id": i, "seed": 3}
              for i, name in enumerate(("alice", "bob", "mid"), 1)}
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.serve, path)
        with trio.fail_after(60):                                      # a hang guard only
            while not path.exists():
                await trio.sleep(0.01)
            first = await _client(path)
            await first.send(hellos["alice"])
            while "alice" not in server.connections:
                await trio.sleep(0.01)
            await first.stream.aclose()                               # gone before the run started
            while "alice" in server.connections:
                await trio.sleep(0.01)
            clients = {name: await _client(path) for name in hellos}
            for name, client in clients.items():
                await client.send(hellos[name])
            for client in clients.values():
                reply = await client.receive()
                assert reply is not None and reply["op"] == "welcome"
            assert not server.connections["alice"].dead
            for client in clients.values():
                await client.stream.aclose()
        nursery.cancel_scope.cancel()
