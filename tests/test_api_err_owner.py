"""An API call takes only the link or network layer's messages of its own request: an ERR of another request
of the same node (this application's earlier request, the remote's other request) is left for whoever waits
for it (``next_message``, the request's own collection), never raised as this call's, in virtual time."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from protocols.common import Basis
from protocols.packets import linkservice as ll
from stack.api import AppContext, LinkError, run_apps
from stack.api.dqc_pairs import JointPairs
from stack.api.epr import KeptPair
from stack.api.transport import Teleporter
from stack.scenario import load_text
from tests.test_api import SCENARIO
from tests.test_transport import SCENARIO as WITH_DATA_QUBITS

NOISY = SCENARIO.replace("depolarizing = 0.0", "depolarizing = 0.1")


def test_a_create_is_not_refused_by_an_earlier_requests_err() -> None:
    """The network layer ACKs alice's first request, then fails it at once (no route meets its minimum
    fidelity: ERR UNSUPP with the ACKed Create ID). Her second CREATE (to the link layer, feasible) is ACKed:
    that ERR is the first request's, returned by next_message, not the second's refusal."""
    seen: dict[str, object] = {}

    async def alice(ctx: AppContext) -> None:
        first = await ctx.create("bob", 1, min_fidelity=0.9999, service="network")
        second = await ctx.create("bob", 2, keep=False, service="link")
        seen["ids"] = (first, second)
        seen["messages"] = [await ctx.next_message() for _ in range(3)]

    async def bob(ctx: AppContext) -> None:
        for _ in range(2):
            await ctx.next_message()

    run_apps(load_text(NOISY, "<owner>"), {"alice": alice, "bob": bob})
    first, second = seen["ids"]  # type: ignore[misc]
    messages = seen["messages"]
    assert isinstance(messages, list)
    errs = [m for m in messages if isinstance(m, ll.Err)]
    oks = [m for m in messages if isinstance(m, ll.OkMeasure)]
    assert [(e.create_id, e.err) for e in errs] == [(first, ll.ERR_UNSUPP)]
    assert [ok.create_id for ok in oks] == [second, second]


def test_a_refused_create_raises_its_own_refusal_not_an_earlier_requests_err() -> None:
    """The oracle's other side: with the first request's ERR UNSUPP waiting, a second CREATE the link layer
    refuses (NOTIME: 1,000 pairs cannot come within 1 µs) raises that refusal, with the Create ID it names (not the
    first request's), and the first request's ERR is still there for next_message."""
    seen: dict[str, object] = {}

    async def alice(ctx: AppContext) -> None:
        first = await ctx.create("bob", 1, min_fidelity=0.9999, service="network")
        try:
            await ctx.create("bob", 1000, max_time_ns=1000, service="link")
        except LinkError as refused:
            seen["refused"] = (refused.code, refused.create_id)
        seen["first"] = first
        seen["next"] = await ctx.next_message()

    run_apps(load_text(NOISY, "<owner>"), {"alice": alice})
    first = seen["first"]
    assert seen["refused"] == (ll.ERR_NOTIME, 1)     # the link layer's first Create ID (the network layer's is 1 too)
    nxt = seen["next"]
    assert isinstance(nxt, ll.Err) and (nxt.create_id, nxt.err) == (first, ll.ERR_UNSUPP)


def _await_oks(kind: type, count: int):  # type: ignore[no-untyped-def]
    """Wait until ``count`` OKs of ``kind`` are in the application's queue (not taking them)."""
    async def wait(ctx: AppContext) -> list[ll.Upward]:
        while sum(isinstance(m, kind) for m in ctx._messages) < count:
            await ctx._wait()
        return [m for m in ctx._messages if isinstance(m, kind)]
    return wait


def test_a_teleport_receiver_leaves_the_err_of_the_remotes_measure_directly_request() -> None:
    """alice makes 3 measure-directly pairs with bob, then teleports |1⟩ to him. Bob's queue holds their OK-Ms
    and an ERR TIMEOUT of that request (a stray, as a late one would be) when he receives the qubit: the ERR is
    the measure-directly request's, left for the collection of its pairs, not raised by ``Teleporter.recv``."""
    got: list[object] = []

    async def alice(ctx: AppContext) -> None:
        await ctx.epr_socket("bob").create_measure(3)
        slot = ctx.qubit()
        ctx.gate("X", slot)
        await Teleporter(ctx).send("bob", slot)

    async def bob(ctx: AppContext) -> None:
        (ok, *_) = await _await_oks(ll.OkMeasure, 3)(ctx)
        stray = ll.Err(ok.create_id, ll.ERR_TIMEOUT, origin_node=ok.remote_node_id)
        ctx._messages.append(stray)
        slot = await Teleporter(ctx).recv("alice")
        got.extend([await ctx.measure(slot, Basis.Z), stray in ctx._messages])
        got.append(len(await ctx.epr_socket("alice").recv_measure(3)))

    run_apps(load_text(WITH_DATA_QUBITS, "<owner>"), {"alice": alice, "bob": bob}, seed=1)
    assert got == [1, True, 3]


def test_recv_one_leaves_the_err_of_the_remotes_measure_directly_request() -> None:
    """The same stray ERR of alice's measure-directly request in bob's queue: ``recv_one`` (a kept pair) takes
    the pair of alice's next, create-and-keep, request and leaves the ERR."""
    got: list[object] = []

    async def alice(ctx: AppContext) -> None:
        socket = ctx.epr_socket("bob")
        await socket.create_measure(3)
        await ctx.measure((await socket.create_one()).slot, Basis.Z)

    async def bob(ctx: AppContext) -> None:
        (ok, *_) = await _await_oks(ll.OkMeasure, 3)(ctx)
        stray = ll.Err(ok.create_id, ll.ERR_TIMEOUT, origin_node=ok.remote_node_id)
        ctx._messages.append(stray)
        pair = await ctx.epr_socket("alice").recv_one()
        got.extend([pair.create_id != ok.create_id, stray in ctx._messages])
        await ctx.measure(pair.slot, Basis.Z)
        await ctx.epr_socket("alice").recv_measure(3)

    run_apps(load_text(WITH_DATA_QUBITS, "<owner>"), {"alice": alice, "bob": bob}, seed=1)
    assert got == [True, True]


def test_a_measure_directly_collection_leaves_the_err_of_the_remotes_kept_request() -> None:
    """alice makes a kept pair with bob, then 3 measure-directly pairs. Bob's queue holds the kept pair's OK and
    an ERR TIMEOUT of that request (a stray) before the OK-Ms come: ``recv_measure`` collects the 3 outcomes and
    leaves the ERR (before, it raised LinkError TIMEOUT)."""
    got: list[object] = []

    async def alice(ctx: AppContext) -> None:
        socket = ctx.epr_socket("bob")
        pair = await socket.create_one()
        await ctx.measure(pair.slot, Basis.Z)
        await socket.create_measure(3)

    async def bob(ctx: AppContext) -> None:
        (ok,) = await _await_oks(ll.OkKeep, 1)(ctx)
        stray = ll.Err(ok.create_id, ll.ERR_TIMEOUT, origin_node=ok.remote_node_id)
        ctx._messages.append(stray)
        measured = await ctx.epr_socket("alice").recv_measure(3)
        got.extend([len(measured), stray in ctx._messages])
        await ctx.measure((await ctx.epr_socket("alice").recv_one()).slot, Basis.Z)

    run_apps(load_text(WITH_DATA_QUBITS, "<owner>"), {"alice": alice, "bob": bob}, seed=1)
    assert got == [3, True]


def test_a_teleport_receiver_still_raises_the_err_of_a_request_no_ok_came_for() -> None:
    """The oracle's other side: an ERR of a remote request whose kind no OK showed (a standing teleport
    request that failed before delivering here) is still the teleport's, and raises LinkError."""
    async def alice(ctx: AppContext) -> None:
        await ctx.sleep(1_000)

    async def bob(ctx: AppContext) -> None:
        ctx._messages.append(ll.Err(9, ll.ERR_TIMEOUT, origin_node=ctx.emu.scenario.nodes["alice"].node_id))
        await Teleporter(ctx).recv("alice")

    with pytest.raises(BaseExceptionGroup) as failure:
        run_apps(load_text(WITH_DATA_QUBITS, "<owner>"), {"alice": alice, "bob": bob}, seed=1)
    assert failure.group_contains(LinkError, match="ERR TIMEOUT", depth=None)


def test_a_dropped_pair_takes_only_its_own_requests_expire() -> None:
    """A distributed circuit's end that drops its half (``JointPairs.drop``) waits for the layer's ERR EXPIRE of
    that pair: bob's half of alice's request 1 takes alice's ERR EXPIRE, not the one of bob's own request 1
    waiting before it in the queue (Create IDs are per origin node), which stays for that request."""
    got: list[object] = []

    async def bob(ctx: AppContext) -> None:
        alice_id = ctx.emu.scenario.nodes["alice"].node_id
        own = ll.Err(1, ll.ERR_EXPIRE, 1, 0, 1, ctx.node_id)
        theirs = ll.Err(1, ll.ERR_EXPIRE, 1, 0, 1, alice_id)
        ctx._messages.extend([own, theirs])
        half = KeptPair(ctx.qubit(), "alice", 1, 0, 0, 1.0, False)
        await JointPairs(ctx, SimpleNamespace()).drop(half, 1_000, alice_id)
        got.extend([list(ctx._messages) == [own], half.slot in ctx.held, ctx.now])

    run_apps(load_text(WITH_DATA_QUBITS.replace('kind = "qpu"\nt1_ms', 'kind = "qpu"\ndata_qubits = 1\nt1_ms'),
                       "<owner>"), {"bob": bob})
    assert got == [True, False, 0]                  # alice's found at once, bob's own left, the half discarded


def test_a_link_request_leaves_the_err_of_the_network_request_with_the_same_create_id() -> None:
    """The link and network services number their requests apart: alice's network request 1 (ACKed, then ERR
    UNSUPP: no route meets 0.9999) and her link request 1 share Create ID and Origin Node. The EPR socket
    collecting the link request's pairs takes the messages of the service it sent the CREATE to, and leaves the
    network request's ERR for next_message."""
    seen: list[object] = []

    async def alice(ctx: AppContext) -> None:
        first = await ctx.create("bob", 1, min_fidelity=0.9999, service="network")
        pairs = await ctx.epr_socket("bob", "link").create_measure(2)
        seen.extend([first, [p.create_id for p in pairs]])
        err = await ctx.next_message()
        seen.append((err.create_id, err.err))

    async def bob(ctx: AppContext) -> None:
        await ctx.epr_socket("alice").recv_measure(2)

    run_apps(load_text(NOISY, "<owner>"), {"alice": alice, "bob": bob})
    assert seen == [1, [1, 1], (1, ll.ERR_UNSUPP)]


def test_each_end_collects_the_measure_directly_pairs_of_the_request_it_asked_for() -> None:
    """bob asks alice for 3 measure-directly pairs (his request 1) and alice, once their OK-Ms are queued, for 2
    of hers (her request 1: the same Create ID). alice's collection of her request takes her own OKs (D = 0),
    not bob's request's (D = 1), and bob's collection of alice's request takes hers, not his own request's: both
    get the same 2 pairs, and the other request's 3 OKs stay queued at each end."""
    got: dict[str, object] = {}

    async def alice(ctx: AppContext) -> None:
        await _await_oks(ll.OkMeasure, 3)(ctx)
        pairs = await ctx.epr_socket("bob").create_measure(2)
        got["alice"] = ([p.sequence_number for p in pairs],
                        [m.d for m in ctx._messages if isinstance(m, ll.OkMeasure)])

    async def bob(ctx: AppContext) -> None:
        await ctx.create("alice", 3, keep=False)
        await _await_oks(ll.OkMeasure, 3)(ctx)
        pairs = await ctx.epr_socket("alice").recv_measure(2)
        got["bob"] = ([p.sequence_number for p in pairs], [m.d for m in ctx._messages if isinstance(m, ll.OkMeasure)])

    run_apps(load_text(SCENARIO, "<owner>"), {"alice": alice, "bob": bob})
    (a_seqs, a_left), (b_seqs, b_left) = got["alice"], got["bob"]  # type: ignore[misc]
    assert a_seqs == b_seqs and len(a_seqs) == 2
    assert a_left == [1, 1, 1] and b_left == [0, 0, 0]


def test_a_teleport_stream_takes_the_pairs_of_its_own_request_only() -> None:
    """bob asks alice for a kept pair (his request 1); once its OK is in alice's queue she streams |1⟩ to bob
    over her own request 1. The stream takes her request's pair (D = 0), not bob's with the same Create ID
    (D = 1), which stays queued until she takes it; bob receives |1⟩."""
    got: dict[str, object] = {}

    async def alice(ctx: AppContext) -> None:
        (theirs,) = await _await_oks(ll.OkKeep, 1)(ctx)
        slot = ctx.qubit()
        ctx.gate("X", slot)
        stream = Teleporter(ctx).stream("bob")
        await stream.send(slot)
        got["alice"] = (stream.create_id == theirs.create_id, theirs in ctx._messages)
        await ctx.measure((await ctx.next_message()).lqid, Basis.Z)

    async def bob(ctx: AppContext) -> None:
        await ctx.create("alice", 1)
        await _await_oks(ll.OkKeep, 1)(ctx)
        got["bob"] = await ctx.measure(await Teleporter(ctx).recv("alice"), Basis.Z)
        await ctx.measure((await ctx.next_message()).lqid, Basis.Z)

    run_apps(load_text(WITH_DATA_QUBITS, "<owner>"), {"alice": alice, "bob": bob}, seed=1)
    assert got == {"alice": (True, True), "bob": 1}
