"""Write an application as a trio coroutine and run it on an emulated node.

Each application gets an :class:`AppContext` on its node: it sends CREATEs to the node's link
layer (a neighbour) or network layer (any QPU, across repeaters), receives their ACK/OK/ERR,
measures the qubits it was given, and sleeps, all on the emulator's virtual time. It is a layer
like any other (its own task and port), so the run
stays deterministic.

Example (the scenario's own workload, if any, runs alongside)::

    async def alice(ctx: AppContext) -> None:
        await ctx.create("bob", pairs=2)
        for _ in range(2):
            ok = await ctx.next_message()                 # an OkKeep (or an Err)
            print(ok.sequence_number, await ctx.measure(ok.lqid, Basis.Z))

    async def bob(ctx: AppContext) -> None:
        for _ in range(2):
            ok = await ctx.next_message()
            print(ok.sequence_number, await ctx.measure(ok.lqid, Basis.Z))

    result = run_apps(load("my.toml"), {"alice": alice, "bob": bob})

On a link with ``batch = N`` (docs/scenario.md) a measure-directly request of N pairs or more comes back in
blocks (``OkMeasureBlock``, one message per block: its ``outcomes``, ``bases`` and ``bell_states``).
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from protocols.common import LINK_SERVICE_PORT, NETWORK_SERVICE_PORT, Basis, ParseError
from protocols.link.layer import LinkLayer
from protocols.network.layer import NetworkLayer
from protocols.network.policy import distil_request
from protocols.packets import linkservice as ll
from protocols.physical.hardware import CommandRejected, Measure, MeasureResult
from stack.core.capture import node_ip
from stack.core.kernel import STARTUP, TIMER, VirtualPort
from stack.core.network import Datagram
from stack.runtime import ROTATIONS, Emulation, RunResult, build, run_async, stop_when_done
from stack.scenario import Scenario

App = Callable[["AppContext"], Awaitable[None]]
API_PORT_BASE = 50000
"""Applications run through this API bind consecutive ports from here on their node."""


class LinkError(RuntimeError):
    """The link or network layer refused a CREATE; ``code`` is the draft's error code (NOPATH, DOWN, ... from
    the network layer)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"link layer answered ERR {ll.ERROR_CODES.get(code, code)}")
        self.code = code


SERVICES = ("auto", "link", "network")


class AppContext:
    """What an application can do on its node (all awaits are on virtual time)."""

    def __init__(self, emu: Emulation, node: str, port_number: int, purpose_id: int) -> None:
        self.emu = emu
        self.node = node
        self.purpose_id = purpose_id
        self.node_id = emu.scenario.nodes[node].node_id
        self.port = VirtualPort(emu.kernel, f"{node}/api{port_number}")
        self.address = emu.network.bind(self.node_id, port_number, self.port)
        self._messages: deque[ll.Upward] = deque()
        self._results: dict[int, int | CommandRejected] = {}

    @property
    def now(self) -> int:
        """Virtual time, ns."""
        return self.emu.kernel.now

    async def create(self, remote: str, pairs: int, *, keep: bool = True, basis: str = "Z",
                     min_fidelity: float = 0.0, priority: int = 0, atomic: bool = False,
                     consecutive: bool = True, service: str = "auto",
                     distill: str | tuple[str, str, int] = "none") -> int:
        """Ask for ``pairs`` pairs with ``remote``; returns the Create ID once ACKed.

        ``priority`` (0-7, higher first), ``atomic`` (all pairs at once, create-and-keep) and
        ``consecutive`` (False: all OKs when the request completes) are CREATE's Priority, ATO and CON.
        ``service``: "link" (the node's link layer: ``remote`` must be a neighbour), "network" (its network
        layer: any QPU, over a circuit), or "auto" (the link layer when they share a link).
        ``distill`` (network service): "none", "auto" (the circuit's tail picks a rule per hop that meets
        ``min_fidelity``), or a rule for every hop, ``(protocol, schedule, rounds)`` such as
        ``("dejmps", "recurrence", 1)`` (docs/scenario.md, ``distill``).
        """
        if service not in SERVICES:
            raise ValueError(f"service must be one of {', '.join(SERVICES)}, got {service!r}")
        request = distil_request(distill, None) if isinstance(distill, str) else distil_request("explicit", distill)
        if service == "auto":
            linked = any({link.a, link.b} == {self.node, remote} for link in self.emu.scenario.links)
            service = "link" if linked else "network"
        rot = ROTATIONS[basis]
        create = ll.Create(remote_node_id=self.emu.scenario.nodes[remote].node_id, purpose_id=self.purpose_id,
                           number=pairs, tpe=ll.TPE_KEEP if keep else ll.TPE_MEASURE,
                           minimum_fidelity=ll.encode_fidelity(min_fidelity), rotx1l=rot[0], rotyl=rot[1],
                           rotx2l=rot[2], rotx1r=rot[0], rotyr=rot[1], rotx2r=rot[2], priority=priority,
                           ato=int(atomic), con=int(consecutive), **request.create_fields())
        if service == "link" and request.mode:
            raise ValueError("distill applies to network-layer requests only (service \"network\")")
        port = LINK_SERVICE_PORT if service == "link" else NETWORK_SERVICE_PORT
        self.emu.network.send(self.node_id, self.address[1], (node_ip(self.node_id), port), create.encode())
        while True:
            for index, message in enumerate(self._messages):
                if isinstance(message, ll.Ack):
                    del self._messages[index]
                    return message.create_id
                if isinstance(message, ll.Err) and message.err != ll.ERR_EXPIRE:
                    del self._messages[index]
                    raise LinkError(message.err)
            await self._wait()

    async def next_message(self) -> Any:
        """The next OK or ERR from the link layer (ACKs are consumed by :meth:`create`).

        A measure-directly request (``keep=False``) of at least the link's ``batch`` pairs is answered in
        blocks: each message is then an :class:`~protocols.packets.linkservice.OkMeasureBlock` carrying many
        pairs' outcomes, bases and Bell states (numpy arrays) from Sequence Number ``sequence_number`` on."""
        while True:
            for index, message in enumerate(self._messages):
                if not isinstance(message, ll.Ack):
                    del self._messages[index]
                    return message
            await self._wait()

    async def measure(self, lqid: int, basis: Basis) -> int:
        """Measure the qubit the OK named (its LQID) in ``basis``; returns the outcome. Raises ValueError if
        the medium refuses (no qubit in that slot)."""
        self.emu.medium.command(self.node_id, Measure(lqid, basis), self.port)
        while lqid not in self._results:
            await self._wait()
        result = self._results.pop(lqid)
        if isinstance(result, CommandRejected):
            raise ValueError(f"cannot measure slot {lqid}: {result.reason}")
        return result

    async def sleep(self, ns: int) -> None:
        """Let ``ns`` of virtual time pass."""
        self.port.set_timer(self.now + ns)
        while True:
            if await self._wait() is TIMER:
                return

    async def _wait(self) -> Any:
        event = await self.port.next()
        if type(event) is Datagram:
            with contextlib.suppress(ParseError):       # a malformed reply is dropped, like any layer does
                self._messages.append(ll.decode_upward(event.payload))
        elif isinstance(event, MeasureResult):
            self._results[event.slot] = event.outcome
        elif isinstance(event, CommandRejected):
            self._results[event.slot] = event
        return event

    async def _run(self, app: App) -> None:
        try:
            assert await self.port.next() is STARTUP
            await app(self)
        finally:
            self.emu.api_running -= 1
            stop_when_done(self.emu)
            self.port.close()


def run_apps(scenario: Scenario, apps: dict[str, App], purpose_id: int = 100, seed: int | None = None) -> RunResult:
    """Run ``scenario`` with an application coroutine on each named node (blocking).

    Every application listens on ``purpose_id`` (below 0x8000) at its node's link layer and network layer:
    OKs for requests with that Purpose ID reach it. The run ends when every application has returned (and
    the scenario's own workload is done).
    """
    emu = build(scenario, seed, network_layers=True)
    contexts = []
    for index, (node, app) in enumerate(apps.items()):
        context = AppContext(emu, node, API_PORT_BASE + index, purpose_id)
        for layer in emu.layers:
            if layer.node_id == context.node_id and isinstance(layer.engine, LinkLayer | NetworkLayer):
                layer.engine.purposes[purpose_id] = context.address
                if isinstance(layer.engine, LinkLayer) and layer.engine.clients is not None:
                    layer.engine.clients.add(context.address)
        contexts.append((context, app))
    emu.api_running = len(contexts)

    async def main() -> RunResult:
        async with trio.open_nursery() as nursery:
            for context, app in contexts:
                nursery.start_soon(context._run, app)
            return await run_async(emu)

    return trio.run(main)
