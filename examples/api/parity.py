"""A user's own protocol, written by hand on the application API: a Bell-pair parity check.

Alice and Bob share ``rounds`` kept pairs, one at a time (an EPR socket; the creating end turns each into
|Φ+⟩). Both measure pair ``k`` in Z when its sequence number is even, in X when odd; Alice then sends her
outcomes to Bob in application messages (real datagrams over the emulated fibre), and Bob counts the pairs
whose outcomes agree in each basis. For a Werner pair of fidelity F (|Φ+⟩ with probability F, each other Bell
state with (1 − F)/3) outcomes agree in Z for Φ± and in X for Φ+ and Ψ+, so in either basis

    P(equal) = F + (1 − F)/3 = (1 + 2F)/3.

Run it from a scenario (it names this file and a function per node; ``args`` are their keyword arguments)::

    qnet run examples/api/parity.toml            # virtual time
    qnet up examples/api/parity.toml             # every node its own process
    python examples/api/parity.py                # the same through the Python API (run_applications)

What each function returns goes into the report's ``applications`` entry (``results``, by node).
"""

from __future__ import annotations

import struct
from pathlib import Path

from protocols.common import Basis
from stack.api import AppContext
from stack.api.scenario_apps import run_applications
from stack.scenario import load

PER_MESSAGE = 400
"""Outcomes per application message: (sequence number, outcome) pairs of 3 bytes, within 1,400 bytes."""


def _basis(sequence_number: int) -> Basis:
    return Basis.X if sequence_number % 2 else Basis.Z


def _peer(ctx: AppContext) -> str:
    """The other node that runs this application."""
    return next(node for node in ctx.directory if node != ctx.node)


async def alice_main(ctx: AppContext, rounds: int) -> dict[str, int]:
    """Create and measure ``rounds`` pairs with the peer, then send it the outcomes."""
    bob = _peer(ctx)
    epr = ctx.epr_socket(bob)
    outcomes = []
    while len(outcomes) < rounds:
        pairs = await epr.create_keep(1)             # empty if the layer retracted the pair (ERR EXPIRE)
        for pair in pairs:
            outcomes.append((pair.sequence_number, await ctx.measure(pair.slot, _basis(pair.sequence_number))))
    for first in range(0, len(outcomes), PER_MESSAGE):
        chunk = outcomes[first:first + PER_MESSAGE]
        ctx.send(bob, struct.pack("!H", len(chunk)) + b"".join(struct.pack("!HB", s, o) for s, o in chunk))
    return {"pairs": len(outcomes)}


async def bob_main(ctx: AppContext, rounds: int) -> dict[str, int]:
    """Receive and measure ``rounds`` pairs, then compare with Alice's outcomes: agreements per basis."""
    alice = _peer(ctx)
    epr = ctx.epr_socket(alice)
    mine: dict[int, int] = {}
    while len(mine) < rounds:
        for pair in await epr.recv_keep(1):
            mine[pair.sequence_number] = await ctx.measure(pair.slot, _basis(pair.sequence_number))
    theirs: dict[int, int] = {}
    while len(theirs) < len(mine):
        _, payload = await ctx.recv(alice)
        count, = struct.unpack_from("!H", payload)
        theirs.update(struct.unpack_from("!HB", payload, 2 + 3 * i) for i in range(count))
    found = {"z_pairs": 0, "z_equal": 0, "x_pairs": 0, "x_equal": 0}
    for sequence_number, outcome in mine.items():
        name = _basis(sequence_number).name.lower()
        found[f"{name}_pairs"] += 1
        found[f"{name}_equal"] += outcome == theirs[sequence_number]
    return found


def main() -> None:
    """Run examples/api/parity.toml (which names this file) in virtual time and print Bob's counts."""
    _, (entry,) = run_applications(load(Path(__file__).with_name("parity.toml")))
    bob = entry["results"]["bob"]
    for basis in ("z", "x"):
        print(f"parity check: outcomes equal in {basis.upper()} for {bob[basis + '_equal']} of "
              f"{bob[basis + '_pairs']} pairs")


if __name__ == "__main__":
    main()
