"""An API call takes only the link or network layer's messages of its own request: an ERR of another request
of the same node (this application's earlier request, the remote's other request) is left for whoever waits
for it (``next_message``, the request's own collection), never raised as this call's, in virtual time."""

from __future__ import annotations

from protocols.packets import linkservice as ll
from stack.api import AppContext, LinkError, run_apps
from stack.scenario import load_text
from tests.test_api import SCENARIO

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
