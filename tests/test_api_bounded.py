"""An application's context holds a bounded amount, however many requests and pairs go through it
(stack/api/records.py): a long-running application (QKD streaming pairs, a monitor) does not grow without limit."""

from __future__ import annotations

from protocols.common import LINK_SERVICE_PORT, Basis
from protocols.packets import linkservice as ll
from stack.api import AppContext, run_apps
from stack.api.records import EXPIRED_KEPT, RequestKinds, retracted
from stack.scenario import load_text
from tests.test_api import SCENARIO


def _from_link_layer(ctx: AppContext, message: ll.Err | ll.OkKeep) -> None:
    """``message`` as if the node's link layer had sent it to the application (a datagram from its port)."""
    ctx.emu.network.send(ctx.node_id, LINK_SERVICE_PORT, ctx.address, message.encode())


def test_the_kinds_of_requests_are_bounded_and_the_last_ones_kept() -> None:
    """Alice makes 24 requests (12 kept, 12 measured) that bob collects. Bob keeps the kinds of the remote's
    requests heard from last, at most the capacity; alice records none (her own requests' ERRs are matched by
    Create ID, never by kind)."""
    sizes: dict[str, int] = {}
    last: list[tuple[int, int, int]] = []

    async def alice(ctx: AppContext) -> None:
        ctx.kept_request.capacity = 4
        epr = ctx.epr_socket("bob")
        for _ in range(12):
            for pair in await epr.create_keep(1):
                await ctx.measure(pair.slot, Basis.Z)
            await epr.create_measure(1)
        sizes["alice"] = len(ctx.kept_request)

    async def bob(ctx: AppContext) -> None:
        ctx.kept_request.capacity = 4
        epr = ctx.epr_socket("alice")
        alice_id = ctx.emu.scenario.nodes["alice"].node_id
        for _ in range(12):
            for pair in await epr.recv_keep(1):
                last.append((LINK_SERVICE_PORT, alice_id, pair.create_id))
                await ctx.measure(pair.slot, Basis.Z)
            last.extend((LINK_SERVICE_PORT, alice_id, p.create_id) for p in await epr.recv_measure(1))
        sizes["bob"] = len(ctx.kept_request)
        sizes["kept"] = list(ctx.kept_request) == last[-4:] and [ctx.kept_request[k] for k in last[-4:]] == [
            True, False, True, False]

    run_apps(load_text(SCENARIO, "<bounded>"), {"alice": alice, "bob": bob})
    assert len(last) == 24
    assert sizes == {"alice": 0, "bob": 4, "kept": True}


def test_expired_pairs_and_ok_arrivals_do_not_grow_with_the_requests() -> None:
    """Alice takes 30 kept pairs of 30 requests through ``next_message`` (the raw OKs), bob collects them, then
    bob drops a pair retracted before he took it and hears of 10,000 more pairs retracted, with no teleporter to
    take them. No OK's arrival outlives its message, and the retracted pairs kept are the last
    :data:`EXPIRED_KEPT`."""
    sizes: dict[str, object] = {}

    async def alice(ctx: AppContext) -> None:
        for _ in range(30):
            await ctx.create("bob", 1)
            ok = await ctx.next_message()
            assert isinstance(ok, ll.OkKeep)
            await ctx.measure(ok.lqid, Basis.Z)
        sizes["alice"] = (len(ctx.ok_arrival), len(ctx._messages))

    async def bob(ctx: AppContext) -> None:
        epr = ctx.epr_socket("alice")
        for _ in range(30):
            for pair in await epr.recv_keep(1):
                await ctx.measure(pair.slot, Basis.Z)
        alice_id = ctx.emu.scenario.nodes["alice"].node_id
        ok = ll.OkKeep(900, 0, 1, 0, 7, ctx.purpose_id, alice_id, 0, 0)          # slot 0 is free: not discarded
        _from_link_layer(ctx, ok)
        _from_link_layer(ctx, ll.Err(900, ll.ERR_EXPIRE, 1, 7, 9, alice_id))    # pairs 7 and 8
        await ctx.sleep(1_000)
        assert await epr.recv_keep(2) == []                                   # 7 came, then both retracted
        gone = [ll.Err(901, ll.ERR_EXPIRE, 1, low, low + 5000, alice_id) for low in (0, 5000)]
        for err in gone:
            _from_link_layer(ctx, err)
        for _ in gone:
            await ctx.next_message()
        want = [key for err in gone for key in retracted(err)][-EXPIRED_KEPT:]
        sizes["bob"] = (len(ctx.ok_arrival), len(ctx._messages), len(ctx.expired), list(ctx.expired) == want)

    run_apps(load_text(SCENARIO, "<bounded>"), {"alice": alice, "bob": bob})
    assert sizes == {"alice": (0, 0), "bob": (0, 0, EXPIRED_KEPT, True)}


def test_a_request_still_heard_from_keeps_its_kind() -> None:
    """A long request whose late ERR EXPIREs keep coming stays known while newer requests come and go: an ERR of
    a known request counts as hearing from it; this node's own requests and ERRs of unknown ones add nothing."""
    kinds = RequestKinds(capacity=3)
    kinds.learn(ll.OkKeep(1, 0, 1, 0, 0, 0, 2, 0, 0), LINK_SERVICE_PORT)               # alice's standing request
    for create_id in range(2, 8):
        kinds.learn(ll.OkMeasure(create_id, 0, 1, 0, 0, 0, 0, 2, 0), LINK_SERVICE_PORT)
        kinds.learn(ll.Err(1, ll.ERR_EXPIRE, 1, create_id, create_id + 1, origin_node=2), LINK_SERVICE_PORT)
    kinds.learn(ll.OkKeep(9, 0, 0, 0, 0, 0, 2, 0, 0), LINK_SERVICE_PORT)              # D = 0: this node's own
    kinds.learn(ll.Err(50, ll.ERR_TIMEOUT, origin_node=2), LINK_SERVICE_PORT)           # no OK came: unknown
    assert list(kinds.items()) == [((LINK_SERVICE_PORT, 2, 6), False), ((LINK_SERVICE_PORT, 2, 7), False),
                                   ((LINK_SERVICE_PORT, 2, 1), True)]
