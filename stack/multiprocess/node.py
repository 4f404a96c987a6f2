"""One node as its own OS process (``qnet node NAME``, started by ``qnet up`` or by hand).

The node's layers are built by :func:`stack.runtime.build` exactly as in-process (same
engines, same seeds), but on a :class:`stack.multiprocess.realtime.RealtimeKernel`, with
:class:`stack.multiprocess.udp.UdpNetwork` for the classical channels and :class:`MediumClient` for
the hardware: commands go to the medium process over its socket, and its events come
back stamped with their emulated time. The node writes its own capture
(``RUN_DIR/NAME.pcap``: the datagrams it sends, with emulated-time ns timestamps).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

import trio

from protocols.apps.workload import EntanglementUser
from protocols.compiler import CompileError
from protocols.link.types import GenerationOver
from protocols.physical.hardware import LinkDown
from protocols.security import run_secret_from
from stack.core.network import authenticator
from stack.multiprocess.held import Held, take_held
from stack.multiprocess.medium_client import MediumClient, MediumGone
from stack.multiprocess.medium_protocol import (
    MAX_HELLO,
    MAX_MESSAGE,
    MediumProtocolError,
    MessageStream,
    decode_hardware,
    hello_proof,
    read_secret,
)
from stack.multiprocess.node_apps import NodeApps, api_plan
from stack.multiprocess.node_settled import SettledReporter
from stack.multiprocess.node_summary import node_summary
from stack.multiprocess.outcome import EXIT_BAD_INPUT, EXIT_NOT_FINISHED
from stack.multiprocess.realtime import RealtimeKernel, stop_on_signal
from stack.multiprocess.results import collect_result
from stack.multiprocess.udp import PortMap, UdpNetwork
from stack.runtime import Emulation, build, settle_bound_ns
from stack.scenario import Scenario

CONNECT_TIMEOUT_S = 30.0
FOREVER_NS = 1 << 62


class NodeProcess:
    def __init__(self, scenario: Scenario, name: str, seed: int, run_dir: Path, base_port: int,
                 held: Held | None = None) -> None:
        """``held``: sockets the launcher already bound for this node, by real port (the others it binds)."""
        if name not in scenario.nodes:
            raise KeyError(f"no node {name!r} in the scenario (nodes: {', '.join(scenario.nodes)})")
        self.name, self.seed, self.run_dir = name, seed, run_dir
        self.kernel = RealtimeKernel(0, 1.0)
        self.medium = MediumClient(self.kernel, scenario)
        plan = api_plan(scenario)             # before anything is opened: a circuit that does not compile ends here
        self._pcap = (run_dir / f"{name}.pcap").open("wb")
        factory = functools.partial(UdpNetwork, ports=PortMap(base_port), held=held or {})
        self.emu: Emulation = build(scenario, seed, self._pcap, kernel=self.kernel, network_factory=factory,
                                    medium=self.medium, local={name}, network_layers=plan is not None)
        self.apps = None if plan is None else NodeApps(self.emu, name, plan)
        self.ports = {layer.port.name: layer.port for layer in self.emu.layers} | (
            {} if self.apps is None else self.apps.ports)
        self.origins = [layer.engine for layer in self.emu.layers
                        if isinstance(layer.engine, EntanglementUser) and layer.engine.create is not None]
        self._said_done = False
        self.settling = SettledReporter(self.emu, self.kernel, self.medium.send.send_nowait,
                                        functools.partial(settle_bound_ns, self.emu))
        self.finishing = False
        """The medium said ``finish``: its closing the socket from then on is the normal end."""
        self.signals: list[int] = []
        for layer in self.emu.layers:
            layer.after = self._check_done if layer.engine in self.origins else None

    def _after_origin_drained(self) -> None:
        """A workload origin's check from the drain on; every other layer's is the settling reporter's."""
        self._check_done()
        self.settling.check()

    def _check_done(self) -> None:
        apps = self.apps
        if not self._said_done and all(origin.done() for origin in self.origins) and (apps is None or apps.done()):
            self._said_done = True
            failure = None if apps is None else apps.failure
            self.medium.send.send_nowait({"op": "done", "at": self.kernel.now} | ({"failure": failure} if failure
                                                                                  else {}))

    async def hello(self, stream: MessageStream, challenge: dict[str, Any]) -> dict[str, Any]:
        """Answer the medium's challenge with the run's secret; its welcome (:class:`MediumGone` if refused)."""
        nonce = challenge.get("nonce")
        if challenge["op"] != "challenge" or not isinstance(nonce, str):
            raise MediumGone(f"the medium sent {str(challenge['op'])[:20]!r} instead of a challenge")
        try:
            secret = read_secret(self.run_dir)
        except (OSError, ValueError) as error:
            raise MediumGone(f"cannot read the run's secret: {error}") from None
        self._key_classical_control(secret)
        node_id = self.emu.scenario.nodes[self.name].node_id
        await stream.send({"op": "hello", "node": self.name, "node_id": node_id, "seed": self.seed,
                           "proof": hello_proof(secret, nonce, self.name)})
        welcome = await stream.receive()
        if welcome is None or welcome["op"] != "welcome":
            reason = "it closed the connection" if welcome is None else str(welcome.get("reason", welcome["op"]))
            raise MediumGone(f"the medium refused node {self.name}: {reason[:200]}")
        return welcome

    def _key_classical_control(self, medium_secret: bytes) -> None:
        """Without a key file, every node of the run derives the same classical-control secret from the medium's
        (``RUN_DIR/secret``, mode 0600): only processes that can read the run directory hold the keys."""
        security = self.emu.scenario.security
        if security.authenticate and security.secret is None:
            self.emu.network.auth = authenticator(security, run_secret_from(medium_secret))

    async def run(self, stream: MessageStream, welcome: dict[str, Any]) -> None:
        kernel = self.kernel
        kernel.epoch_ns, kernel.dilation = welcome["epoch_ns"], welcome["dilation"]
        kernel.tolerance_ns = welcome["tolerance_ns"]
        network = self.emu.network
        assert isinstance(network, UdpNetwork)
        try:
            async with trio.open_nursery() as nursery:
                for layer in self.emu.layers:
                    nursery.start_soon(layer.run)
                nursery.start_soon(network.serve)
                nursery.start_soon(self.medium.pump, stream)
                nursery.start_soon(self._listen, stream)
                if self.apps is not None:
                    self.apps.start(nursery, self._check_done)
                await kernel.run_realtime(until=FOREVER_NS)
                self._pcap.close()                # complete before the result: the medium may merge it next
                self.medium.send.send_nowait(collect_result(self.name, self.emu, self.apps))
                self._said_done = True            # an application cancelled below must not say done after this
                self.medium.send.close()          # the pump sends the result last, then stops
                await self.medium.pumped.wait()
                nursery.cancel_scope.cancel()
        finally:
            network.close()
            self._pcap.close()

    def summary(self) -> str:
        """One line on how this node's run went: what ``qnet node`` prints at the end."""
        return node_summary(self.name, self.kernel, self.emu, self.apps, self.run_dir)

    async def _listen(self, stream: MessageStream) -> None:
        """Events and run control from the medium; its end of stream ends the node."""
        while True:
            try:
                message = await stream.receive()
            except (MediumProtocolError, trio.BrokenResourceError, OSError) as error:
                raise MediumGone(f"the medium process went away ({error})") from None
            if message is None:
                if self.finishing:          # it has our result (or gave up waiting for it): the run is over
                    return
                raise MediumGone("the medium process went away (it closed the connection)")
            try:
                self._on_message(message)
            except (KeyError, TypeError, ValueError, MediumProtocolError) as error:
                raise MediumGone(f"the medium sent a malformed {message.get('op')!r} message ({error!r})") from None

    def _on_message(self, message: dict[str, Any]) -> None:
        op = message["op"]
        if op == "event":
            port = self.ports.get(message["reply_to"])
            if port is not None:
                self.kernel.inject(int(message["at"]), port, decode_hardware(message["event"]))
        elif op == "finish":
            self.finishing = self.settling.finishing = True
            self.kernel.halt()
        elif op == "ask_settled":
            self.settling.ask(message)
        elif op == "peer_down":
            link = self.ports.get(f"{self.name}/link")
            if link is not None:
                link_id = int(message["link_id"])
                self.kernel.inject(int(message["at"]), link, LinkDown(link_id, self._peer_alive(link_id,
                                                                                                 message["node"])))
        elif op == "drain":
            self.emu.draining = True
            for each in self.emu.layers:
                each.after = self._after_origin_drained if each.engine in self.origins else self.settling.check
            for layer in ("link", "network"):  # requests still open fail with ERR TIMEOUT (at both ends)
                port = self.ports.get(f"{self.name}/{layer}")
                if port is not None:
                    self.kernel.inject(int(message["at"]), port, GenerationOver())
            self.kernel.call_external(self._on_drained, None, int(message["at"]))   # after the GenerationOvers

    def _peer_alive(self, link_id: int, dead: object) -> bool:
        """Whether the node ``dead`` whose death took link ``link_id`` down is not the link's other end (it was
        its station or source: the peer still answers, and the pairs already made are settled with it)."""
        for link in self.emu.scenario.links:
            if link.link_id == link_id:
                return dead not in (link.a, link.b)
        return False

    def _on_drained(self, _: Any) -> None:
        """Every layer has had its GenerationOver: a node whose layers have nothing left to settle (or that runs
        no link or network layer) says so now, as no event of its layers may ever ask again."""
        self.settling.check()


async def _connect(socket_path: Path) -> tuple[MessageStream, dict[str, Any]]:
    """A connection to the medium and its challenge. Until :data:`CONNECT_TIMEOUT_S`, a medium not there yet,
    or one that closes the connection before its challenge (it serves too many at once), is tried again."""
    with trio.move_on_after(CONNECT_TIMEOUT_S):
        while True:
            try:
                stream = MessageStream(await trio.open_unix_socket(str(socket_path)), limit=MAX_HELLO)
            except (FileNotFoundError, ConnectionRefusedError):
                await trio.sleep(0.05)
                continue
            except OSError as error:
                raise MediumGone(f"cannot connect to {socket_path}: {error.strerror or error}") from None
            try:
                challenge = await stream.receive()
            except (trio.BrokenResourceError, OSError, MediumProtocolError):
                challenge = None
            if challenge is not None:
                stream.limit = MAX_MESSAGE
                return stream, challenge
            await stream.stream.aclose()
            await trio.sleep(0.1)
    raise MediumGone(f"no medium answered at {socket_path} within {CONNECT_TIMEOUT_S:.0f} s")


async def _main(process: NodeProcess) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stop_on_signal, nursery.cancel_scope, process.signals)
        stream, challenge = await _connect(process.run_dir / "medium.sock")
        try:
            welcome = await process.hello(stream, challenge)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError, MediumProtocolError) as error:
            raise MediumGone(f"the medium went away during the hello ({error or type(error).__name__})") from None
        await process.run(stream, welcome)
        nursery.cancel_scope.cancel()


def run_node(scenario: Scenario, name: str, seed: int, run_dir: Path, base_port: int) -> int:
    """Entry point of ``qnet node NAME``: 0 once its result is sent (and a one-line summary printed),
    2 if its sockets cannot be bound, 3 if the medium refused it or went away, 128 + N on signal N.

    Started by ``qnet up``, it uses the sockets the launcher bound for it (:func:`stack.multiprocess.held.take_held`);
    started by hand, it binds its own."""
    try:
        process = NodeProcess(scenario, name, seed, run_dir, base_port, take_held())
        try:
            trio.run(_main, process)
        except BaseExceptionGroup as group:      # trio wraps a task's error in its nursery's group
            raise _only(group) from None
    except MediumGone as error:
        print(f"qnet node {name}: {error}; stopping", file=sys.stderr)
        return EXIT_NOT_FINISHED
    except (OSError, CompileError, ValueError) as error:     # ports; a circuit that does not compile or run
        print(f"qnet node {name}: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if process.signals:
        return 128 + process.signals[0]
    print(process.summary())
    return 0


def _only(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The single leaf error of a (nested) exception group, else the group itself."""
    leaves: list[BaseException] = []

    def walk(error: BaseException) -> None:
        if isinstance(error, BaseExceptionGroup):
            for inner in error.exceptions:
                walk(inner)
        else:
            leaves.append(error)

    walk(group)
    return leaves[0] if len(leaves) == 1 else group
