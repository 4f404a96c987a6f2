"""run_apps: a scenario with an application coroutine on each named node, in virtual time; and the parts the
multi-process node reuses to host the applications of its own node (:mod:`stack.multiprocess.node_apps`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import BinaryIO

import trio
from trio.lowlevel import current_task

import stack.api.checks as checks
from protocols.common import Address
from protocols.link.layer import LinkLayer
from protocols.network.layer import NetworkLayer
from stack.api.context import AppContext
from stack.api.exchange import exchange_of
from stack.core.capture import node_ip
from stack.core.kernel import STARTUP
from stack.runtime import APP_PORT_BASE, Emulation, RunResult, build, run_async, stop_when_done
from stack.scenario import Scenario
from stack.scenario.applications import APPLICATION_PURPOSE_ID, listener_on

App = Callable[[AppContext], Awaitable[None]]
FINISHED, CUT_OFF, FAILED = "finished", "cut off", "failed"
"""An application's outcome in :attr:`stack.emulation.RunResult.app_outcomes`: it returned, or the run's end (its
duration) cut it off; "failed" only in a ``qnet up`` report (it raised, or its node process died: in virtual time
an application that raises ends the run with its error instead)."""
API_PORT_BASE = 50000
"""In virtual time, applications run through this API bind consecutive ports from here on their node, in the
order given. Under ``qnet up`` (:func:`directory`) each binds the first application port its node's workload
leaves free, so that it has a slot in the port map."""


def check_nodes(scenario: Scenario, nodes: Iterable[str], purpose_id: int = APPLICATION_PURPOSE_ID) -> None:
    """ValueError unless ``purpose_id`` is from 0 to 0x7FFF (TypeError: not an int), every node is a QPU of the
    scenario and no workload entry of the scenario listens on ``purpose_id`` at one of them (the application
    serves that Purpose ID there: the entry's pairs would reach the application instead of the entry's
    listener).

        >>> from stack.scenario import load
        >>> check_nodes(load("examples/two-qpus.toml"), ["alice", "bob"], purpose_id=1)
        Traceback (most recent call last):
        ...
        ValueError: apps: workload[0] listens on purpose id 1 at 'bob', which its application serves: give ...
    """
    checks.purpose(purpose_id)
    nodes = list(nodes)
    for node in nodes:
        if node not in scenario.nodes or scenario.nodes[node].kind != "qpu":
            raise ValueError(f"apps: {node!r} is not a QPU of the scenario")
    index = listener_on(scenario.workload, purpose_id, nodes)
    if index is not None:
        raise ValueError(f"apps: workload[{index}] listens on purpose id {purpose_id} at "
                         f"{scenario.workload[index].remote!r}, which its application serves: give the entry another "
                         "purpose_id")


def workload_ports(scenario: Scenario, node: str) -> int:
    """How many application ports the scenario's workload binds on ``node`` (from ``APP_PORT_BASE`` on)."""
    return sum(item.node == node or (item.remote == node and item.listen) for item in scenario.workload)


def directory(scenario: Scenario, nodes: Iterable[str], multi_process: bool = False) -> dict[str, Address]:
    """Every application's address by node name: the same in every process of a run."""
    ids = {name: node_ip(scenario.nodes[name].node_id) for name in nodes}
    if multi_process:
        return {name: (ip, APP_PORT_BASE + workload_ports(scenario, name)) for name, ip in ids.items()}
    return {name: (ip, API_PORT_BASE + index) for index, (name, ip) in enumerate(ids.items())}


def attach(emu: Emulation, node: str, purpose_id: int, addresses: dict[str, Address]) -> AppContext:
    """The application context of ``node`` on its address in ``addresses``: its port bound, and its node's link
    and network layers told to send it the OKs of ``purpose_id``."""
    context = AppContext(emu, node, addresses[node][1], purpose_id, addresses)
    context.exchange_of = exchange_of
    for layer in emu.layers:
        if layer.node_id == context.node_id and isinstance(layer.engine, LinkLayer | NetworkLayer):
            layer.engine.purposes[purpose_id] = context.address
            if isinstance(layer.engine, LinkLayer) and layer.engine.clients is not None:
                layer.engine.clients.add(context.address)
    return context


async def serve(context: AppContext, app: App, finished: Callable[[], None]) -> None:
    """Run ``app`` on ``context`` from the run's start, then what it left lingering (the transport's TIME-WAIT,
    exchanges' last answers); ``finished`` is called when it is over, whether it returned or failed."""
    try:
        context.owner = current_task()
        assert await context.port.next() is STARTUP
        await app(context)
        for linger in context.lingering:
            await linger()
    finally:
        finished()
        context.port.close()


def run_apps(scenario: Scenario, apps: dict[str, App], purpose_id: int = APPLICATION_PURPOSE_ID,
             seed: int | None = None, pcap: BinaryIO | None = None, secret: bytes | None = None) -> RunResult:
    """Run ``scenario`` with an application coroutine on each named node (blocking).

    The run ends when every application has returned (and the scenario's own workload is done), or at the
    scenario's duration: an application still running then is cut off (its qubits are discarded at the end).
    The result's ``app_outcomes`` says which: "finished" or "cut off" for each node (an application that raises
    makes ``run_apps`` raise it). Every application listens on ``purpose_id`` (0 to 0x7FFF; ValueError
    otherwise) at its node's link layer and network layer: OKs for requests with that Purpose ID reach it.
    ``pcap``: capture every datagram and photon there. An application must end every qubit it was given
    (measure it, teleport it or discard it): one left in memory fails the run with an AccountingError naming
    it. ``secret``: keys authenticated classical control instead of the scenario's key file or a fresh random
    secret (as :func:`stack.runtime.build`).

    An exception that escapes an application (a :class:`LinkError` it does not catch, say) ends the run: the
    other applications are cancelled, and it comes out of ``run_apps`` inside trio's ``ExceptionGroup``,
    together with any other application's that failed meanwhile, and so does the AccountingError: catch them
    with ``except* LinkError:``, or inside the application. Time inside an application is the emulator's
    virtual time (``ctx.now``, ``ctx.sleep``); trio's own timeouts (``trio.move_on_after``, ``fail_after``)
    count wall-clock seconds, which a virtual-time run spends at its own speed, so do not bound an emulated
    wait with them: ``ctx.recv`` has no timeout of its own (the exchanges of :mod:`stack.api.exchange` give up
    after a bounded number of retransmissions, in virtual time).

    A scenario's own ``[[application]]`` or ``[[circuit]]`` entries are not yours to mix with: ValueError
    (run them with :func:`stack.api.scenario_apps.run_applications` or ``qnet run``). Each application's context
    serves its own task only, and only while it runs (RuntimeError otherwise, :class:`AppContext`).

        >>> from stack.scenario import load
        >>> run_apps(load("examples/api/parity.toml"), {})
        Traceback (most recent call last):
        ...
        ValueError: apps: the scenario has [[application]] entries, which run_apps does not run: run them ...
    """
    for entries, what in ((scenario.applications, "[[application]]"), (scenario.circuits, "[[circuit]]")):
        if entries:
            raise ValueError(f"apps: the scenario has {what} entries, which run_apps does not run: run them with "
                             "stack.api.scenario_apps.run_applications(scenario) or qnet run, or remove them to "
                             "run your own applications")
    return run_roles(scenario, apps, purpose_id, seed, pcap, secret)


def run_roles(scenario: Scenario, apps: dict[str, App], purpose_id: int = APPLICATION_PURPOSE_ID,
              seed: int | None = None, pcap: BinaryIO | None = None, secret: bytes | None = None) -> RunResult:
    """:func:`run_apps` for the roles the scenario's own entries make (``[[application]]``, ``[[circuit]]``)."""
    check_nodes(scenario, apps, purpose_id)
    emu = build(scenario, seed, pcap, network_layers=True, secret=secret)
    addresses = directory(scenario, apps)
    contexts = [(attach(emu, node, purpose_id, addresses), app) for node, app in apps.items()]
    emu.api_running = len(contexts)
    returned: set[str] = set()

    def finished() -> None:
        emu.api_running -= 1
        stop_when_done(emu)

    def returning(node: str, app: App) -> App:
        async def run(context: AppContext) -> None:
            await app(context)
            returned.add(node)
        return run

    def cut_off() -> dict[int, set[int]]:
        """An application the run's end cut off may hold any slot of its node (some in OKs it never read)."""
        nodes = emu.medium.nodes
        return {context.node_id: set(range(nodes[context.node_id].slots + nodes[context.node_id].storage
                                           + nodes[context.node_id].data))
                for context, _ in contexts if context.node not in returned}

    emu.claims.append(cut_off)

    async def main() -> RunResult:
        async with trio.open_nursery() as nursery:
            for context, app in contexts:
                nursery.start_soon(serve, context, returning(context.node, app), finished)
            result = await run_async(emu)
            nursery.cancel_scope.cancel()           # applications the run's end cut off (they did not finish)
            return result

    result = trio.run(main)
    result.app_outcomes = {node: FINISHED if node in returned else CUT_OFF for node in apps}
    return result
