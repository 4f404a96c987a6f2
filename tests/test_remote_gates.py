"""Remote CNOT and CZ by gate teleportation, and teledata, through the API.

Oracles: on ideal pairs the remote gate is the local gate exactly (the medium's stabiliser state of the four
data qubits equals stim's reference, signs included, on random stabiliser inputs); on Werner pairs the gate is
followed by the Pauli channel of stack.api.remote's docstring (checked on |+⟩|0⟩, whose image is |Φ+⟩: ZZ
flips with X_t, XX with Z_c, each 2(1 − F)/3), whose average gate fidelity is (4F + 1)/5."""

from __future__ import annotations

import math
import random

import stim

from protocols.common import Basis
from protocols.transport.model import teleport_fidelity
from stack.api import AppContext, run_apps
from stack.api.remote import remote_gate, remote_gate_fidelity, teledata
from stack.scenario import load_text
from tests.test_transport import SCENARIO

IDEAL = SCENARIO.replace("[nodes.bob]\nkind = \"qpu\"", "[nodes.bob]\nkind = \"qpu\"\ndata_qubits = 2")
ONE_QUBIT = ("H", "S", "X", "Z", "SQRT_X", "I")


def _state(medium: object, qubits: list[tuple[int, int]]) -> list[stim.PauliString]:
    """The canonical stabilisers of the medium's state of ``qubits`` ((node id, slot), in this order), which
    must not be entangled with anything else."""
    held = [medium.nodes[node].held[slot] for node, slot in qubits]  # type: ignore[attr-defined]
    position = {id(q): i for i, q in enumerate(held)}
    stabilizers = []
    for component in {id(q.component): q.component for q in held}.values():
        assert all(id(m) in position for m in component.members), "entangled with another qubit"
        for s in component.sim.canonical_stabilizers():
            full = stim.PauliString(len(held))
            for i, member in enumerate(component.members):
                full[position[id(member)]] = s[i]
            full.sign = s.sign
            stabilizers.append(full)
    return stim.Tableau.from_stabilizers(stabilizers).to_stabilizers(canonicalize=True)


def _program(rng: random.Random) -> list[tuple[str, tuple[int, ...]]]:
    """Random stabiliser inputs on qubits 0, 1 (alice: control and a partner) and 2, 3 (bob: target, partner)."""
    ops = [(rng.choice(ONE_QUBIT), (q,)) for q in range(4) for _ in range(3)]
    if rng.random() < 0.7:
        ops.append(("CNOT", (1, 0)))
    if rng.random() < 0.7:
        ops.append(("CNOT", (3, 2)))
    return ops + [(rng.choice(ONE_QUBIT), (q,)) for q in range(4)]


def _remote_trial(gate: str, program: list[tuple[str, tuple[int, ...]]], seed: int) -> list[stim.PauliString]:
    """Run ``program`` on the four data qubits, then the remote ``gate`` 0 → 2; the medium's final state."""
    got: list[list[stim.PauliString]] = []
    slots: dict[str, list[int]] = {}

    def end(name: str, role: str, remote: str, mine: tuple[int, int]):  # type: ignore[no-untyped-def]
        async def run(ctx: AppContext) -> None:
            here = [ctx.qubit(), ctx.qubit()]
            slots[name] = here
            for op, qubits in program:
                if all(q in mine for q in qubits):
                    ctx.gate(op, *(here[mine.index(q)] for q in qubits))
            await remote_gate(ctx, gate, remote, here[0], role)
            if name == "bob":
                await ctx.sleep(50_000)                       # alice's last Z correction is in
                got.append(_state(ctx.emu.medium, [(1, s) for s in slots["alice"]] + [(2, s) for s in slots["bob"]]))
            else:
                await ctx.sleep(100_000)
            for slot in here:
                ctx.discard(slot)
        return run

    run_apps(load_text(IDEAL, "<remote>"), {"alice": end("alice", "control", "bob", (0, 1)),
                                             "bob": end("bob", "target", "alice", (2, 3))}, seed=seed)
    assert len(got) == 1
    return got[0]


def test_on_ideal_pairs_a_remote_gate_is_the_local_gate_exactly() -> None:
    rng = random.Random(15)
    for trial in range(8):
        gate = "CNOT" if trial % 2 == 0 else "CZ"
        program = _program(rng)
        reference = stim.TableauSimulator()
        reference.set_num_qubits(4)
        for op, qubits in [*program, (gate, (0, 2))]:
            if op != "I":
                getattr(reference, {"CNOT": "cx", "CZ": "cz"}.get(op, op.lower()))(*qubits)
        assert _remote_trial(gate, program, trial) == reference.canonical_stabilizers(), (trial, gate)


def test_on_werner_pairs_the_remote_cnot_is_followed_by_its_pauli_channel() -> None:
    d, n = 0.2, 500
    f = 1 - 3 * d / 4
    flips = {Basis.Z: [0, 0], Basis.X: [0, 0]}

    async def alice(ctx: AppContext) -> None:
        for i in range(n):
            c = ctx.qubit()
            ctx.gate("H", c)
            await remote_gate(ctx, "CNOT", "bob", c, "control")
            basis = Basis.Z if i % 2 == 0 else Basis.X
            ctx.send("bob", bytes([await ctx.measure(c, basis)]))

    async def bob(ctx: AppContext) -> None:
        for i in range(n):
            t = ctx.qubit()
            await remote_gate(ctx, "CNOT", "alice", t, "target")
            basis = Basis.Z if i % 2 == 0 else Basis.X
            mine = await ctx.measure(t, basis)
            _, theirs = await ctx.recv("alice")
            flips[basis][0] += mine ^ theirs[0]
            flips[basis][1] += 1

    werner = IDEAL.replace("depolarizing = 0.0", f"depolarizing = {d}")
    run_apps(load_text(werner, "<remote>"), {"alice": alice, "bob": bob}, seed=9)
    expected = 2 * (1 - f) / 3
    for errors, count in flips.values():
        assert abs(errors / count - expected) < 4 * math.sqrt(expected * (1 - expected) / count)
    assert remote_gate_fidelity(f) == (4 * f + 1) / 5


def test_teledata_moves_a_qubit() -> None:
    outcomes: list[int] = []

    async def alice(ctx: AppContext) -> None:
        for _ in range(10):
            q = ctx.qubit()
            ctx.gate("X", q)
            ctx.gate("H", q)                                        # |−⟩
            await teledata(ctx, "bob", q, "send")

    async def bob(ctx: AppContext) -> None:
        for _ in range(10):
            slot = await teledata(ctx, "alice", None, "recv")
            assert slot is not None
            outcomes.append(await ctx.measure(slot, Basis.X))

    run_apps(load_text(IDEAL, "<remote>"), {"alice": alice, "bob": bob})
    assert outcomes == [1] * 10 and teleport_fidelity(1.0) == 1.0
