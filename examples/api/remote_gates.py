"""A remote CNOT by gate teleportation, and a GHZ state over three QPUs (python examples/api/remote_gates.py).

Alice's |+⟩ controls a CNOT on Bob's |0⟩ (one pair, one bit each way): they end in |Φ+⟩, so their Z outcomes
agree. Then Carol fuses pairs with Alice and Bob into a three-qubit GHZ state, measured in every setting of
its stabiliser group; the fidelity is printed with its closed form.
"""

from __future__ import annotations

from typing import Any

from protocols.common import Basis
from stack.api import AppContext, run_apps
from stack.api.ghz import ghz_center, ghz_leaf, werner_ghz_fidelity
from stack.api.remote import remote_cnot
from stack.scenario import load_text

QPU = 'kind = "qpu"\ndata_qubits = 1\nstorage_qubits = 2\nt2_ms = 100.0\n'
SCENARIO = "[run]\nduration_ms = 1e5\n" + "".join(f"[nodes.{n}]\n{QPU}" for n in ("alice", "bob", "carol")) + "".join(
    f'[nodes.s{a}{b}]\nkind = "station"\n[links.{a}{b}]\na = "{a}"\nb = "{b}"\nstation = "s{a}{b}"\nlength_km = 1.0\n'
    f"depolarizing = 0.05\n" for a, b in (("alice", "bob"), ("carol", "alice"), ("carol", "bob")))
SHOTS = 200
results: dict[str, Any] = {}


async def alice(ctx: AppContext) -> None:
    control = ctx.qubit()
    ctx.gate("H", control)
    await remote_cnot(ctx, "bob", control, "control")
    ctx.send("bob", bytes([await ctx.measure(control, Basis.Z)]))
    await ghz_leaf(ctx, "carol", 1, 3, SHOTS)


async def bob(ctx: AppContext) -> None:
    target = ctx.qubit()
    await remote_cnot(ctx, "alice", target, "target")
    mine = await ctx.measure(target, Basis.Z)
    _, theirs = await ctx.recv("alice")
    results["cnot"] = (theirs[0], mine)
    await ghz_leaf(ctx, "carol", 2, 3, SHOTS)


async def carol(ctx: AppContext) -> None:
    results["ghz"] = await ghz_center(ctx, ["alice", "bob"], SHOTS)


def main() -> None:
    run_apps(load_text(SCENARIO, "remote_gates"), {"alice": alice, "bob": bob, "carol": carol})
    print(f"remote CNOT on |+>|0>: Z outcomes {results['cnot']} (equal but for noise)")
    value, error = results["ghz"].fidelity()
    print(f"GHZ over carol, alice, bob: fidelity {value:.3f} ± {error:.3f} (Werner pairs, no memory noise: "
          f"{werner_ghz_fidelity(1 - 3 * 0.05 / 4, 2):.3f})")


if __name__ == "__main__":
    main()
