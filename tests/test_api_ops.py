"""The application API's EPR sockets, local operations, refusals and messages (stack.api)."""

from __future__ import annotations

import pytest

from protocols.common import Basis
from stack.api import AppContext, QuantumError, run_apps
from stack.scenario import load_text

SCENARIO = """
[run]
duration_ms = 1e4
[nodes.alice]
kind = "qpu"
data_qubits = 3
storage_qubits = 10
t1_ms = 1e9
t2_ms = 1e9
[nodes.bob]
kind = "qpu"
data_qubits = 3
storage_qubits = 10
t1_ms = 1e9
t2_ms = 1e9
[nodes.mid]
kind = "station"
[links.ab]
a = "alice"
b = "bob"
station = "mid"
length_km = 2.0
depolarizing = 0.0
"""


def test_corrected_kept_pairs_are_phi_plus_in_z_and_x() -> None:
    """Whatever Bell state was heralded, the creating end's correction leaves |Φ+⟩: equal outcomes in Z and in
    X on a noiseless link, every time."""
    outcomes: dict[str, list[tuple[int, int]]] = {"alice": [], "bob": []}

    async def alice(ctx: AppContext) -> None:
        epr, pairs = ctx.epr_socket("bob"), []
        for _ in range(2):                              # 10 storage qubits: 10 pairs at a time
            batch = await epr.create_keep(number=10)
            pairs += batch
            for pair in batch:
                outcomes["alice"].append((pair.sequence_number,
                                          await ctx.measure(pair.slot, Basis(pair.sequence_number % 2))))
        assert {pair.bell_state for pair in pairs} != {0}      # some pairs needed a correction

    async def bob(ctx: AppContext) -> None:
        epr = ctx.epr_socket("alice")
        for _ in range(2):
            for pair in await epr.recv_keep(number=10):
                outcomes["bob"].append((pair.sequence_number,
                                        await ctx.measure(pair.slot, Basis(pair.sequence_number % 2))))

    run_apps(load_text(SCENARIO, "<api>"), {"alice": alice, "bob": bob})
    assert len(outcomes["alice"]) == 20 and sorted(outcomes["alice"]) == sorted(outcomes["bob"])


def test_measure_directly_pairs_are_corrected_at_the_creating_end() -> None:
    got: dict[str, dict[int, tuple[int, int]]] = {"alice": {}, "bob": {}}

    async def alice(ctx: AppContext) -> None:
        for pair in await ctx.epr_socket("bob").create_measure(number=40, random_basis="XZ"):
            got["alice"][pair.sequence_number] = (int(pair.basis), pair.outcome)

    async def bob(ctx: AppContext) -> None:
        for pair in await ctx.epr_socket("alice").recv_measure(number=40):
            got["bob"][pair.sequence_number] = (int(pair.basis), pair.outcome)

    run_apps(load_text(SCENARIO, "<api>"), {"alice": alice, "bob": bob})
    same = [seq for seq in got["alice"] if got["alice"][seq][0] == got["bob"][seq][0]]
    assert len(same) > 5
    assert all(got["alice"][seq][1] == got["bob"][seq][1] for seq in same)
    assert {basis for basis, _ in got["alice"].values()} == {0, 1}


def test_local_gates_make_a_bell_state_of_two_data_qubits_and_messages_cross_the_network() -> None:
    seen: list[object] = []

    async def alice(ctx: AppContext) -> None:
        for _ in range(20):
            a, b = ctx.qubit(), ctx.qubit()
            ctx.gate("H", a)
            ctx.gate("CNOT", a, b)
            ma, mb = await ctx.measure(a), await ctx.measure(b)
            assert ma == mb
            seen.append(ma)
        ctx.send("bob", b"hello")
        sent_at = ctx.now
        assert await ctx.recv("bob") == ("bob", b"hello back")
        seen.append(ctx.now - sent_at)

    async def bob(ctx: AppContext) -> None:
        source, payload = await ctx.recv()
        ctx.send(source, payload + b" back")

    run_apps(load_text(SCENARIO, "<api>"), {"alice": alice, "bob": bob})
    assert set(seen[:20]) == {0, 1}
    assert 19_000 < seen[20] < 20_000           # a round trip over 2 + 2 km of fibre (~4.9 µs/km)


def test_refused_commands_raise_quantum_error_and_a_discarded_pair_is_accounted_for() -> None:
    async def alice(ctx: AppContext) -> None:
        with pytest.raises(QuantumError, match="no qubit in slot 7"):
            await ctx.measure(7)
        with pytest.raises(QuantumError, match="distinct held qubits"):
            ctx.gate("H", 5)
        with pytest.raises(QuantumError, match="unknown gate"):
            ctx.gate("T", 0)
        with pytest.raises(QuantumError, match="no qubit in slot 3"):
            ctx.discard(3)
        slots = [ctx.qubit() for _ in range(3)]
        with pytest.raises(QuantumError, match="no free data qubit"):
            ctx.qubit()
        for slot in slots:
            ctx.discard(slot)
        pair, = await ctx.epr_socket("bob").create_keep()
        ctx.discard(pair.slot)                      # released unmeasured: no AccountingError

    async def bob(ctx: AppContext) -> None:
        pair, = await ctx.epr_socket("alice").recv_keep()
        ctx.discard(pair.slot)

    result = run_apps(load_text(SCENARIO, "<api>"), {"alice": alice, "bob": bob})
    assert result.ledger["discarded"] == 5
    assert result.emulation.medium.rejected_commands == 1       # only the Measure was sent (and refused)
