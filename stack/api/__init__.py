"""Write an application as a trio coroutine and run it on an emulated node.

Each application gets an :class:`AppContext` on its node. With it the application

- opens EPR sockets to any QPU (:meth:`AppContext.epr_socket`, :class:`EPRSocket`: ``create_keep`` /
  ``recv_keep``, ``create_measure`` / ``recv_measure``, with number, minimum fidelity and max time; the
  measured ones also as arrays, ``create_measure_arrays`` / ``recv_measure_arrays``, as a link with ``batch``
  delivers them in blocks), served by
  the link layer for a neighbour and by the network layer otherwise; or sends CREATEs itself
  (:meth:`AppContext.create`, :meth:`AppContext.next_message`);
- works on its node's qubits through the medium's commands: :meth:`~AppContext.qubit` (a data qubit in |0⟩),
  :meth:`~AppContext.gate` (Clifford gates), :meth:`~AppContext.measure`, :meth:`~AppContext.bell_measure`,
  :meth:`~AppContext.discard`; a command the medium refuses raises :class:`QuantumError`;
- sends classical messages to the applications on other nodes (:meth:`~AppContext.send`,
  :meth:`~AppContext.recv`), real datagrams on the emulated network;
- teleports qubits (:mod:`stack.api.transport`, QTP on UDP 7776) and runs remote gates
  (:mod:`stack.api.remote`).

An application is one task on its context: a call from any other task (a trio nursery's) raises RuntimeError at
once ("an AppContext is called from its application's own task only": the emulator's queue, never trio's
scheduling, orders what an application does), as does a call once the run has ended.

With :func:`run_apps` all awaits are on the emulator's virtual time, and the run stays deterministic; ``qnet up``
runs a scenario's ``[[application]]`` and ``[[circuit]]`` roles with the same code in its node processes, on
dilated real time (:mod:`stack.multiprocess.node_apps`). Example (examples/api/ has runnable ones)::

    async def alice(ctx: AppContext) -> None:
        epr = ctx.epr_socket("bob")
        for pair in await epr.create_keep(number=2):
            print(pair.sequence_number, await ctx.measure(pair.slot, Basis.Z))

    async def bob(ctx: AppContext) -> None:
        epr = ctx.epr_socket("alice")
        for pair in await epr.recv_keep(number=2):
            print(pair.sequence_number, await ctx.measure(pair.slot, Basis.Z))

    result = run_apps(load("my.toml"), {"alice": alice, "bob": bob})

The same coroutines (returning what the report should hold) run from a scenario under ``qnet run`` and ``qnet
up``: an ``[[application]]`` of kind "python" names their file and a function per node
(:mod:`stack.api.user_apps`, docs/scenario.md; examples/api/parity.py).
"""

from stack.api.context import AppContext
from stack.api.epr import EPRSocket, KeptPair, MeasuredPair, MeasuredPairs
from stack.api.errors import BellMeasurementFailed, LinkError, QuantumError, TransportError
from stack.api.run import API_PORT_BASE, App, run_apps

__all__ = ["API_PORT_BASE", "App", "AppContext", "BellMeasurementFailed", "EPRSocket", "KeptPair", "LinkError",
           "MeasuredPair", "MeasuredPairs", "QuantumError", "TransportError", "run_apps"]
