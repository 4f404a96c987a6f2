"""Teleportation (transport layer, QTP) through the application API: oracles, loss, deadlines."""

from __future__ import annotations

import math
from typing import Any

import pytest

from protocols.common import Basis
from protocols.packets import linkservice as ll
from protocols.packets import qtp
from protocols.transport.model import deadline_budget_ns, stored_fidelity, teleport_fidelity
from stack.api import AppContext, LinkError, TransportError, run_apps
from stack.api.transport import Teleporter, TeleportStream
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


def teleport_six(scenario: str, per_state: int, seed: int = 1,
                 streams: list[TeleportStream] | None = None) -> tuple[dict[str, int], list[Teleporter]]:
    """Teleport ``per_state`` copies of each stabiliser state alice → bob; bob measures each in its basis.
    A copy lost on the way (its pair expired under classical loss) is sent again. Returns the number of right
    outcomes per state, and the two teleporters. With ``streams`` (a list, which gets alice's stream), alice
    streams them over standing requests (:meth:`Teleporter.stream`) instead of a CREATE per qubit."""
    right = dict.fromkeys(STATES, 0)
    hosts: list[Teleporter] = []
    lost: list[int] = []

    async def alice(ctx: AppContext) -> None:
        teleporter = Teleporter(ctx)
        hosts.append(teleporter)
        stream = teleporter.stream("bob")
        if streams is not None:
            streams.append(stream)
        left = per_state * len(STATES)
        for gates, _, _ in STATES.values():
            sent = 0
            while sent < per_state:
                slot = ctx.qubit()
                for gate in gates:
                    ctx.gate(gate, slot)
                try:
                    if streams is None:
                        await teleporter.send("bob", slot)
                    else:
                        await stream.send(slot, remaining=left)
                    sent += 1
                    left -= 1
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


def test_an_err_of_the_receivers_own_request_is_not_taken_for_the_teleport() -> None:
    """``Teleporter.recv`` holds the remote's pairs: an ERR of the receiving node's own request waiting in its
    queue (Origin Node: this node) is left for that request, not raised here."""
    got: list[Any] = []

    async def alice(ctx: AppContext) -> None:
        slot = ctx.qubit()
        ctx.gate("X", slot)
        await Teleporter(ctx).send("bob", slot)

    async def bob(ctx: AppContext) -> None:
        own = ll.Err(7, ll.ERR_TIMEOUT, origin_node=ctx.node_id)
        ctx._messages.append(own)
        slot = await Teleporter(ctx).recv("alice")
        got.extend([await ctx.measure(slot, Basis.Z), own in ctx._messages])

    run_apps(load_text(SCENARIO, "<transport>"), {"alice": alice, "bob": bob}, seed=1)
    assert got == [1, True]


def test_a_stream_sends_every_qubit_over_one_request() -> None:
    """Streamed, the 24 qubits need one CREATE (of 24 pairs), and arrive exactly over ideal pairs."""
    streams: list[TeleportStream] = []
    right, _ = teleport_six(SCENARIO, 4, streams=streams)
    assert right == dict.fromkeys(STATES, 4)
    assert streams[0].requests == 1 and streams[0].left == 0


@pytest.mark.parametrize("streamed", [False, True])
def test_datagrams_lost_on_the_fibre_are_retransmitted_and_every_qubit_arrives(streamed: bool) -> None:
    """Also streamed: a pair retracted under loss makes the stream ask again for what is still to send, and
    no pair is left over (the ledger balances)."""
    lossy = SCENARIO.replace("depolarizing = 0.0", "depolarizing = 0.0\nclassical_loss = 0.15")
    streams: list[TeleportStream] | None = [] if streamed else None
    right, hosts = teleport_six(lossy, 3, seed=5, streams=streams)
    assert right == dict.fromkeys(STATES, 3)
    assert sum(host.engine.counters.retransmitted for host in hosts) > 0
    assert all(not host.engine.outgoing and not host.engine.incoming for host in hosts)
    if streams:
        assert streams[0].left == 0 and streams[0].requests < 18


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


def test_a_streamed_qubit_past_the_memory_deadline_is_lost_at_both_ends_and_the_next_arrives() -> None:
    """send_many over one request of two pairs; alice waits past bob's memory deadline before the second
    (a stream's later pairs wait in memory): the first arrives, the second is DEADLINE at both ends and
    stays in alice's slot, every qubit accounted for."""
    short = SCENARIO.replace("t2_ms = 1e9\n[nodes.mid]", "t2_ms = 0.02\n[nodes.mid]")
    budget = deadline_budget_ns(1e15, 20_000)
    errors: dict[str, int] = {}
    got: list[int] = []

    async def alice(ctx: AppContext) -> None:
        stream = Teleporter(ctx).stream("bob")
        first = ctx.qubit()
        ctx.gate("X", first)
        await stream.send(first, remaining=2)
        slot = ctx.qubit()
        await ctx.sleep(2 * budget)
        with pytest.raises(TransportError) as lost:
            await stream.send(slot, remaining=1)
        errors["alice"] = lost.value.code
        assert stream.requests == 1 and await ctx.measure(slot) == 0

    async def bob(ctx: AppContext) -> None:
        teleporter = Teleporter(ctx)
        got.append(await ctx.measure((await teleporter.recv_many("alice", 1))[0]))
        with pytest.raises(TransportError) as lost:
            await teleporter.recv("alice")
        errors["bob"] = lost.value.code
        assert not ctx.held                                 # the discarded half is no longer the application's

    result = run_apps(load_text(short, "<transport>"), {"alice": alice, "bob": bob})
    assert got == [1] and errors == {"alice": qtp.ERR_DEADLINE, "bob": qtp.ERR_DEADLINE}
    assert result.ledger["created"] == result.ledger["measured"] + result.ledger["discarded"]


def test_a_stream_over_network_layer_pairs_through_a_repeater_delivers_every_state_exactly() -> None:
    """The six-state application streams over one network-layer request (a–r1–b, ideal): every copy right at
    b, nothing lost, every qubit accounted for."""
    from stack.api.apps import teleport_states
    from tests.network_scenarios import chain

    results: dict[str, Any] = {}

    def end(role: str, remote: str):  # type: ignore[no-untyped-def]
        async def run(ctx: AppContext) -> None:
            results[role] = await teleport_states(ctx, remote, 4, role, service="network")
        return run

    ledger = run_apps(chain(2, workload="", qpu="data_qubits = 1"),
                      {"a": end("create", "b"), "b": end("recv", "a")}).ledger
    assert results["recv"].right == {name: [4, 4] for name in STATES}
    assert results["recv"].lost == results["create"].lost == 0
    assert ledger["discarded_at_end"] == 0      # nothing left for the end to discard (the sum holds by construction)


def test_docstring_examples_of_transfers() -> None:
    import doctest

    import protocols.transport.transfers as transfers

    result = doctest.testmod(transfers)
    assert result.attempted > 0 and result.failed == 0
