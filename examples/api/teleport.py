"""Teleportation (QTP, UDP 7776) from Alice to Bob (python examples/api/teleport.py).

Alice prepares |+⟩ and |1⟩ and teleports them over one request of two pairs (``send_many``); Bob measures in
X and Z. Then both run the six-state
application and print the average fidelity next to its closed form (2F + 1)/3.
"""

from __future__ import annotations

from pathlib import Path

from protocols.common import Basis
from protocols.transport.model import teleport_fidelity
from stack.api import AppContext, run_apps
from stack.api.apps import teleport_states
from stack.api.transport import Teleporter
from stack.scenario import load

SCENARIO = Path(__file__).with_name("pair.toml")
fidelities: list[float] = []


async def alice(ctx: AppContext) -> None:
    teleporter = Teleporter(ctx)
    plus, one = ctx.qubit(), ctx.qubit()
    ctx.gate("H", plus)
    ctx.gate("X", one)
    await teleporter.send_many("bob", [plus, one])           # one CREATE; teleporter.send makes one per qubit
    await teleport_states(ctx, "bob", 30, "create")


async def bob(ctx: AppContext) -> None:
    teleporter = Teleporter(ctx)
    plus, one = await teleporter.recv_many("alice", 2)
    print(f"bob: |+> measured in X: {await ctx.measure(plus, Basis.X)}")
    print(f"bob: |1> measured in Z: {await ctx.measure(one, Basis.Z)}")
    result = await teleport_states(ctx, "alice", 30, "recv")
    fidelities.append(result.fidelity)


def main() -> None:
    run_apps(load(SCENARIO), {"alice": alice, "bob": bob})
    print(f"six states: average fidelity {fidelities[0]:.3f} (closed form for depolarizing 0.05 without memory "
          f"noise: {teleport_fidelity(1 - 3 * 0.05 / 4):.3f})")


if __name__ == "__main__":
    main()
