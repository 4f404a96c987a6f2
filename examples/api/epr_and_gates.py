"""EPR sockets, local gates and application messages (python examples/api/epr_and_gates.py).

Alice and Bob share four pairs (corrected to |Φ+⟩ by the creating end) and measure them in Z; Alice builds a
Bell state of her two data qubits with H and CNOT; Bob tells Alice his outcomes in a message; a refused
command raises QuantumError.
"""

from __future__ import annotations

from pathlib import Path

from protocols.common import Basis
from stack.api import AppContext, QuantumError, run_apps
from stack.scenario import load

SCENARIO = Path(__file__).with_name("pair.toml")


async def alice(ctx: AppContext) -> None:
    pairs = await ctx.epr_socket("bob").create_keep(number=4)
    mine = [await ctx.measure(pair.slot, Basis.Z) for pair in pairs]
    a, b = ctx.qubit(), ctx.qubit()
    ctx.gate("H", a)
    ctx.gate("CNOT", a, b)
    print(f"alice: data qubits measured {await ctx.measure(a)} {await ctx.measure(b)} (always equal)")
    try:
        ctx.gate("H", a)                      # measured already: the hardware refuses
    except QuantumError as error:
        print(f"alice: {error}")
    _, message = await ctx.recv("bob")
    print(f"alice: pairs in Z: mine {mine}, bob's {list(message)}")


async def bob(ctx: AppContext) -> None:
    pairs = await ctx.epr_socket("alice").recv_keep(number=4)
    ctx.send("alice", bytes([await ctx.measure(pair.slot, Basis.Z) for pair in pairs]))


def main() -> None:
    result = run_apps(load(SCENARIO), {"alice": alice, "bob": bob})
    print(f"qubits: {result.ledger['created']} created, {result.ledger['measured']} measured")


if __name__ == "__main__":
    main()
