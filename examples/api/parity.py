"""A user's own protocol, written by hand on the application API: a Bell-pair parity check.

Alice and Bob share ``rounds`` kept pairs, one at a time (an EPR socket; the creating end turns each into
|Φ+⟩). Both measure pair ``k`` in Z when its sequence number is even, in X when odd; Alice then sends her
outcomes to Bob in application messages (real datagrams over the emulated fibre), each named by its request's
Create ID and Sequence Number (the link layer's 16-bit counter is shared by every request on the link and comes
round: the number alone would not name one pair), and Bob counts the pairs whose outcomes agree in each basis.
For a Werner pair of fidelity F (|Φ+⟩ with probability F, each other Bell state with (1 − F)/3) outcomes
agree in Z for Φ± and in X for Φ+ and Ψ+, so in either basis

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

PER_MESSAGE = 270
"""Outcomes per application message: (Create ID, Sequence Number, outcome) of 5 bytes each, within 1,400 bytes."""

PairName = tuple[int, int]
"""(Create ID, Sequence Number): one pair of the link, at both ends."""


def _basis(sequence_number: int) -> Basis:
    return Basis.X if sequence_number % 2 else Basis.Z


def _peer(ctx: AppContext) -> str:
    """The other node that runs this application."""
    return next(node for node in ctx.directory if node != ctx.node)


async def alice_main(ctx: AppContext, rounds: int) -> dict[str, int]:
    """Create and measure ``rounds`` pairs with the peer, then send it the outcomes."""
    bob = _peer(ctx)
    epr = ctx.epr_socket(bob)
    outcomes: list[tuple[int, int, int]] = []
    while len(outcomes) < rounds:
        pairs = await epr.create_keep(1)             # empty if the layer retracted the pair (ERR EXPIRE)
        for pair in pairs:
            outcome = await ctx.measure(pair.slot, _basis(pair.sequence_number))
            outcomes.append((pair.create_id, pair.sequence_number, outcome))
    for first in range(0, len(outcomes), PER_MESSAGE):
        chunk = outcomes[first:first + PER_MESSAGE]
        ctx.send(bob, struct.pack("!H", len(chunk)) + b"".join(struct.pack("!HHB", *named) for named in chunk))
    return {"pairs": len(outcomes)}


async def bob_main(ctx: AppContext, rounds: int) -> dict[str, int]:
    """Receive and measure ``rounds`` pairs, then compare with Alice's outcomes: agreements per basis."""
    alice = _peer(ctx)
    epr = ctx.epr_socket(alice)
    mine: dict[PairName, int] = {}
    while len(mine) < rounds:
        for pair in await epr.recv_keep(1):
            outcome = await ctx.measure(pair.slot, _basis(pair.sequence_number))
            mine[pair.create_id, pair.sequence_number] = outcome
    theirs: dict[PairName, int] = {}
    while len(theirs) < len(mine):
        _, payload = await ctx.recv(alice)
        count, = struct.unpack_from("!H", payload)
        for i in range(count):
            create_id, sequence_number, outcome = struct.unpack_from("!HHB", payload, 2 + 5 * i)
            theirs[create_id, sequence_number] = outcome
    found = {"z_pairs": 0, "z_equal": 0, "x_pairs": 0, "x_equal": 0}
    for (create_id, sequence_number), outcome in mine.items():
        name = _basis(sequence_number).name.lower()
        found[f"{name}_pairs"] += 1
        found[f"{name}_equal"] += outcome == theirs[create_id, sequence_number]
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
