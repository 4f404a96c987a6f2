"""The medium process of the multi-process mode (``qnet medium``, started by ``qnet up``).

It owns the quantum state and the physics of every link (:class:`stack.quantum.medium.Medium`,
:class:`stack.quantum.heralding.Heralding`), exactly as in-process, on a
:class:`stack.multiprocess.realtime.RealtimeKernel`. Node processes connect to its Unix socket
(``RUN_DIR/medium.sock``; protocol in :mod:`stack.multiprocess.medium_protocol`, ``docs/wire.md`` §10).

Run lifecycle (the medium is the run's coordinator):

1. every node process connects, gets a ``challenge`` and says ``hello``, proving the run's secret
   (``RUN_DIR/secret``, written by the medium with mode 0600); once all have, the medium fixes the
   epoch a moment ahead and sends each a ``welcome``;
2. generation runs until the scenario's duration, or until every node with a workload
   origin has said ``done`` or died; then ``drain`` (no new attempts) for the drain time, then on until every
   live node has said its layers ``settled`` and confirmed it when asked (``ask_settled``), or a bound passed
   (:mod:`stack.multiprocess.medium_settle`);
3. ``finish``: every node answers with its ``result`` (held qubits, counters, application
   records) and exits; the medium checks the qubit ledger and writes ``report.json``.

A node whose connection closes early (killed) is *dead*: its arms are withdrawn so its
links stop generating, its peers get ``peer_down``, and its qubits are counted as lost. The
medium sees the end of stream as soon as the process is gone, so a dead workload origin
ends generation at once when no live origin is left. Before the run has started, a node
that disconnects is simply forgotten and may connect again.

No client can crash the medium or stall the run: :mod:`stack.multiprocess.gate` admits the run's nodes and
nobody else, whatever one connection sends ends at most that connection (counted in the report), and a
node's message whose content is invalid is refused and counted without dropping the node.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import trio

from protocols.apps.dqc import NotExecutable
from protocols.compiler import CompileError
from stack.multiprocess.medium_ports import AHEAD_WALL_NS, Connection, MediumKernel, RemotePort
from stack.multiprocess.medium_server import STARTUP_TIMEOUT_S, MediumServer, process_nodes
from stack.multiprocess.outcome import EXIT_BAD_INPUT, EXIT_NOT_FINISHED
from stack.scenario import Scenario

__all__ = ["AHEAD_WALL_NS", "Connection", "MediumKernel", "MediumServer", "RemotePort", "process_nodes", "run_medium"]


def run_medium(scenario: Scenario, seed: int, run_dir: Path, dilation: float, tolerance_ns: int) -> int:
    """Entry point of ``qnet medium``: serve one run, write ``report.json``.

    Returns 0 once the report is written (:mod:`stack.multiprocess.outcome` then judges the run), 3 if not
    every node connected in time, 128 + N if signal N stopped it.
    """
    socket_path = run_dir / "medium.sock"
    for stale in (socket_path, *(run_dir / name for name in ("report.json", "started.json", "progress.json",
                                                              "secret"))):
        stale.unlink(missing_ok=True)          # a previous run's: never mistaken for this one's
    try:
        server = MediumServer(scenario, seed, run_dir, dilation, tolerance_ns)
    except (CompileError, NotExecutable) as error:       # the scenario's circuit
        print(f"qnet medium: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    (run_dir / "medium.pid").write_text(f"{os.getpid()}\n")
    try:
        document = trio.run(server.serve, socket_path)
    finally:
        socket_path.unlink(missing_ok=True)
        socket_path.with_name(socket_path.name + ".part").unlink(missing_ok=True)
    if server.signals:
        return 128 + server.signals[0]
    if document is None:
        missing = sorted(server.expected - set(server.connections))
        print(f"qnet medium: error: nodes never connected within {STARTUP_TIMEOUT_S:.0f} s: {', '.join(missing)}",
              file=sys.stderr)
        return EXIT_NOT_FINISHED
    (run_dir / "report.json").write_text(json.dumps(document, indent=2) + "\n")
    return 0
