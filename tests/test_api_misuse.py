"""The application API used wrongly: a bad argument or remote is one line naming it, raised before anything is
sent; a failed request of kept pairs leaves no qubit behind (stack.api)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest

from protocols.common import Basis
from protocols.packets import linkservice as ll
from stack.api import AppContext, LinkError, run_apps
from stack.api.ghz import ghz_center, ghz_leaf
from stack.api.remote import remote_cnot, remote_cz, teledata
from stack.scenario import load, load_text
from tests.mp_util import ROOT

PAIR = load(ROOT / "examples/api/pair.toml")        # alice and bob: 2 communication + 4 storage qubits each


async def idle(ctx: AppContext) -> None:
    return None


def _raised(call: Callable[[AppContext], Awaitable[Any]], scenario: Any = PAIR, **run: Any) -> BaseException:
    """What ``call`` raised in alice's application (bob idle); the run itself must end cleanly, with no pair
    made (nothing was sent)."""
    caught: list[BaseException] = []

    async def alice(ctx: AppContext) -> None:
        try:
            await call(ctx)
        except Exception as error:
            caught.append(error)

    result = run_apps(scenario, {"alice": alice, "bob": idle}, **run)
    assert result.ledger["created"] == 0, result.ledger
    assert len(caught) == 1, "nothing was raised"
    return caught[0]


async def _sync(value: Any) -> Any:
    return value


@pytest.mark.parametrize(("call", "kind", "message"), [
    (lambda ctx: ctx.create("bob", 70000), ValueError, "pairs must be an integer from 1 to 65535, got 70000"),
    (lambda ctx: ctx.create("bob", -1), ValueError, "pairs must be an integer from 1 to 65535, got -1"),
    (lambda ctx: ctx.create("bob", "3"), TypeError, "pairs must be an integer from 1 to 65535, got '3' (str)"),
    (lambda ctx: ctx.create("bob", 1, priority=9), ValueError, "priority must be an integer from 0 to 7, got 9"),
    (lambda ctx: ctx.create("bob", 1, basis="Q"), ValueError, "basis must be one of 'Z', 'X', 'Y', got 'Q'"),
    (lambda ctx: ctx.create("bob", 1, basis="z"), ValueError, "basis must be one of 'Z', 'X', 'Y', got 'z'"),
    (lambda ctx: ctx.create("bob", 1, random_basis="AB"), ValueError,
     "random_basis must be one of '', 'XZ', 'XYZ', got 'AB'"),
    (lambda ctx: ctx.create("bob", 1, max_time_ns=-5), ValueError,
     "max_time_ns must be a number of ns (0 or more), got -5"),
    (lambda ctx: ctx.create("bob", 1, min_fidelity=1.5), ValueError, "min_fidelity must be a number from 0 to 1"),
    (lambda ctx: ctx.epr_socket("bob").create_keep(4, max_time_ns=-5), ValueError, "max_time_ns must be"),
    (lambda ctx: ctx.epr_socket("bob").create_measure(3, basis="z"), ValueError, "basis must be one of"),
    (lambda ctx: ctx.epr_socket("bob").recv_measure(-1), ValueError, "number must be an integer from 1 to 65535"),
    (lambda ctx: ctx.epr_socket("bob").create_keep(7), ValueError,
     "number: 7 kept pairs cannot all be held at once: alice holds at most 6 halves (communication_qubits 2 + "
     "storage_qubits 4)"),
    (lambda ctx: ctx.epr_socket("bob").recv_keep(7), ValueError, "number: 7 kept pairs cannot all be held"),
    (lambda ctx: _sync(ctx.send("bob", "hello")), TypeError, "payload must be bytes, got str (encode it"),
    (lambda ctx: ctx.sleep(-10), ValueError, "sleep's ns must be a number of ns (0 or more), got -10"),
    (lambda ctx: _sync(ctx.epr_socket("mid")), ValueError, "remote 'mid' is a station, not a QPU"),
    (lambda ctx: ctx.create("mid", 1), ValueError, "remote 'mid' is a station, not a QPU"),
    (lambda ctx: remote_cnot(ctx, "bob", 5, "control"), ValueError,
     "remote CNOT: slot 5 holds no qubit of this application (held: [])"),
    (lambda ctx: remote_cz(ctx, "bob", 5, "target"), ValueError, "remote CZ: slot 5 holds no qubit"),
    (lambda ctx: teledata(ctx, "bob", 5, "send"), ValueError, "teledata: slot 5 holds no qubit"),
])
def test_a_bad_argument_is_one_line_naming_it_before_anything_is_sent(
        call: Callable[[AppContext], Awaitable[Any]], kind: type, message: str) -> None:
    error = _raised(call)
    assert type(error) is kind and str(error).startswith(message) and "\n" not in str(error), repr(error)


@pytest.mark.parametrize(("purpose_id", "kind"), [(0x9000, ValueError), (-1, ValueError), ("7", TypeError)])
def test_run_apps_refuses_a_purpose_id_that_is_not_an_applications(purpose_id: Any, kind: type) -> None:
    with pytest.raises(kind, match=r"^purpose_id must be an integer from 0 to 32767, got "):
        run_apps(PAIR, {"alice": idle, "bob": idle}, purpose_id=purpose_id)


CHAIN = load(ROOT / "examples/repeater-chain.toml")          # QPUs a, r1, r2, r3, b in a line


def test_the_link_service_to_a_node_that_is_not_a_neighbour_is_refused_at_the_call() -> None:
    """Was a bare ERR UNSUPP from the link layer after the CREATE was sent."""
    caught: list[BaseException] = []

    async def a(ctx: AppContext) -> None:
        try:
            await ctx.create("b", 1, service="link")
        except ValueError as error:
            caught.append(error)

    run_apps(CHAIN, {"a": a, "b": idle})
    assert [str(e) for e in caught] == ["remote 'b' is not a neighbour of 'a' (service='link'): use service "
                                        "'network' or 'auto'"]



def test_a_message_to_a_node_no_fibre_reaches_names_both_nodes() -> None:
    """carol has no fibre: ``send`` raises naming the nodes (was "no fibre path from node 1 to node 3")."""
    text = (ROOT / "examples/api/pair.toml").read_text() + '\n[nodes.carol]\nkind = "qpu"\n'
    caught: list[BaseException] = []

    async def alice(ctx: AppContext) -> None:
        try:
            ctx.send("carol", b"hello")
        except ValueError as error:
            caught.append(error)

    run_apps(load_text(text, "<three>"), {"alice": alice, "carol": idle})
    assert [str(e) for e in caught] == ["no fibre path from 'alice' to 'carol'"]


def test_a_measurement_basis_is_a_basis_its_name_or_its_number() -> None:
    """|+> measured in X ("X", Basis.X or 1) is 0 every time; |0> in Z (0) too; "x" is one line naming basis
    (was the medium's "basis 0 is not Z, X or Y" for the number 0, Basis.Z's own value)."""
    outcomes: list[int] = []
    caught: list[BaseException] = []

    async def alice(ctx: AppContext) -> None:
        for basis in ("X", Basis.X, 1, np.int64(1)):
            slot = ctx.qubit()
            ctx.gate("H", slot)
            outcomes.append(await ctx.measure(slot, basis))
        outcomes.append(await ctx.measure(ctx.qubit(), 0))
        slot = ctx.qubit()
        try:
            await ctx.measure(slot, "x")
        except ValueError as error:
            caught.append(error)
        await ctx.measure(slot)

    run_apps(PAIR, {"alice": alice, "bob": idle})
    assert outcomes == [0] * 5
    assert [str(e) for e in caught] == ["basis must be a Basis, 'Z', 'X' or 'Y' (or 0, 1, 2), got 'x'"]


def test_a_failed_keep_request_discards_the_halves_it_had_delivered() -> None:
    """create_keep(4) whose Max Time (1 ms) passes after some pairs: both ends catch LinkError TIMEOUT, and the
    halves already delivered are discarded, so the run's qubit ledger balances (was AccountingError)."""
    errors: dict[str, LinkError] = {}

    async def alice(ctx: AppContext) -> None:
        try:
            await ctx.epr_socket("bob").create_keep(4, max_time_ns=1_000_000)
        except LinkError as error:
            errors["alice"] = error

    async def bob(ctx: AppContext) -> None:
        try:
            await ctx.epr_socket("alice").recv_keep(4)
        except LinkError as error:
            errors["bob"] = error

    result = run_apps(PAIR, {"alice": alice, "bob": bob})
    assert {name: e.code for name, e in errors.items()} == {"alice": ll.ERR_TIMEOUT, "bob": ll.ERR_TIMEOUT}
    ledger = result.ledger
    assert ledger["created"] > 0 and ledger["discarded"] == ledger["created"], ledger


def test_a_failed_request_leaves_another_requests_halves_for_a_later_collection() -> None:
    """Bob collects 5 halves of alice's requests: her first (2 pairs) succeeds and she keeps and measures them, her
    second fails (Max Time). Bob's collection raises, and discards only the failed request's halves; his halves of
    the first request go back to his queue, and his next collection gets them (review: they were discarded, so
    alice held two pairs whose other halves were gone, and nothing said so)."""
    seqs: dict[str, list[int]] = {}

    async def alice(ctx: AppContext) -> None:
        epr = ctx.epr_socket("bob")
        first = await epr.create_keep(2)
        with contextlib.suppress(LinkError):
            await epr.create_keep(3, max_time_ns=700_000)
        seqs["alice"] = [pair.sequence_number for pair in first]
        for pair in first:
            await ctx.measure(pair.slot)

    async def bob(ctx: AppContext) -> None:
        epr = ctx.epr_socket("alice")
        with pytest.raises(LinkError):
            await epr.recv_keep(5)
        kept = await epr.recv_keep(2)
        seqs["bob"] = [pair.sequence_number for pair in kept]
        for pair in kept:
            await ctx.measure(pair.slot)

    result = run_apps(PAIR, {"alice": alice, "bob": bob})
    assert seqs["alice"] == seqs["bob"] and len(seqs["bob"]) == 2
    ledger = result.ledger
    assert ledger["measured"] == 4 and ledger["created"] == ledger["measured"] + ledger["discarded"], ledger


def test_remote_cnot_with_the_same_role_at_both_ends_is_a_clear_error() -> None:
    caught: dict[str, BaseException] = {}

    def control(name: str, remote: str) -> Callable[[AppContext], Awaitable[None]]:
        async def app(ctx: AppContext) -> None:
            slot = ctx.qubit()
            try:
                await remote_cnot(ctx, remote, slot, "control")
            except Exception as error:
                caught[name] = error
            ctx.discard(slot)
        return app

    result = run_apps(PAIR, {"alice": control("alice", "bob"), "bob": control("bob", "alice")})
    assert set(caught) == {"alice", "bob"}, caught
    for error in caught.values():
        assert type(error) is ValueError and "role" in str(error) and "both ends" in str(error), repr(error)
    assert result.ledger["discarded"] + result.ledger["measured"] == result.ledger["created"]


def test_ghz_leaf_index_out_of_range_is_a_clear_error() -> None:
    error = _raised(lambda ctx: ghz_leaf(ctx, "bob", 5, 2, 4))
    assert type(error) is ValueError and str(error) == "ghz_leaf: index must be from 1 to 1 (parties - 1), got 5"
    error = _raised(lambda ctx: ghz_center(ctx, ["bob"], -1))
    assert type(error) is ValueError and str(error).startswith("shots must be an integer of at least 0"), error


def test_a_network_layer_err_names_the_network_layer() -> None:
    """carol has no link: the network layer serves the request and answers ERR NOPATH after its ACK; the
    LinkError says the network layer answered (it said "link layer" for every ERR)."""
    scenario = load_text((ROOT / "examples/api/pair.toml").read_text() + '[nodes.carol]\nkind = "qpu"\n', "<island>")
    caught: list[LinkError] = []

    async def alice(ctx: AppContext) -> None:
        try:
            await ctx.epr_socket("carol").create_keep(1)
        except LinkError as error:
            caught.append(error)

    run_apps(scenario, {"alice": alice, "carol": idle})
    error, = caught
    assert (str(error), error.layer, error.code) == ("network layer answered ERR NOPATH", "network", ll.ERR_NOPATH)


def test_numpy_integers_and_float_nanoseconds_are_taken() -> None:
    """A count computed with numpy and a Max Time written 1e9 are what they say (review: a TypeError before, and
    the peer then waited until the run's end)."""
    got: dict[str, int] = {}

    async def alice(ctx: AppContext) -> None:
        await ctx.sleep(np.int64(1_000))
        got["alice"] = len(await ctx.epr_socket("bob").create_measure(np.int64(3), max_time_ns=1e9))

    async def bob(ctx: AppContext) -> None:
        got["bob"] = len(await ctx.epr_socket("alice").recv_measure(np.int32(3)))

    run_apps(PAIR, {"alice": alice, "bob": bob})
    assert got == {"alice": 3, "bob": 3}


def test_a_failed_collection_puts_back_another_requests_expiries_too() -> None:
    """Review: a collection that fails on request X's ERR put back request Y's OKs but not Y's ERR EXPIRE it had
    taken, so the next collection of Y's two pairs waited for ever for the expired one. Driven directly: Y's pair
    10 delivered, pair 11 expired here, then X's ERR TIMEOUT."""
    from types import SimpleNamespace

    import trio

    from protocols.common import LINK_SERVICE_PORT
    from stack.api.answers import MessageQueue
    from stack.api.epr import EPRSocket
    from stack.api.intake import Intake
    from stack.api.records import RequestKinds

    alice = SimpleNamespace(node_id=1, communication_qubits=5, storage_qubits=0)
    queue = MessageQueue()

    async def wait() -> None:
        raise AssertionError("the collection waited: a message it needed was lost")

    ctx = SimpleNamespace(intake=Intake(queue, {}, wait, lambda: None), held=set(), node_id=2, now=0,
                          kept_request=RequestKinds(), service_of=queue.service_of, discard=lambda slot: None,
                          service_for=lambda remote, service: "link", node="bob",
                          emu=SimpleNamespace(scenario=SimpleNamespace(nodes={"alice": alice, "bob": alice})))
    queue.arrived(ll.OkKeep(1, 0, 1, 0, 10, 0, 1, 0, 0), LINK_SERVICE_PORT, now=0)
    queue.arrived(ll.Err(1, ll.ERR_EXPIRE, 1, 11, 12, 1), LINK_SERVICE_PORT)
    queue.arrived(ll.Err(2, ll.ERR_TIMEOUT, 0, 0, 0, 1), LINK_SERVICE_PORT)
    socket = EPRSocket(ctx, "alice")                    # type: ignore[arg-type]

    async def collect() -> list[int]:
        with pytest.raises(LinkError):
            await socket.recv_keep(5)
        return [pair.sequence_number for pair in await socket.recv_keep(2)]

    assert trio.run(collect) == [10]


def test_sleep_takes_any_real_number_of_ns_and_the_report_stays_json() -> None:
    """`sleep(1e6)` crashed the run (a float deadline reached the layers); `sleep(np.int64(...))` left a numpy
    integer in the kernel's clock, which the JSON report then refused."""
    import json

    from stack.report import build_report, to_json

    async def alice(ctx: AppContext) -> None:
        await ctx.sleep(1e6)
        await ctx.sleep(np.int64(1_000))

    result = run_apps(PAIR, {"alice": alice, "bob": idle})
    assert type(result.emulation.kernel.now) is int and result.emulation.kernel.now >= 1_001_000
    json.loads(to_json(build_report(result)))
