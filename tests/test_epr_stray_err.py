"""An EPR socket's collection of measure-directly pairs (stack.api.epr), and a teleport stream's wait for its
standing request's pairs (stack.api.transport), end only on an ERR of their own request: a stray ERR of another
request (this node's own, or the remote's with the same Create ID) is left in the queue for whoever waits for
it, in virtual time."""

from __future__ import annotations

import pytest

from protocols.common import Basis
from protocols.packets import linkservice as ll
from stack.api import AppContext, LinkError, run_apps
from stack.api.epr import MeasuredPairs
from stack.api.transport import Teleporter
from stack.scenario import load_text
from tests.test_api import SCENARIO
from tests.test_transport import SCENARIO as WITH_DATA_QUBITS

PAIRS = 20


def _collect(stray: dict[str, ll.Err]) -> tuple[dict[str, MeasuredPairs], dict[str, list[ll.Err]]]:
    """alice creates PAIRS measure-directly pairs with bob; each end finds ``stray[end]`` in its queue
    first. Returns what each end collected and the ERRs left in its queue."""
    got: dict[str, MeasuredPairs] = {}
    left: dict[str, list[ll.Err]] = {}

    def app(name: str):  # type: ignore[no-untyped-def]
        async def run(ctx: AppContext) -> None:
            if name in stray:
                ctx._messages.append(stray[name])
            socket = ctx.epr_socket("bob" if name == "alice" else "alice")
            got[name] = await (socket.create_measure_arrays(PAIRS) if name == "alice"
                               else socket.recv_measure_arrays(PAIRS))
            left[name] = [m for m in ctx._messages if isinstance(m, ll.Err)]
        return run

    run_apps(load_text(SCENARIO, "<stray>"), {"alice": app("alice"), "bob": app("bob")})
    return got, left


def test_a_stray_err_does_not_end_the_receiving_ends_collection() -> None:
    sc = load_text(SCENARIO, "<stray>")
    own = ll.Err(7, ll.ERR_TIMEOUT, origin_node=sc.nodes["bob"].node_id)       # bob's own request's
    got, left = _collect({"bob": own})
    assert len(got["bob"]) == len(got["alice"]) == PAIRS
    assert got["bob"].sequence_numbers.tolist() == got["alice"].sequence_numbers.tolist()
    assert left["bob"] == [own]


def test_a_stray_err_with_the_same_create_id_does_not_end_the_creating_ends_collection() -> None:
    sc = load_text(SCENARIO, "<stray>")
    theirs = ll.Err(1, ll.ERR_TIMEOUT, origin_node=sc.nodes["bob"].node_id)    # bob's request 1, not alice's 1
    got, left = _collect({"alice": theirs})
    assert got["alice"].create_id == 1
    assert len(got["alice"]) == len(got["bob"]) == PAIRS
    assert left["alice"] == [theirs]


def test_the_requests_own_err_still_ends_it() -> None:
    """The oracle's other side: the same ERR with alice as its origin is her request's, and raises."""
    sc = load_text(SCENARIO, "<stray>")
    mine = ll.Err(1, ll.ERR_TIMEOUT, origin_node=sc.nodes["alice"].node_id)
    with pytest.raises(BaseExceptionGroup) as failure:
        _collect({"alice": mine})
    assert failure.group_contains(LinkError, match="ERR TIMEOUT", depth=None)


def test_a_stray_err_with_the_same_create_id_does_not_end_a_teleport_stream() -> None:
    """``TeleportStream`` waits for the OKs of its own standing request: bob's request 1 is not alice's 1."""
    sc = load_text(WITH_DATA_QUBITS, "<stray>")
    theirs = ll.Err(1, ll.ERR_TIMEOUT, origin_node=sc.nodes["bob"].node_id)
    got: list[object] = []

    async def alice(ctx: AppContext) -> None:
        ctx._messages.append(theirs)
        stream = Teleporter(ctx).stream("bob")
        for left in (2, 1):
            slot = ctx.qubit()
            ctx.gate("X", slot)
            await stream.send(slot, remaining=left)
        got.append(stream.create_id == 1 and theirs in ctx._messages)

    async def bob(ctx: AppContext) -> None:
        teleporter = Teleporter(ctx)
        for _ in range(2):
            got.append(await ctx.measure(await teleporter.recv("alice"), Basis.Z))

    run_apps(sc, {"alice": alice, "bob": bob}, seed=1)
    assert got == [1, 1, True]
