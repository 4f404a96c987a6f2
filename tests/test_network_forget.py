"""Network layer: tombstones are forgotten after their linger time, from one queue per linger time.

A final half (swapped, dead, delivered) stays in its node's table for its circuit's linger time, so a late
message about it gets the same answer as an early one (network-design §6), and is then forgotten. The
deadlines of one linger time come in the order they were made, so :meth:`Node.linger` keeps them in a
first-in first-out queue with one deadline in the heap; these tests pin the instants and the exceptions (a
deadline replaced by a later one, a half replaced or not final).
"""

from __future__ import annotations

import numpy as np

from protocols.network.context import RTO_FLOOR_NS, Node
from protocols.network.types import DEAD, EARLY, HELD, SWAPPED, Half, NetworkConfig
from tests.network_harness import Chain

LINGER = RTO_FLOOR_NS
"""The linger time of a half of no circuit (the floor)."""


def node() -> Node:
    return Node(1, Chain(2).topology, NetworkConfig(), np.random.default_rng(0))


def tombstone(node: Node, seq: int, state: object = SWAPPED) -> Half:
    return node.add_half(Half(1, seq, (1, 1), 0, state))  # type: ignore[arg-type]


def run_until(node: Node, now: int) -> None:
    """Fire every deadline due by ``now``, as the engine's ``on_timer`` would (forget deadlines only here)."""
    while (at := node.timers.next()) is not None and at <= now:
        for key in node.timers.due(at):
            assert isinstance(key, tuple) and key[0] == "forget-halves"
            node.forget_due(key[1], at)


def test_each_half_is_forgotten_at_its_own_deadline_from_one_heap_entry() -> None:
    here = node()
    halves = [tombstone(here, seq) for seq in range(1000)]
    for seq, half in enumerate(halves):
        here.linger(half, None, 10 * seq)
    assert len(here.timers) == 1                        # one deadline for the queue, not one per half
    assert here.timers.next() == LINGER
    run_until(here, LINGER + 10 * 499)
    assert sorted(seq for _, seq in here.halves) == list(range(500, 1000))
    assert here.timers.next() == LINGER + 10 * 500
    run_until(here, LINGER + 10 * 999)
    assert not here.halves and here.timers.next() is None


def test_a_later_linger_replaces_the_deadline() -> None:
    here = node()
    first, second = tombstone(here, 1), tombstone(here, 2)
    here.linger(first, None, 0)
    here.linger(second, None, 100)
    here.linger(first, None, 500)                       # (a swapped half that dies later lingers again)
    run_until(here, LINGER + 100)
    assert list(here.halves) == [(1, 1)]
    run_until(here, LINGER + 499)
    assert list(here.halves) == [(1, 1)]
    run_until(here, LINGER + 500)
    assert not here.halves


def test_a_half_that_is_not_final_or_not_the_one_lingered_stays() -> None:
    here = node()
    here.linger(tombstone(here, 1), None, 0)
    replaced = Half(1, 1, (1, 1), 0, EARLY)             # the key reused by a new half after a forget elsewhere
    here.halves[replaced.key] = replaced
    held = tombstone(here, 2, HELD)
    here.linger(held, None, 0)                          # (never so in the engine: only final halves linger)
    dead = tombstone(here, 3, DEAD)
    here.linger(dead, None, 0)
    run_until(here, LINGER)
    assert sorted(here.halves) == [(1, 1), (1, 2)]
    assert here.timers.next() is None


def test_a_clock_that_goes_back_keeps_the_order() -> None:
    here = node()
    late, early = tombstone(here, 1), tombstone(here, 2)
    here.linger(late, None, 1000)
    here.linger(early, None, 10)
    assert here.timers.next() == LINGER + 10
    run_until(here, LINGER + 10)
    assert list(here.halves) == [(1, 1)]
    run_until(here, LINGER + 1000)
    assert not here.halves
