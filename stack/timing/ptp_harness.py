"""A small deterministic discrete-event harness for PTP engines (tests and benchmarks).

Pure Python, no trio: one heap of ``(true_ns, seq, callback, args)``; each node has a
:class:`stack.timing.clocks.Clock` and a :class:`protocols.sync.ptp.PtpClock`. It carries out the
engine contract of ``protocols.sync.ptp`` exactly as the runtime must: local times in, hardware
timestamps on every received datagram, a :class:`~protocols.sync.ptp.TxTimestamp` right after
every event message leaves, ClockAdjust applied at the current true time, deadlines
converted with ``Clock.true_ns`` (again after each adjustment). A directed :class:`Link`
has a propagation delay plus a residence time in a switch, which an optional end-to-end
transparent clock (with its own Clock) writes into the correctionField.

With ``record=True``, ``sent`` lists every datagram as it leaves: (true ns, source IP,
destination IP, port, payload). ``trace[ip]`` holds (true ns, true offset ns) of each node
against the ``reference`` node, sampled whenever a Sync reaches it: the offset the servo
theory calls x_n.

>>> h = two_node_harness(seed=1, jitter_ps=10.0, slave_offset_ns=2_000.0, frequency_ppm=20.0)
>>> h.run(5e9)
>>> abs(rms(h.trace[SLAVE_IP], after_ns=2e9)) < 0.1
True
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from protocols.common import Actions
from protocols.packets.ptp import EVENT_PORT, SYNC, event_key
from protocols.sync.ptp import ClockAdjust, ClockQuality, PtpClock, TransparentClock, TxTimestamp
from stack.timing.clocks import Clock

MASTER_IP = "198.18.0.1"
SLAVE_IP = "198.18.0.2"


@dataclass(frozen=True, slots=True)
class Link:
    """One direction: propagation ``delay_ns`` plus a switch residence of
    ``residence_ns`` + uniform[0, ``queueing_ns``) (true ns). Links are FIFO: a datagram
    never overtakes the previous one on the same link."""

    delay_ns: float
    residence_ns: float = 0.0
    queueing_ns: float = 0.0


@dataclass(slots=True)
class Node:
    ip: str
    engine: PtpClock
    clock: Clock
    deadline: int | None = None
    token: int = 0


class PtpHarness:
    """Runs PTP engines over links with per-node clocks, on true time."""

    def __init__(self, nodes: list[Node], links: dict[tuple[str, str], Link], rng: np.random.Generator,
                 reference: str | None = None, switch_clock: Clock | None = None, record: bool = False) -> None:
        self.nodes = {node.ip: node for node in nodes}
        self.links = links
        self.rng = rng
        self.reference = self.nodes[reference or nodes[0].ip]
        self.switch_clock = switch_clock
        self.tc = TransparentClock() if switch_clock is not None else None
        self.trace: dict[str, list[tuple[float, float]]] = {ip: [] for ip in self.nodes}
        self.sent: list[tuple[float, str, str, int, bytes]] | None = [] if record else None
        self.now = 0.0
        self._last_arrival: dict[tuple[str, str], float] = {}
        self._heap: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = itertools.count()
        for node in nodes:
            self._at(0.0, self._start, node)

    def run(self, until_ns: float) -> None:
        """Process every event up to ``until_ns`` (true time)."""
        while self._heap and self._heap[0][0] <= until_ns:
            self.now, _, callback, args = heapq.heappop(self._heap)
            callback(*args)
        self.now = until_ns

    def offset_ns(self, ip: str, true_ns: float) -> float:
        """True offset of a node's clock from the reference clock."""
        return self.nodes[ip].clock.local_ns(true_ns) - self.reference.clock.local_ns(true_ns)

    # -- events ---------------------------------------------------------------------------

    def _at(self, when: float, callback: Callable[..., None], *args: Any) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), callback, args))

    def _start(self, node: Node) -> None:
        self._apply(node, node.engine.start(node.clock.local_ns(self.now)))

    def _timer(self, node: Node, token: int) -> None:
        if token == node.token:
            node.deadline = None
            self._apply(node, node.engine.on_timer(node.clock.local_ns(self.now)))

    def _tx_timestamp(self, node: Node, event: TxTimestamp) -> None:
        self._apply(node, node.engine.handle(event, node.clock.local_ns(self.now)))

    def _arrive(self, node: Node, payload: bytes, source: tuple[str, int], port: int) -> None:
        if port == EVENT_PORT and payload[0] & 0x0F == SYNC and node is not self.reference:
            self.trace[node.ip].append((self.now, self.offset_ns(node.ip, self.now)))
        stamp = node.clock.timestamp(self.now)
        self._apply(node, node.engine.receive(payload, source, port, stamp))

    def _apply(self, node: Node, actions: Actions) -> None:
        t = self.now
        for (ip, port), payload in actions.send:
            if self.sent is not None:
                self.sent.append((t, node.ip, ip, port, payload))
            key = event_key(payload) if port == EVENT_PORT else None
            if key is not None:
                event = TxTimestamp((ip, port), key[0], key[1], node.clock.timestamp(t))
                self._at(t, self._tx_timestamp, node, event)
            link = self.links[(node.ip, ip)]
            residence = link.residence_ns + (link.queueing_ns * self.rng.random() if link.queueing_ns else 0.0)
            arrival = max(t + link.delay_ns + residence, self._last_arrival.get((node.ip, ip), 0.0))  # FIFO
            self._last_arrival[(node.ip, ip)] = arrival
            if self.tc is not None and self.switch_clock is not None and arrival > t + link.delay_ns:
                enter = t + link.delay_ns / 2
                payload = self.tc.forward(payload, self.switch_clock.timestamp(enter),
                                          self.switch_clock.timestamp(arrival - link.delay_ns / 2))
            self._at(arrival, self._arrive, self.nodes[ip], payload, (node.ip, port), port)
        adjusted = False
        for command in actions.hardware:
            if isinstance(command, ClockAdjust):
                node.clock.adjust(command.phase_ns, command.frequency_ppb, t)
                adjusted = True
        if adjusted or actions.deadline != node.deadline:
            node.deadline = actions.deadline
            node.token += 1
            if actions.deadline is not None:
                self._at(max(t, node.clock.true_ns(actions.deadline)), self._timer, node, node.token)


# -- two-node set-up and figures -------------------------------------------------------------


def two_node_harness(seed: int, *, jitter_ps: float = 0.0, slave_offset_ns: float = 0.0,
                     frequency_ppm: float = 0.0, wander_ppb: float = 0.0, wander_step_ns: int = 10_000_000,
                     delay_ms_ns: float = 5_000.0,
                     delay_sm_ns: float = 5_000.0, kp: float = 0.7, ki: float = 0.3, log_sync_interval: int = -3,
                     links: dict[tuple[str, str], Link] | None = None, switch_clock: Clock | None = None,
                     record: bool = False) -> PtpHarness:
    """A grandmaster (perfect oscillator, jittery timestamps) and one slave-only clock."""
    root = np.random.SeedSequence(seed)
    gm_rng, slave_rng, net_rng = (np.random.default_rng(s) for s in root.spawn(3))
    gm = PtpClock(0x020000FFFE000001, peers=[SLAVE_IP], quality=ClockQuality(priority1=1, clock_class=6),
                  log_sync_interval=log_sync_interval, listen_first=False)
    slave = PtpClock(0x020000FFFE000002, quality=ClockQuality(clock_class=255), log_sync_interval=log_sync_interval,
                     kp=kp, ki=ki)
    nodes = [Node(MASTER_IP, gm, Clock(gm_rng, jitter_ps=jitter_ps)),
             Node(SLAVE_IP, slave, Clock(slave_rng, offset_ns=slave_offset_ns, frequency_ppm=frequency_ppm,
                                         wander_ppb=wander_ppb, wander_step_ns=wander_step_ns, jitter_ps=jitter_ps))]
    if links is None:
        links = {(MASTER_IP, SLAVE_IP): Link(delay_ms_ns), (SLAVE_IP, MASTER_IP): Link(delay_sm_ns)}
    return PtpHarness(nodes, links, net_rng, switch_clock=switch_clock, record=record)


def rms(trace: list[tuple[float, float]], after_ns: float = 0.0) -> float:
    """Root-mean-square offset of the samples at or after ``after_ns``."""
    values = [x for t, x in trace if t >= after_ns]
    return math.sqrt(sum(x * x for x in values) / len(values))


def convergence_time(trace: list[tuple[float, float]], threshold_ns: float) -> float | None:
    """The first sample time after which |offset| stays below ``threshold_ns``; None if the
    last sample is still above it."""
    last_bad = None
    for i, (_, x) in enumerate(trace):
        if abs(x) >= threshold_ns:
            last_bad = i
    if last_bad is None:
        return trace[0][0] if trace else None
    return trace[last_bad + 1][0] if last_bad + 1 < len(trace) else None
