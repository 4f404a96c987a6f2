"""The one line ``qnet node NAME`` prints at the end of its run (:func:`node_summary`)."""

from __future__ import annotations

from pathlib import Path

from protocols.apps.workload import EntanglementUser
from protocols.packets.linkservice import ERROR_CODES
from stack.multiprocess.node_apps import NodeApps
from stack.multiprocess.realtime import RealtimeKernel
from stack.runtime import Emulation


def node_summary(name: str, kernel: RealtimeKernel, emu: Emulation, apps: NodeApps | None, run_dir: Path) -> str:
    """How node ``name``'s run went: emulated end, datagrams, each workload's pairs and troubles, its application,
    lateness and capture."""
    network = emu.network
    counters = network.counters[emu.scenario.nodes[name].node_id]
    parts = [f"qnet node {name}: finished at emulated {kernel.now / 1e6:.3f} ms",
             f"{counters.sent} datagrams sent, {counters.received} received"]
    for workload in emu.workloads:
        item = workload.config
        label = f"{item.node}->{item.remote} {item.type}"
        if item.node == name:
            parts.append(f"{label}: {len(workload.origin.records)}/{item.pairs} pairs{_troubles(workload.origin)}")
        elif item.remote == name:
            parts.append(f"{label} (responder): {len(workload.responder.records)} pairs"
                         f"{_troubles(workload.responder)}")
    if apps is not None and apps.contexts:
        state = "done" if apps.completed == len(apps.contexts) else "did not finish"
        parts.append(f"application: {state if apps.failure is None else f'failed ({apps.failure})'}")
    parts.append(f"missed deadlines {kernel.missed_deadlines}, late inputs {kernel.late_inputs}")
    pcap = network.pcap
    parts.append(f"capture {run_dir / (name + '.pcap')} ({0 if pcap is None else pcap.frames} frames)")
    return "; ".join(parts)


def _troubles(user: EntanglementUser) -> str:
    expired = f", {len(user.expired)} expired" if user.expired else ""
    errors = f", ERR {','.join(ERROR_CODES.get(code, str(code)) for code in user.errors)}" if user.errors else ""
    return expired + errors
