"""Network layer: the deadline heap's earliest deadline, kept as deadlines come and go (`Timers.earliest`).

The engine reports its earliest live deadline after every input; :class:`Timers` keeps it instead of searching
its heap each time, and marks it :data:`STALE` only when the deadline that was earliest goes. These tests hold it
to a plain reference (a dict of the live deadlines, whose minimum it must be) through random schedules, cancels
and due deadlines, and pin the cases that must reckon again.
"""

from __future__ import annotations

import random

from protocols.network.timers import STALE, Outbox, Timers


def test_the_earliest_deadline_is_the_minimum_of_the_live_ones_through_random_operations() -> None:
    for seed in range(300):
        rng = random.Random(seed)
        timers, live = Timers(), {}
        for _ in range(80):
            key, draw = ("kind", rng.randrange(8)), rng.random()
            if draw < 0.5:
                at = rng.randrange(60)
                timers.schedule(key, at)
                live[key] = at
            elif draw < 0.75:
                timers.cancel(key)
                live.pop(key, None)
            elif draw < 0.85:
                now = rng.randrange(60)
                due = timers.due(now)
                assert sorted(due) == sorted(k for k, at in live.items() if at <= now)
                assert sorted(due, key=lambda k: live[k]) == due       # earliest first
                for k in due:
                    del live[k]
            if timers.earliest != STALE:
                assert timers.earliest == min(live.values(), default=None), seed
            if rng.random() < 0.6:
                assert timers.next() == min(live.values(), default=None), seed
                assert timers.earliest == timers.next()


def test_only_the_earliest_deadline_going_makes_it_stale() -> None:
    timers = Timers()
    assert timers.earliest is None
    timers.schedule("far", 100)
    timers.schedule("rtx", 10)
    assert timers.earliest == 10                # earlier: known at once
    timers.schedule("later", 50)
    timers.cancel("later")
    assert timers.earliest == 10                # not the earliest: nothing to reckon
    timers.schedule("far", 200)
    assert timers.earliest == 10
    timers.cancel("rtx")                        # the earliest goes (its ACK came)
    assert timers.earliest == STALE
    assert timers.next() == 200 and timers.earliest == 200
    timers.schedule("far", 300)                 # the earliest moves later
    assert timers.earliest == STALE and timers.next() == 300
    assert timers.due(300) == ["far"]
    assert timers.next() is None and timers.earliest is None


def test_an_acknowledged_message_no_longer_holds_the_deadline() -> None:
    timers = Timers()
    outbox = Outbox(timers)
    timers.schedule(("forget-halves", 5), 1_000)
    outbox.send(("credit", 1), ("198.18.0.2", 7775), b"x", 30, 2, now=0)
    assert timers.next() == 30
    assert outbox.ack(("credit", 1))
    assert timers.next() == 1_000
    assert not outbox.ack(("credit", 1))
