"""Teleportation (transport layer, QTP) through the application API: oracles, loss, deadlines."""

from __future__ import annotations

import math

import pytest

from protocols.common import Basis
from protocols.packets import linkservice as ll
from protocols.packets import qtp
from protocols.transport.model import deadline_budget_ns, stored_fidelity, teleport_fidelity
from stack.api import AppContext, LinkError, TransportError, run_apps
from stack.api.transport import Teleporter
from stack.scenario import load_text

SCENARIO = """
[run]
duration_ms = 1e5
[nodes.alice]
kind = "qpu"
data_qubits = 2
t1_ms = 1e9
t2_ms = 1e9
[nodes.bob]
kind = "qpu"
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

STATES = {"0": ((), Basis.Z, 0), "1": (("X",), Basis.Z, 1), "+": (("H",), Basis.X, 0),
          "-": (("X", "H"), Basis.X, 1), "+i": (("H", "S"), Basis.Y, 0), "-i": (("X", "H", "S"), Basis.Y, 1)}
"""The six stabiliser states: the gates that prepare each from |0⟩, the basis it is an eigenstate of, and the
outcome it always gives there."""


def teleport_six(scenario: str, per_state: int, seed: int = 1) -> tuple[dict[str, int], list[Teleporter]]:
    """Teleport ``per_state`` copies of each stabiliser state alice → bob; bob measures each in its basis.
    A copy lost on the way (its pair expired under classical loss) is sent again. Returns the number of right
    outcomes per state, and the two teleporters."""
    right = dict.fromkeys(STATES, 0)
    hosts: list[Teleporter] = []
    lost: list[int] = []

    async def alice(ctx: AppContext) -> None:
        teleporter = Teleporter(ctx)
        hosts.append(teleporter)
        for gates, _, _ in STATES.values():
            sent = 0
            while sent < per_state:
                slot = ctx.qubit()
                for gate in gates:
                    ctx.gate(gate, slot)
                try:
                    await teleporter.send("bob", slot)
                    sent += 1
                except TransportError as error:
                    lost.append(error.code)
                except LinkError as error:      # the link layer gave up on the pair, or retracted it
                    assert error.code in (ll.ERR_TIMEOUT, ll.ERR_EXPIRE)
                    ctx.discard(slot)

    async def bob(ctx: AppContext) -> None:
        teleporter = Teleporter(ctx)
        hosts.append(teleporter)
        for name, (_, basis, want) in STATES.items():
            received = 0
            while received < per_state:
                try:
                    slot = await teleporter.recv("alice")
                except LinkError as error:
                    assert error.code in (ll.ERR_TIMEOUT, ll.ERR_EXPIRE)
                    continue
                except TransportError as error:       # the pair was retracted after this end took it
                    assert error.code == qtp.ERR_NOPAIR
                    continue
                right[name] += await ctx.measure(slot, basis) == want
                received += 1

    result = run_apps(load_text(scenario, "<transport>"), {"alice": alice, "bob": bob}, seed=seed)
    assert result.ledger["created"] == result.ledger["measured"] + result.ledger["discarded"]
    assert set(lost) <= {qtp.ERR_NOPAIR}
    hosts[0].engine.counters.lost = len(lost)
    return right, hosts


def test_the_six_stabiliser_states_arrive_exactly_over_ideal_pairs() -> None:
    right, _ = teleport_six(SCENARIO, 4)
    assert right == dict.fromkeys(STATES, 4)


def test_average_fidelity_over_werner_pairs_is_two_f_plus_one_over_three() -> None:
    """Depolarising d gives Werner pairs of F = 1 − 3d/4; the six states are a 2-design, so their mean
    fidelity (the probability of the eigenvalue measured in each state's basis) is the Bloch-sphere average
    (2F + 1)/3. Tolerance: four binomial standard errors."""
    d, per_state = 0.2, 150
    right, _ = teleport_six(SCENARIO.replace("depolarizing = 0.0", f"depolarizing = {d}"), per_state, seed=3)
    expected = teleport_fidelity(1 - 3 * d / 4)
    n = 6 * per_state
    measured = sum(right.values()) / n
    assert abs(measured - expected) < 4 * math.sqrt(expected * (1 - expected) / n)


def test_datagrams_lost_on_the_fibre_are_retransmitted_and_every_qubit_arrives() -> None:
    lossy = SCENARIO.replace("depolarizing = 0.0", "depolarizing = 0.0\nclassical_loss = 0.15")
    right, hosts = teleport_six(lossy, 3, seed=5)
    assert right == dict.fromkeys(STATES, 3)
    assert sum(host.engine.counters.retransmitted for host in hosts) > 0
    assert all(not host.engine.outgoing and not host.engine.incoming for host in hosts)


def test_a_qubit_whose_corrections_come_after_the_memory_deadline_is_lost_at_both_ends() -> None:
    """Bob's memory (T2 = 20 µs) holds the half only until storage alone would bring the teleported qubit to
    the classical limit; alice waits longer before she sends: bob discards his half and both ends raise
    TransportError DEADLINE."""
    short = SCENARIO.replace("t2_ms = 1e9\n[nodes.mid]", "t2_ms = 0.02\n[nodes.mid]")
    budget = deadline_budget_ns(1e15, 20_000)
    assert stored_fidelity(budget, 1e15, 20_000) == pytest.approx(2 / 3, abs=1e-6)
    errors: dict[str, int] = {}

    async def alice(ctx: AppContext) -> None:
        teleporter = Teleporter(ctx)
        pair, = await ctx.epr_socket("bob").create_keep(1, correct=False)
        slot = ctx.qubit()
        await ctx.sleep(2 * budget)
        with pytest.raises(TransportError) as lost:
            await teleporter.send_over("bob", slot, pair)
        errors["alice"] = lost.value.code
        assert await ctx.measure(slot) == 0                 # the qubit was kept, untouched

    async def bob(ctx: AppContext) -> None:
        with pytest.raises(TransportError) as lost:
            await Teleporter(ctx).recv("alice")
        errors["bob"] = lost.value.code

    result = run_apps(load_text(short, "<transport>"), {"alice": alice, "bob": bob})
    assert errors == {"alice": qtp.ERR_DEADLINE, "bob": qtp.ERR_DEADLINE}
    assert result.ledger["discarded"] == 2 and result.ledger["measured"] == 1     # the two halves; the qubit
