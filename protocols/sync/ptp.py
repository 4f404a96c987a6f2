"""PTPv2 ordinary clock (sans-IO): two-step, end-to-end delay mechanism, unicast over UDP.

One engine per node and PTP port; the best master clock algorithm (:mod:`protocols.sync.ptp_bmca`)
makes it master or slave; :mod:`protocols.sync.ptp_messages` builds and counts what it sends. A master
sends Announce and Sync to each of its ``peers`` (unicast), a Follow_Up with the precise t1 when the
Sync's transmit timestamp comes back, and answers Delay_Req with Delay_Resp. A slave sends one Delay_Req
per Follow_Up, and with t1..t4 of one exchange computes (convention: slave − master)::

    offset = ((t2 − t1) − (t4 − t3)) / 2      mean path delay = ((t2 − t1) + (t4 − t3)) / 2

records an :class:`OffsetSample` and feeds its :class:`protocols.sync.servo.PiServo`, whose
:class:`~protocols.sync.servo.ClockAdjust` goes out in ``Actions.hardware``.

Contract with the runtime (all times are the node's LOCAL clock, float ns since the run
start, see ``stack.timing.clocks``):

* ``start(now)``, ``on_timer(now)``, ``handle(event, now)``: ``now`` = local reading.
  Deadlines are local ns (int); convert with ``Clock.true_ns`` and again after executing a
  ClockAdjust. A timer up to ``TIMER_SLACK_NS`` early still counts.
* ``receive(payload, source, port, now)``: ``now`` = the hardware ingress timestamp
  (``Clock.timestamp`` at the true arrival time) of every datagram on ports 319 and 320.
* Every datagram sent to UDP port 319 is an event message: send it from port 319 (320 for
  port 320), then call ``handle(TxTimestamp(destination, message_type, sequence_id,
  Clock.timestamp(true send time)), now)``; ``packets.ptp.event_key`` reads the two keys.
* ``ClockAdjust(phase_ns, frequency_ppb)`` in ``Actions.hardware``: call
  ``Clock.adjust(phase_ns, frequency_ppb, at_true_ns=now)``.

>>> gm = PtpClock(0x0A, peers=["198.18.0.2"], quality=ClockQuality(priority1=1, clock_class=6),
...               listen_first=False)
>>> [(dest, MESSAGE_NAMES[PtpMessage.decode(p).message_type]) for dest, p in gm.start(0.0).send]
[(('198.18.0.2', 320), 'Announce'), (('198.18.0.2', 319), 'Sync')]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from protocols.common import Actions, Address, ParseError
from protocols.packets import ptp as wire
from protocols.packets.ptp import MESSAGE_NAMES, PtpMessage
from protocols.sync.ptp_bmca import ForeignMasters, own_announce, recommended_state
from protocols.sync.ptp_messages import PortMessages
from protocols.sync.ptp_types import (
    ClockQuality,
    Exchange,
    OffsetSample,
    PortState,
    TransparentClock,
    TxTimestamp,
    dataset_vector,
    interval_ns,
)
from protocols.sync.servo import ClockAdjust, PiServo

__all__ = ["MESSAGE_NAMES", "ClockAdjust", "ClockQuality", "OffsetSample", "PortState", "PtpClock",
           "TransparentClock", "TxTimestamp"]

TIMER_SLACK_NS = 1.0
MAX_OFFSET_NS = 1e13
"""A measured offset or path delay beyond this (about 2.8 hours) is not believed: the sample is dropped and
counted (``insane_samples``), as ptp4l's sanity checks drop what no real clock pair can show. Configured
clocks differ by at most 2·10¹² ns (``clock_offset_ns``), so only a forged or corrupt timestamp exceeds it;
believing one would step the clock by years, beyond what its timestamps can carry."""


@dataclass(slots=True)
class PtpClock:
    """A PTPv2 ordinary clock with one port (see the module docstring for the contract)."""

    clock_identity: int
    peers: list[str] = field(default_factory=list)
    quality: ClockQuality = field(default_factory=ClockQuality)
    log_sync_interval: int = -3
    log_announce_interval: int = 0
    announce_receipt_timeout: int = 3
    listen_first: bool = True
    kp: float = 0.7
    ki: float = 0.3
    domain: int = 0
    port_number: int = 1
    epoch_ns: int = wire.PTP_EPOCH_NS
    state: PortState = PortState.LISTENING
    parent: tuple[int, int] | None = None
    samples: list[OffsetSample] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    _foreign: ForeignMasters = field(default_factory=ForeignMasters)
    _parent_address: str = ""
    _listen_until: float = 0.0
    _next_announce: float = math.inf
    _next_sync: float = math.inf
    _sync_sent: set[tuple[str, int]] = field(default_factory=set)
    _exchange: Exchange | None = None
    _early_follow_up: PtpMessage | None = None
    servo: PiServo = field(init=False)
    _out: PortMessages = field(init=False)

    def __post_init__(self) -> None:
        self.servo = PiServo(interval_ns(self.log_sync_interval), self.kp, self.ki)
        self._out = PortMessages(self.clock_identity, self.port_number, self.domain, self.counters)

    @property
    def slave_only(self) -> bool:
        return self.quality.clock_class == 255

    def start(self, now: float) -> Actions:
        self._listen_until = now + self._receipt_timeout_ns() if self.listen_first else now
        return self._decide(now, Actions())

    def on_timer(self, now: float) -> Actions:
        due = now + TIMER_SLACK_NS
        actions = Actions()
        expired = self._foreign.expire(due)
        if expired or (self.state is PortState.LISTENING and self._listen_until <= due):
            self._decide(now, actions)
        if self.state is PortState.MASTER:
            if self._next_announce <= due:
                self._next_announce = self._advance(self._next_announce, self.log_announce_interval, now)
                self._send_announce(now, actions)
            if self._next_sync <= due:
                self._next_sync = self._advance(self._next_sync, self.log_sync_interval, now)
                self._send_sync(now, actions)
        actions.deadline = self._deadline()
        return actions

    def handle(self, event: Any, now: float) -> Actions:
        if not isinstance(event, TxTimestamp):
            raise TypeError(f"PTP clock cannot handle {event!r}")
        actions = Actions()
        key = (event.destination[0], event.sequence_id)
        if event.message_type == wire.SYNC and key in self._sync_sent:
            self._sync_sent.discard(key)
            seconds, nanoseconds, sub = wire.to_wire(event.timestamp, self.epoch_ns)
            self._out.send(actions, event.destination[0], self._out.message(
                wire.FOLLOW_UP, event.sequence_id, seconds, nanoseconds, correction=sub,
                log_interval=self.log_sync_interval))
        elif event.message_type == wire.DELAY_REQ and self._exchange and self._exchange.delay_seq == event.sequence_id:
            self._exchange.t3 = event.timestamp
            self._complete(actions, now)
        actions.deadline = self._deadline()
        return actions

    def receive(self, payload: bytes, source: Address, port: int, now: float) -> Actions:
        actions = Actions()
        try:
            msg = PtpMessage.decode(payload)
        except ParseError:
            self._out.tally("malformed")
            msg = None
        if msg is not None and msg.domain != self.domain:
            self._out.tally("other_domain")
        elif msg is not None:
            self._out.tally("received_" + MESSAGE_NAMES[msg.message_type])
            if msg.message_type == wire.ANNOUNCE:
                self._on_announce(msg, source[0], now, actions)
            elif msg.message_type == wire.DELAY_REQ:
                self._on_delay_req(msg, source[0], now, actions)
            elif (msg.clock_identity, msg.port_number) == self.parent and self.state is PortState.SLAVE:
                self._on_from_parent(msg, now, actions)
            else:
                self._out.tally("not_from_parent")
        actions.deadline = self._deadline()
        return actions

    def held_slots(self) -> set[int]:
        return set()

    # -- master ---------------------------------------------------------------------------

    def _send_announce(self, now: float, actions: Actions) -> None:
        seconds, nanoseconds, _ = wire.to_wire(now, self.epoch_ns)
        body = own_announce(self.quality, self.clock_identity)
        seq = self._out.next_seq(wire.ANNOUNCE)
        for peer in self.peers:
            self._out.send(actions, peer, self._out.message(wire.ANNOUNCE, seq, seconds, nanoseconds, announce=body,
                                                            log_interval=self.log_announce_interval))

    def _send_sync(self, now: float, actions: Actions) -> None:
        seconds, nanoseconds, _ = wire.to_wire(now, self.epoch_ns)
        seq = self._out.next_seq(wire.SYNC)
        for peer in self.peers:
            self._sync_sent.add((peer, seq))
            self._out.send(actions, peer, self._out.message(wire.SYNC, seq, seconds, nanoseconds,
                                                            flags=wire.FLAG_TWO_STEP,
                                                            log_interval=self.log_sync_interval))

    def _on_delay_req(self, msg: PtpMessage, source: str, now: float, actions: Actions) -> None:
        if self.state is not PortState.MASTER:
            self._out.tally("ignored")
            return
        seconds, nanoseconds, sub = wire.to_wire(now, self.epoch_ns, up=True)
        self._out.send(actions, source, self._out.message(
            wire.DELAY_RESP, msg.sequence_id, seconds, nanoseconds, correction=msg.correction + sub,
            log_interval=self.log_sync_interval, requesting=(msg.clock_identity, msg.port_number)))

    # -- slave ----------------------------------------------------------------------------

    def _on_from_parent(self, msg: PtpMessage, now: float, actions: Actions) -> None:
        ex = self._exchange
        if msg.message_type == wire.SYNC:
            self._exchange = ex = Exchange(msg.sequence_id, now, msg.correction)
            early, self._early_follow_up = self._early_follow_up, None
            if not msg.flags & wire.FLAG_TWO_STEP:
                ex.t1 = wire.from_wire(msg.seconds, msg.nanoseconds, msg.correction, self.epoch_ns)
                self._delay_req(ex, now, actions)
            elif early is not None and early.sequence_id == msg.sequence_id:
                self._follow_up(ex, early, now, actions)
        elif msg.message_type == wire.FOLLOW_UP and ex is not None and ex.sync_seq == msg.sequence_id and ex.t1 is None:
            self._follow_up(ex, msg, now, actions)
        elif msg.message_type == wire.FOLLOW_UP and (ex is None or ex.sync_seq != msg.sequence_id):
            self._early_follow_up = msg        # overtook its Sync (reordering): use it when the Sync comes
            self._out.tally("follow_up_before_sync")
        elif (msg.message_type == wire.DELAY_RESP and ex is not None and ex.delay_seq == msg.sequence_id
              and (msg.requesting_identity, msg.requesting_port) == (self.clock_identity, self.port_number)):
            ex.t4 = wire.from_wire(msg.seconds, msg.nanoseconds, -msg.correction, self.epoch_ns)
            self._complete(actions, now)
        else:
            self._out.tally("unmatched")

    def _follow_up(self, ex: Exchange, msg: PtpMessage, now: float, actions: Actions) -> None:
        ex.t1 = wire.from_wire(msg.seconds, msg.nanoseconds, ex.sync_correction + msg.correction, self.epoch_ns)
        self._delay_req(ex, now, actions)

    def _delay_req(self, ex: Exchange, now: float, actions: Actions) -> None:
        ex.delay_seq = self._out.next_seq(wire.DELAY_REQ)
        seconds, nanoseconds, _ = wire.to_wire(now, self.epoch_ns)
        self._out.send(actions, self._parent_address, self._out.message(
            wire.DELAY_REQ, ex.delay_seq, seconds, nanoseconds, log_interval=wire.LOG_INTERVAL_UNUSED))

    def _complete(self, actions: Actions, now: float) -> None:
        ex = self._exchange
        if ex is None or ex.t1 is None or ex.t3 is None or ex.t4 is None:
            return
        self._exchange = None
        master_to_slave, slave_to_master = ex.t2 - ex.t1, ex.t4 - ex.t3
        offset = (master_to_slave - slave_to_master) / 2
        if not (abs(offset) <= MAX_OFFSET_NS and abs(master_to_slave + slave_to_master) / 2 <= MAX_OFFSET_NS):
            self._out.tally("insane_samples")
            return
        adjust = self.servo.sample(offset, ex.t2, now)
        self.samples.append(OffsetSample(ex.t2, offset, (master_to_slave + slave_to_master) / 2,
                                         self.servo.frequency_ppb))
        if adjust is not None:
            actions.hardware.append(adjust)

    # -- best master ----------------------------------------------------------------------

    def _on_announce(self, msg: PtpMessage, source: str, now: float, actions: Actions) -> None:
        assert msg.announce is not None
        key = (msg.clock_identity, msg.port_number)
        if msg.announce.grandmaster_identity == self.clock_identity:
            return
        expires = now + self._receipt_timeout_ns()
        self._foreign.heard(key, source, dataset_vector(msg.announce, *key), expires)
        self._decide(now, actions)

    def _decide(self, now: float, actions: Actions) -> Actions:
        best = self._foreign.best()
        own = dataset_vector(own_announce(self.quality, self.clock_identity), self.clock_identity, self.port_number)
        state = recommended_state(None if best is None else best[1].vector, own, self.slave_only,
                                  now + TIMER_SLACK_NS < self._listen_until)
        if state is PortState.SLAVE:
            assert best is not None
            if self.parent != best[0] or self.state is not PortState.SLAVE:
                self.state, self.parent, self._parent_address = PortState.SLAVE, best[0], best[1].address
                self._exchange = None
                self.servo.reset()
        elif state is PortState.LISTENING:
            self.state, self.parent = PortState.LISTENING, None
        elif self.state is not PortState.MASTER:
            self.state, self.parent = PortState.MASTER, None
            self._next_announce = self._next_sync = now
            self._send_announce(now, actions)
            self._send_sync(now, actions)
            self._next_announce += interval_ns(self.log_announce_interval)
            self._next_sync += interval_ns(self.log_sync_interval)
        actions.deadline = self._deadline()
        return actions

    # -- helpers --------------------------------------------------------------------------

    def _receipt_timeout_ns(self) -> int:
        return self.announce_receipt_timeout * interval_ns(self.log_announce_interval)

    def _advance(self, when: float, log_interval: int, now: float) -> float:
        step = interval_ns(log_interval)
        return when + step * max(1, math.floor((now + TIMER_SLACK_NS - when) / step) + 1)

    def _deadline(self) -> int | None:
        times = self._foreign.expiries()
        if self.state is PortState.MASTER:
            times += [self._next_announce, self._next_sync]
        elif self.state is PortState.LISTENING and not self.slave_only:
            times.append(self._listen_until)
        return math.ceil(min(times)) if times else None
