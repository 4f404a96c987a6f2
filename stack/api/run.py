"""run_apps: a scenario with an application coroutine on each named node, in virtual time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import BinaryIO

import trio

from protocols.common import Address
from protocols.link.layer import LinkLayer
from protocols.network.layer import NetworkLayer
from stack.api.context import AppContext
from stack.core.capture import node_ip
from stack.core.kernel import STARTUP
from stack.runtime import RunResult, build, run_async, stop_when_done
from stack.scenario import Scenario

App = Callable[[AppContext], Awaitable[None]]
API_PORT_BASE = 50000
"""Applications run through this API bind consecutive ports from here on their node, in the order given."""


async def _serve(context: AppContext, app: App) -> None:
    try:
        assert await context.port.next() is STARTUP
        await app(context)
        for linger in context.lingering:
            await linger()
    finally:
        context.emu.api_running -= 1
        stop_when_done(context.emu)
        context.port.close()


def run_apps(scenario: Scenario, apps: dict[str, App], purpose_id: int = 100, seed: int | None = None,
             pcap: BinaryIO | None = None, secret: bytes | None = None) -> RunResult:
    """Run ``scenario`` with an application coroutine on each named node (blocking).

    Every application listens on ``purpose_id`` (below 0x8000) at its node's link layer and network layer:
    OKs for requests with that Purpose ID reach it. The run ends when every application has returned (and
    the scenario's own workload is done). ``pcap``: capture every datagram and photon there. An application
    must end every qubit it was given (measure it, teleport it or discard it): one left in memory fails the
    run with an AccountingError naming it. ``secret``: keys authenticated classical control instead of the
    scenario's key file or a fresh random secret (as :func:`stack.runtime.build`).
    """
    for node in apps:
        if node not in scenario.nodes or scenario.nodes[node].kind != "qpu":
            raise ValueError(f"apps: {node!r} is not a QPU of the scenario")
    emu = build(scenario, seed, pcap, network_layers=True, secret=secret)
    directory: dict[str, Address] = {node: (node_ip(scenario.nodes[node].node_id), API_PORT_BASE + index)
                                     for index, node in enumerate(apps)}
    contexts = []
    for index, (node, app) in enumerate(apps.items()):
        context = AppContext(emu, node, API_PORT_BASE + index, purpose_id, directory)
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
                nursery.start_soon(_serve, context, app)
            return await run_async(emu)

    return trio.run(main)
