"""Applications written as trio coroutines (stack.api) on emulated nodes."""

from __future__ import annotations

import pytest

from protocols.common import Basis
from protocols.packets import linkservice as ll
from protocols.physical import physics
from stack.api import AppContext, LinkError, run_apps
from stack.scenario import load_text

SCENARIO = """
[run]
duration_ms = 1e4
[nodes.alice]
kind = "qpu"
[nodes.bob]
kind = "qpu"
[nodes.mid]
kind = "station"
[links.ab]
a = "alice"
b = "bob"
station = "mid"
length_km = 2.0
depolarizing = 0.0
"""


def test_a_script_creates_pairs_and_both_ends_measure_them() -> None:
    outcomes: dict[str, dict[int, tuple[int, int]]] = {"alice": {}, "bob": {}}

    def measuring(name: str, create: bool):  # type: ignore[no-untyped-def]
        async def app(ctx: AppContext) -> None:
            if create:
                assert await ctx.create("bob", pairs=30) == 1
            for _ in range(30):
                ok = await ctx.next_message()
                assert isinstance(ok, ll.OkKeep)
                outcomes[name][ok.sequence_number] = (ok.bell_state, await ctx.measure(ok.lqid, Basis.Z))
            await ctx.sleep(1_000)
        return app

    result = run_apps(load_text(SCENARIO, "<api>"), {"alice": measuring("alice", True), "bob": measuring("bob", False)})
    assert outcomes["alice"].keys() == outcomes["bob"].keys() and len(outcomes["alice"]) == 30
    for seq, (bell, a) in outcomes["alice"].items():
        assert a ^ outcomes["bob"][seq][1] == physics.expected_parity(bell, Basis.Z)   # no noise: always right
    assert result.ledger["measured"] == 60


def test_a_refused_create_raises_link_error() -> None:
    async def greedy(ctx: AppContext) -> None:
        with pytest.raises(LinkError) as refused:
            await ctx.create("bob", pairs=1, min_fidelity=0.9999)
        assert refused.value.code == ll.ERR_UNSUPP

    run_apps(load_text(SCENARIO.replace("depolarizing = 0.0", "depolarizing = 0.1"), "<api>"), {"alice": greedy})


def test_a_script_asks_for_atomic_pairs_and_gets_nores_when_they_cannot_fit() -> None:
    """Two communication qubits, no storage: an atomic request of two pairs is served (both OKs at the same
    virtual time), one of three is refused with NORES."""
    seen: dict[str, list[int]] = {"alice": [], "bob": []}

    def app(name: str, create: bool):  # type: ignore[no-untyped-def]
        async def run(ctx: AppContext) -> None:
            if create:
                with pytest.raises(LinkError) as refused:
                    await ctx.create("bob", pairs=3, atomic=True)
                assert refused.value.code == ll.ERR_NORES
                await ctx.create("bob", pairs=2, atomic=True, priority=3)
            oks = []
            for _ in range(2):
                ok = await ctx.next_message()
                assert isinstance(ok, ll.OkKeep)
                seen[name].append(ctx.now)
                oks.append(ok)
            for ok in oks:
                await ctx.measure(ok.lqid, Basis.Z)
        return run

    run_apps(load_text(SCENARIO, "<api>"), {"alice": app("alice", True), "bob": app("bob", False)})
    assert len(seen["alice"]) == len(seen["bob"]) == 2
    assert seen["alice"][0] == seen["alice"][1] and seen["bob"][0] == seen["bob"][1]


def test_an_application_still_running_when_the_duration_ends_is_cut_off() -> None:
    """The run ends a fixed time after the scenario's duration even if an application is still waiting (it used
    to wait for it for ever); a qubit it still holds is discarded at the end, so the ledger balances."""
    held: list[int] = []

    async def hoarder(ctx: AppContext) -> None:
        await ctx.create("bob", pairs=1)
        ok = await ctx.next_message()
        assert isinstance(ok, ll.OkKeep)
        held.append(ok.lqid)
        await ctx.sleep(10**15)                    # a million seconds: the run's end comes first

    async def idle(ctx: AppContext) -> None:
        ok = await ctx.next_message()
        assert isinstance(ok, ll.OkKeep)
        await ctx.measure(ok.lqid, Basis.Z)

    result = run_apps(load_text(SCENARIO.replace("duration_ms = 1e4", "duration_ms = 5.0"), "<api>"),
                      {"alice": hoarder, "bob": idle})
    assert held and result.emulation.kernel.now < 10**12
    ledger = result.ledger
    assert ledger["created"] == 2 and ledger["measured"] == 1 and ledger["discarded_at_end"] == 1
