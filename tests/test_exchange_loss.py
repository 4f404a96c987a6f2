"""Exchanges (stack.api.exchange) end at both ends within a bounded time under heavy classical loss: the end
that finished lingers (TIME-WAIT) long enough to answer its peer's retransmissions of the last tag, and an end
whose peer is gone gives up with ExchangeError instead of retransmitting until the run's duration ends."""

from __future__ import annotations

import pytest

from stack.api import AppContext, run_apps
from stack.api.errors import ExchangeError
from stack.api.exchange import GIVE_UP_INTERVALS, LINGER_INTERVALS, exchange_of
from stack.scenario import load_text
from tests.test_transport import SCENARIO

DURATION_MS = 100
LOSS = 0.5
SWAPS = 4
LOSSY = SCENARIO.replace("duration_ms = 1e5", f"duration_ms = {DURATION_MS}").replace(
    "depolarizing = 0.0", f"depolarizing = 0.0\nclassical_loss = {LOSS}")


def swapper(results: dict[str, list[bytes]], remote: str, give_up: int = GIVE_UP_INTERVALS):  # type: ignore[no-untyped-def]
    async def run(ctx: AppContext) -> None:
        exchange = exchange_of(ctx, remote)
        exchange.give_up = give_up
        got = results.setdefault(ctx.node, [])
        for _ in range(SWAPS):
            tag = exchange.tag()
            got.append(await exchange.swap(tag, f"{ctx.node}:{tag}".encode()))
    return run


def test_every_exchange_ends_at_both_ends_under_fifty_percent_loss() -> None:
    """30 fixed seeds at 50 % loss (before the TIME-WAIT fix, seed 2 already never ended at one end:
    the finished end stopped answering after 4 quiet intervals while the other resent its last tag). Each run
    ends with both applications returned, long before the duration, each with the other's payloads."""
    scenario = load_text(LOSSY, "<lossy>")
    for seed in range(30):
        results: dict[str, list[bytes]] = {}
        result = run_apps(scenario, {"alice": swapper(results, "bob"), "bob": swapper(results, "alice")}, seed=seed)
        assert results["alice"] == [f"bob:{t}".encode() for t in range(1, SWAPS + 1)], seed
        assert results["bob"] == [f"alice:{t}".encode() for t in range(1, SWAPS + 1)], seed
        assert result.emulation.kernel.now < DURATION_MS * 1_000_000 // 2, seed


def test_an_end_whose_peer_is_gone_gives_up_after_its_bound() -> None:
    """Bob's application returns without answering: alice resends exactly ``give_up`` times, then raises
    ExchangeError naming bob and the tag, well within the run's duration; bob's end has ended long before."""
    scenario = load_text(LOSSY, "<lossy>")
    failure: list[ExchangeError] = []
    ended: dict[str, int] = {}

    async def alice(ctx: AppContext) -> None:
        exchange = exchange_of(ctx, "bob")
        exchange.give_up = 40
        ended["start"], ended["interval"] = ctx.now, exchange.retransmit_ns
        with pytest.raises(ExchangeError) as caught:
            await exchange.swap(exchange.tag(), b"x")
        failure.append(caught.value)
        ended["alice"] = ctx.now

    async def bob(ctx: AppContext) -> None:
        exchange_of(ctx, "alice")
        ended["bob"] = ctx.now

    run_apps(scenario, {"alice": alice, "bob": bob}, seed=1)
    error = failure[0]
    assert (error.remote, error.tag, error.retransmissions) == ("bob", 1, 40)
    assert "bob" in str(error) and "tag 1" in str(error)
    interval = ended["interval"]
    assert ended["alice"] - ended["start"] == 41 * interval    # the first copy, 40 retransmissions, one more wait
    assert ended["bob"] - ended["start"] < LINGER_INTERVALS * interval
