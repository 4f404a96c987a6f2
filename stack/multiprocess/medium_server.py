"""The server of the medium process (``qnet medium``): one run's node connections, messages and lifecycle.

:class:`MediumServer` owns the run's :class:`~stack.runtime.Emulation` (the medium and the heralding) on a
:class:`~stack.multiprocess.medium_ports.MediumKernel`, admits the nodes (:mod:`stack.multiprocess.gate`), acts on
their messages and coordinates the run (:mod:`stack.multiprocess.medium` describes the lifecycle); the report at
the end is :mod:`stack.multiprocess.medium_report`'s.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import trio

from protocols.physical.hardware import Disarm
from stack.multiprocess.gate import Gate
from stack.multiprocess.medium_checks import check_message
from stack.multiprocess.medium_ports import Connection, MediumKernel, RemotePort
from stack.multiprocess.medium_protocol import MediumProtocolError, MessageStream, decode_hardware, write_secret
from stack.multiprocess.medium_report import final_report
from stack.multiprocess.medium_settle import Settling, settle
from stack.multiprocess.node_apps import api_plan
from stack.multiprocess.realtime import stop_on_signal
from stack.multiprocess.results import result_problem
from stack.runtime import Emulation, build, node_hardware
from stack.scenario import Scenario

STARTUP_TIMEOUT_S = 60.0
RESULT_TIMEOUT_S = 20.0
START_MARGIN_NS = 300_000_000
"""Wall time between the welcome and the epoch: every process is parked by then."""
NOISY = 10
"""Refused messages the medium names on stderr; it counts the rest silently."""


def process_nodes(scenario: Scenario) -> list[str]:
    """Nodes that run layers and so need a process: QPUs, stations, and PTP clocks."""
    return [n.name for n in scenario.nodes.values() if n.kind in ("qpu", "station") or n.clock.ptp != "off"]


class MediumServer:
    """Serves the node processes of one run."""

    def __init__(self, scenario: Scenario, seed: int, run_dir: Path, dilation: float,
                 tolerance_ns: int) -> None:
        self.scenario, self.seed, self.run_dir = scenario, seed, run_dir
        self.secret = write_secret(run_dir)         # before the socket exists: every client can read it
        self.kernel = MediumKernel(0, dilation, tolerance_ns)
        self._pcap = (run_dir / "medium.pcap").open("wb")
        self.emu: Emulation = build(scenario, seed, self._pcap, kernel=self.kernel, local=set())
        self.emu.heralding.generation_ends_ns = scenario.run.duration_ns
        for node in scenario.nodes.values():
            port = RemotePort(self, node.name, f"{node.name}/physical")
            if node.kind == "qpu":
                self.emu.medium.add_node(node_hardware(node, port))
            elif node.kind == "station":
                self.emu.heralding.middles[node.node_id] = port      # type: ignore[assignment]
        self.expected = set(process_nodes(scenario))
        self.plan = api_plan(scenario)
        self.origins = {item.node for item in scenario.workload} | set(() if self.plan is None else self.plan.roles)
        """Nodes whose ``done`` (or death) ends generation: workload origins and the application API's roles."""
        self.api_failures: list[str] = []
        """Why applications failed, as the nodes said with their ``done`` (one line each)."""
        self.connections: dict[str, Connection] = {}
        self.done: set[str] = set()
        self.all_here = trio.Event()
        self.finishing = False
        self.generation_end = 0
        self.signals: list[int] = []
        self.protocol_errors = 0
        """Connections dropped for a message that is not one (framing, JSON, size, depth)."""
        self.rejected_messages = 0
        """Messages of an accepted node refused for their content (the node stays connected)."""
        self.settling = Settling()
        self.pending_commands = 0
        """Commands received and not yet run (the settling phase waits for them)."""
        self.accounting_error: str | None = None
        """Why the qubit ledger did not balance at the end (None: it did); ``multi_process.accounting_error``."""
        self.gate = Gate(self.secret, seed, self.expected, self.connections, self._join, run_dir / "secret")

    def post(self, node: str, message: dict[str, Any]) -> None:
        connection = self.connections.get(node)
        if connection is not None and not connection.dead:
            connection.outbox.send_nowait(message)

    def broadcast(self, message: dict[str, Any]) -> None:
        for node in self.connections:
            self.post(node, message)

    async def serve(self, socket_path: Path) -> dict[str, Any] | None:
        """Serve one run; the report, or None if not every node connected in time."""
        listener = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
        partial = socket_path.with_name(socket_path.name + ".part")
        partial.unlink(missing_ok=True)
        await listener.bind(str(partial))
        os.chmod(partial, 0o600)              # only this user may connect (before anyone can: not listening)
        listener.listen(64)
        partial.replace(socket_path)          # the socket appears only once it accepts connections
        report = None
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(stop_on_signal, nursery.cancel_scope, self.signals)
                nursery.start_soon(self.gate.accept, trio.SocketListener(listener), nursery)
                with trio.move_on_after(STARTUP_TIMEOUT_S):
                    await self.all_here.wait()
                if self.all_here.is_set():
                    nursery.start_soon(self._progress)
                    report = await self._run()
                nursery.cancel_scope.cancel()
        finally:
            listener.close()
            self._pcap.close()
        return report

    def _join(self, node: str, messages: MessageStream) -> Awaitable[None]:
        """An accepted node: registered at once (before any other hello can be checked), then served."""
        connection = Connection(messages, node)
        self.connections[node] = connection
        if set(self.connections) == self.expected:
            self._welcome()
        return self._serve_node(connection)

    async def _serve_node(self, connection: Connection) -> None:
        stream = connection.stream
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._sender, connection)
            try:
                while (message := await stream.receive()) is not None:
                    self._on_message(connection, message)
            except MediumProtocolError as error:      # the node is treated as dead: its peers are told
                self.protocol_errors += 1
                print(f"qnet medium: dropping node {connection.node}: {error}", file=sys.stderr)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass
            if not self.all_here.is_set():           # not started yet: the node may connect again
                del self.connections[connection.node]
            elif connection.result is None:
                self._node_died(connection)
            nursery.cancel_scope.cancel()

    def _welcome(self) -> None:
        self.kernel.epoch_ns = time.time_ns() + START_MARGIN_NS
        self.broadcast({"op": "welcome", "epoch_ns": self.kernel.epoch_ns, "dilation": self.kernel.dilation,
                        "tolerance_ns": self.kernel.tolerance_ns})
        self.all_here.set()
        partial = self.run_dir / "started.json.part"          # renamed into place: readers never see half
        partial.write_text(json.dumps({"epoch_ns": self.kernel.epoch_ns, "dilation": self.kernel.dilation,
                                       "nodes": sorted(self.connections)}))
        partial.replace(self.run_dir / "started.json")

    async def _sender(self, connection: Connection) -> None:
        async for message in connection.inbox:
            try:
                await connection.stream.send(message)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                return

    def _on_message(self, connection: Connection, message: dict[str, Any]) -> None:
        """Act on one message of an accepted node; one whose content is invalid is refused and counted."""
        try:
            self._dispatch(connection, message)
        except (KeyError, TypeError, ValueError) as error:        # MediumProtocolError is a ValueError
            self.rejected_messages += 1
            if self.rejected_messages <= NOISY:
                print(f"qnet medium: refused a {str(message.get('op'))[:20]!r} message from {connection.node}: "
                      f"{str(error)[:200]}", file=sys.stderr)

    def _dispatch(self, connection: Connection, message: dict[str, Any]) -> None:
        check_message(message, connection.node, self.scenario.nodes[connection.node].node_id)
        op, at = message["op"], message.get("at")
        if op == "command":
            port = RemotePort(self, connection.node, message["reply_to"])
            command = decode_hardware(message["command"])
            self.pending_commands += 1
            self.kernel.call_external(self._execute, (message["node_id"], command, port), at)
        elif op == "clock":
            self.kernel.call_external(self._adjust_clock, (message["node_id"], message["phase_ns"],
                                                           message["frequency_ppb"], at), at)
        elif op == "done":
            self.done.add(connection.node)
            if message.get("failure") is not None:    # its peers may wait for it for ever: the run ends
                self.api_failures.append(f"{connection.node}: {str(message['failure']).partition(': ')[2][:300]}")
            self._end_generation_if_idle()
        elif op == "settled":
            self.settling.receive(connection.node, message)
            if self.settling.looking:
                self.kernel.halt()                  # the settling phase looks again
        elif op == "result":
            problem = result_problem(message, connection.node)
            if problem is not None:
                raise ValueError(f"bad result: {problem}")
            connection.result = message
        else:
            raise ValueError(f"unknown op {op[:20]!r}")

    def _execute(self, args: tuple[int, Any, RemotePort]) -> None:
        node_id, command, port = args
        self.pending_commands -= 1
        self.emu.medium.command(node_id, command, port)      # type: ignore[arg-type]

    def _adjust_clock(self, args: tuple[int, float, float | None, int]) -> None:
        clock = self.emu.clocks.get(args[0])
        if clock is None:
            return
        try:                               # at the node's time of the adjustment, even if it arrives late
            clock.adjust(args[1], args[2], args[3])
        except ValueError as error:        # before the previous adjustment: refused like any invalid message
            self.rejected_messages += 1
            print(f"qnet medium: refused a clock adjustment of node {args[0]}: {error}", file=sys.stderr)

    def workload_over(self) -> bool:
        """Whether the workload had origins and none is left alive and busy: each said ``done`` or died.
        (Without a workload the run lasts the scenario's duration.)"""
        dead = {name for name, c in self.connections.items() if c.dead}
        return bool(self.api_failures) or (bool(self.origins) and self.origins <= self.done | dead)

    def _end_generation_if_idle(self) -> None:
        if self.workload_over() and not self.emu.draining:
            self.kernel.halt()

    def _node_died(self, connection: Connection) -> None:
        """A node process went away: every link it ends or serves (as station) goes down, and if it was
        the last live workload origin, generation ends."""
        connection.dead = True
        if self.finishing:
            return
        print(f"qnet medium: node {connection.node} died (its connection closed at emulated "
              f"{self.kernel.emulated_now() / 1e6:.3f} ms)", file=sys.stderr)
        if self.plan is not None and connection.node in self.plan.roles and connection.node not in self.done:
            # as a failed role: its peers might wait for it for ever, so the run ends
            self.api_failures.append(f"{connection.node}: its node process died before its application finished")
        self._end_generation_if_idle()
        self.settling.disturb()                     # its peers get peer_down: their answers to a round are stale
        if self.settling.looking:
            self.kernel.halt()                      # a dead node is no longer waited for
        dead = self.scenario.nodes[connection.node]
        for link in self.scenario.links:
            if dead.name not in (link.a, link.b, link.station, link.source):
                continue
            for end in (link.a, link.b):
                self.kernel.call_external(self._disarm, (self.scenario.nodes[end].node_id, link.link_id))
                if end != dead.name:
                    self.post(end, {"op": "peer_down", "at": self.kernel.emulated_now(), "node": dead.name,
                                    "link_id": link.link_id})

    def _disarm(self, args: tuple[int, int]) -> None:
        self.emu.heralding.command(args[0], Disarm(args[1]))

    async def _progress(self) -> None:
        """``progress.json`` once a wall second: emulated time, pairs made, lateness so far."""
        partial = self.run_dir / "progress.json.part"
        while True:
            links = self.emu.heralding.links.values()
            partial.write_text(json.dumps({
                "emulated_ns": self.kernel.emulated_now(), "duration_ns": self.scenario.run.duration_ns,
                "draining": self.emu.draining, "pairs": sum(state.successes for state in links),
                "missed_deadlines": self.kernel.missed_deadlines, "late_inputs": self.kernel.late_inputs}))
            partial.replace(self.run_dir / "progress.json")
            await trio.sleep(1.0)

    async def _run(self) -> dict[str, Any]:
        emu, kernel = self.emu, self.kernel
        if emu.sampler is not None:
            emu.sampler.start()
        started = time.perf_counter()
        if not self.workload_over():              # a halt before the run started would be forgotten
            await kernel.run_realtime(until=self.scenario.run.duration_ns)
        self.generation_end = kernel.now
        emu.draining = self.settling.active = True
        emu.heralding.stop_generation()
        self.broadcast({"op": "drain", "at": kernel.now})
        await kernel.run_realtime(until=kernel.now + emu.drain_ns)
        await settle(kernel, self.settling, self._live, lambda: self.pending_commands, self.broadcast)
        self.finishing = True
        self.broadcast({"op": "finish", "at": kernel.now})
        with trio.move_on_after(RESULT_TIMEOUT_S):
            while any(c.result is None and not c.dead for c in self.connections.values()):
                await trio.sleep(0.01)
        return await self._report(started)

    def _live(self) -> list[str]:
        return [name for name, connection in self.connections.items() if not connection.dead]

    async def _report(self, started: float) -> dict[str, Any]:
        """The report, once every node sent its result (or died, or the wait timed out)."""
        results = {name: c.result for name, c in self.connections.items() if c.result is not None}
        dead = sorted(name for name, c in self.connections.items() if c.result is None)
        # A late node went on until it got `finish`: the commands it sent before its result (a Discard after
        # the medium's last instant) are queued here, not yet run. Run them, so that its `held` and the
        # medium's memory describe the same instant.
        await self.kernel.run(until=self.kernel.emulated_now())
        return final_report(self, results, dead, started)
