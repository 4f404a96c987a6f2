"""Both ends of a link end every request the same way (wire.md §4.4): a randomized property test of two sans-IO
link-layer engines, with random message loss and delay, lost heralds, Max Times and the generation window's end.

A small discrete-event world drives them (:class:`World`): the EGP messages each end sends reach the other after a
random delay (less than the retransmission interval, as §4.4 assumes) or are lost; an attempt is made every cycle
while both ends are armed for the link, succeeds at random, and its herald reaches each end after its own delay or
is lost there (AttemptLost); timers fire when each engine asks. The oracle is what each end's higher layers were
told, request by request (:class:`~tests.test_link_station_down.Upward`), not the engines' own state:

- every request both ends accepted ends at both (its last OK, or an ERR), the same way (no ERR at either, or the
  same ERR at both), with the same pairs delivered (OKs not withdrawn), never an OK after its ERR, never two ERRs;
- a request one end never accepted gets an ERR at its origin and no pair anywhere;
- every request has ended at both ends within ``resolution_ns`` (the run's settle bound) of the window's end.
"""

from __future__ import annotations

import heapq
import math
from itertools import count
from typing import Any

import numpy as np

from protocols.common import EGP_PORT, LINK_SERVICE_PORT, Actions, BellState
from protocols.link.layer import GenerationOver, LinkConfig, LinkLayer, Request, RequestState
from protocols.packets import linkservice as ll
from protocols.physical.hardware import LinkDown
from protocols.physical.node import AttemptLost, PairReady, StartGeneration, StopGeneration
from tests.test_link_station_down import Upward

LINK, PURPOSE, INTERVAL, CYCLE = 1, 5, 50_000, 10_000
IP = {1: "198.18.0.1", 2: "198.18.0.2"}
OWN = {node: (IP[node], 49152) for node in IP}       # the higher layer that makes requests at each node
SERVE = {node: (IP[node], 49153) for node in IP}     # the one that serves the peer's requests there
EGP = {node: (IP[node], EGP_PORT) for node in IP}
SEEDS = 800


class World:
    """Two link-layer engines (node 1 the master) and what lies between them, in virtual time (ns)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.loss = float(rng.choice([0.0, 0.1, 0.3]))
        self.herald_loss = float(rng.choice([0.0, 0.1]))
        self.success = float(rng.choice([0.05, 0.2, 0.5]))
        self.nodes = {node: LinkLayer(node, [LinkConfig(LINK, 3 - node, EGP[3 - node], math.inf, math.inf)],
                                      {PURPOSE: SERVE[node]}, INTERVAL) for node in IP}
        self.told: dict[tuple[int, Any], list[bytes]] = {(node, app): [] for node in IP
                                                         for app in (OWN[node], SERVE[node])}
        self.requests: dict[tuple[int, int], dict[int, Request]] = {}    # (origin, Create ID) -> node -> Request
        self.armed = {1: 0, 2: 0}                    # pairs each end is armed for (the other end: unbounded)
        self.generating = True
        self.station_dies = False
        self.ended_at = 0                            # the window's end
        self.last_word = 0                           # the last OK or ERR (not a pair's ERR EXPIRE) at either end
        self.events: list[tuple[int, int, str, Any]] = []
        self.timers: set[tuple[int, int]] = set()
        self.order = count()
        self.attempt = 0

    def at(self, t: int, kind: str, what: Any) -> None:
        heapq.heappush(self.events, (t, next(self.order), kind, what))

    def run(self, until: int) -> int:
        """Process events until none is left (both ends settled) or ``until``; returns the last event's time."""
        now = 0
        while self.events and now <= until:
            now, _, kind, what = heapq.heappop(self.events)
            if kind == "timer":
                self.timers.discard(what)
                self.took(what[0], self.nodes[what[0]].on_timer(now), now)
            elif kind == "egp":
                node, payload = what
                self.took(node, self.nodes[node].receive(payload, EGP[3 - node], EGP_PORT, now), now)
            elif kind == "event":
                node, event = what
                self.took(node, self.nodes[node].handle(event, now), now)
            elif kind == "create":
                self.create(what, now)
            elif kind == "end":
                self.generating, self.ended_at = False, now
                for node in IP:
                    self.took(node, self.nodes[node].handle(GenerationOver(), now), now)
            elif kind == "down":                   # the station died: this end learns it now
                self.generating = False
                self.took(what, self.nodes[what].handle(LinkDown(LINK, peer_alive=True), now), now)
            elif kind == "tick":
                self.tick(now)
        return now

    def create(self, what: tuple[int, ll.Create], now: int) -> None:
        node, create = what
        out = self.nodes[node].receive(create.encode(), OWN[node], LINK_SERVICE_PORT, now)
        replies = [ll.decode_upward(p) for a, p in out.send if a == OWN[node]]
        if isinstance(replies[0], ll.Ack):
            self.requests[(node, replies[0].create_id)] = {}
        self.took(node, out, now)

    def took(self, node: int, out: Actions, now: int) -> None:
        """What an engine did: its messages go out (or are lost), its higher layers are told, its arming noted."""
        for address, payload in out.send:
            if address == EGP[3 - node]:
                if self.rng.random() >= self.loss:
                    self.at(now + int(self.rng.integers(1_000, 20_000)), "egp", (3 - node, payload))
            else:
                self.told[(node, address)].append(payload)
                message = ll.decode_upward(payload)
                if not (isinstance(message, ll.Err) and message.s) and not isinstance(message, ll.Ack):
                    self.last_word = now
        for command in out.down:
            if isinstance(command, StartGeneration):
                self.armed[node] = command.pairs
            elif isinstance(command, StopGeneration):
                self.armed[node] = 0
        for key, request in self.nodes[node].open.items():
            if key in self.requests:
                self.requests[key].setdefault(node, request)
        if out.deadline is not None and (node, out.deadline) not in self.timers:
            self.timers.add((node, out.deadline))
            self.at(max(out.deadline, now), "timer", (node, out.deadline))

    def tick(self, now: int) -> None:
        """One attempt cycle: an attempt if both ends are armed; its herald reaches each end, or is lost there."""
        if not self.generating:
            return
        self.at(now + CYCLE, "tick", None)
        if not (self.armed[1] and self.armed[2]) or self.rng.random() >= self.success:
            return
        self.attempt += 1
        for node in IP:
            self.armed[node] -= 1
            arrives = now + int(self.rng.integers(500, 5_000))
            if self.rng.random() < self.herald_loss:
                self.at(arrives, "event", (node, AttemptLost(LINK, self.attempt)))
            else:
                slot = self.attempt % 16          # a real slot is below 16: OKs pack it beside the Create ID
                pair = PairReady(LINK, slot, self.attempt, BellState.PHI_PLUS, self.attempt, 1, now,
                                 (1.0, 0.0, 0.0, 0.0), None, None)
                self.at(arrives, "event", (node, pair))


def scenario(seed: int) -> World:
    """A few requests made at random ends and times, some with a Max Time, and the window's end."""
    rng = np.random.default_rng(seed)
    world = World(rng)
    for _ in range(int(rng.integers(1, 4))):
        origin = int(rng.integers(1, 3))
        max_time_us = int(rng.choice([0, int(rng.integers(20, 1_500))]))
        create = ll.Create(remote_node_id=3 - origin, purpose_id=PURPOSE, number=int(rng.integers(1, 5)),
                           tu=0, max_time=max_time_us, ato=int(rng.random() < 0.25))
        world.at(int(rng.integers(0, 2_000_000)), "create", (origin, create))
    world.at(int(rng.integers(500_000, 6_000_000)), "end", None)
    if rng.random() < 0.3:                       # the station dies; each end learns it after its own delay
        world.station_dies = True
        died = int(rng.integers(200_000, 4_000_000))
        for node in IP:
            world.at(died + int(rng.integers(0, 20_000)), "down", node)
    world.at(0, "tick", None)
    return world


def ends(log: list[str]) -> list[str]:
    """The ERRs that end a request (not a pair's ERR EXPIRE)."""
    return [entry for entry in log if entry.startswith("ERR")]


def by_request(world: World, node: int, origin: int, create_id: int) -> Upward:
    """What ``node``'s higher layer was told about one request (origin ``origin``)."""
    app = OWN[node] if node == origin else SERVE[node]
    upward = Upward(app)
    for payload in world.told[(node, app)]:
        message = ll.decode_upward(payload)
        if message.create_id == create_id and (not isinstance(message, ll.Err) or message.origin_node == origin):
            upward.take(Actions(send=[(app, payload)]))
    return upward


def check(seed: int) -> None:
    world = scenario(seed)
    last = world.run(until=10**9)
    assert not world.events, f"seed {seed}: still busy at {last} ns"
    for (origin, create_id), held in world.requests.items():
        views = {node: by_request(world, node, origin, create_id) for node in IP}
        where = f"seed {seed}, request {origin}/{create_id}"
        for node, view in views.items():
            errs = ends(view.log)
            assert len(errs) <= 1, f"{where}: two ERRs at node {node}: {view.log}"
            after = view.log[view.log.index(errs[0]) + 1:] if errs else []
            assert all(entry.startswith("EXPIRE") for entry in after), f"{where}: OK after ERR at {node}: {view.log}"
        if len(held) < 2:                            # one end never accepted it
            assert ends(views[origin].log), f"{where}: accepted at one end only, and not ended: {views}"
            assert views[1].delivered() == views[2].delivered() == set(), f"{where}: {views}"
            continue
        for node, request in held.items():
            assert request.state in (RequestState.DONE, RequestState.FAILED), f"{where}: open at {node}"
            assert (request.state is RequestState.FAILED) == bool(ends(views[node].log)), f"{where}: {views}"
        if world.station_dies:                   # the codes may differ (wire.md §4.4, Which ERR): not the outcome
            assert bool(ends(views[1].log)) == bool(ends(views[2].log)), f"{where}: {views[1].log} / {views[2].log}"
        else:
            assert ends(views[1].log) == ends(views[2].log), f"{where}: {views[1].log} / {views[2].log}"
        assert views[1].delivered() == views[2].delivered(), f"{where}: {views[1].log} / {views[2].log}"
    assert world.nodes[1].settled() and world.nodes[2].settled()
    bound = world.ended_at + max(node.resolution_ns for node in world.nodes.values())
    assert world.last_word <= bound, f"seed {seed}: a request ended {world.last_word - bound} ns after the bound"


def test_both_ends_end_every_request_the_same_way() -> None:
    for seed in range(SEEDS):
        check(seed)
