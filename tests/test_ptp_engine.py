"""PTP engines (protocols.sync.ptp) driven by hand, the servo's closed forms, and the docstring
examples of every PTP module. Times are local ns; see protocols/sync/ptp.py for the contract."""

from __future__ import annotations

import doctest
import importlib

import pytest

from protocols.common import Actions
from protocols.packets import ptp as wire
from protocols.packets.ptp import ANNOUNCE, DELAY_REQ, DELAY_RESP, FOLLOW_UP, SYNC, Announce, PtpMessage
from protocols.sync.ptp import ClockAdjust, ClockQuality, OffsetSample, PortState, PtpClock, TxTimestamp
from protocols.sync.servo import PiServo, impulse_response, is_stable, noise_gain

GM_ID, SLAVE_ID = 0x020000FFFE000001, 0x020000FFFE000002
GM_IP, SLAVE_IP = "198.18.0.1", "198.18.0.2"


# -- engines ---------------------------------------------------------------------------------


def decoded(actions: Actions) -> list[tuple[tuple[str, int], PtpMessage]]:
    return [(dest, PtpMessage.decode(p)) for dest, p in actions.send]


def grandmaster() -> PtpClock:
    return PtpClock(GM_ID, peers=[SLAVE_IP], quality=ClockQuality(priority1=1, clock_class=6), listen_first=False)


def test_master_sync_follow_up_and_delay_resp() -> None:
    gm = grandmaster()
    started = gm.start(0.0)
    assert started.deadline == 125_000_000
    out = decoded(started)
    assert [(d, m.message_type) for d, m in out] == [((SLAVE_IP, 320), ANNOUNCE), ((SLAVE_IP, 319), SYNC)]
    sync = out[1][1]
    assert sync.flags == wire.FLAG_TWO_STEP | wire.FLAG_UNICAST and sync.log_interval == -3
    assert gm.state is PortState.MASTER
    follow = gm.handle(TxTimestamp((SLAVE_IP, 319), SYNC, sync.sequence_id, 1_234.75), 1_300.0)
    [(dest, fu)] = decoded(follow)
    assert dest == (SLAVE_IP, 320) and fu.message_type == FOLLOW_UP and fu.sequence_id == sync.sequence_id
    assert (fu.seconds, fu.nanoseconds, fu.correction) == (1_767_225_600, 1_234, 49_152)
    assert decoded(gm.handle(TxTimestamp((SLAVE_IP, 319), SYNC, sync.sequence_id, 1.0), 2.0)) == []  # only once
    req = PtpMessage(DELAY_REQ, 9, SLAVE_ID, 1, correction=7 * 65536)
    [(dest, resp)] = decoded(gm.receive(req.encode(), (SLAVE_IP, 319), 319, 5_000.25))
    assert dest == (SLAVE_IP, 320) and resp.message_type == DELAY_RESP and resp.sequence_id == 9
    assert (resp.nanoseconds, resp.correction) == (5_001, 7 * 65536 + 49152)    # ⌈t4⌉, + (⌈t4⌉ − t4)
    assert (resp.requesting_identity, resp.requesting_port) == (SLAVE_ID, 1)
    timer = gm.on_timer(125e6)                                   # next Sync, 125 ms later
    assert [m.sequence_id for _, m in decoded(timer) if m.message_type == SYNC] == [1]
    assert timer.deadline == 250_000_000


def slave_with_parent() -> PtpClock:
    slave = PtpClock(SLAVE_ID, quality=ClockQuality(clock_class=255))
    assert slave.start(0.0).send == [] and slave.state is PortState.LISTENING
    announce = PtpMessage(ANNOUNCE, 0, GM_ID, announce=Announce(1, 6, grandmaster_identity=GM_ID))
    slave.receive(announce.encode(), (GM_IP, 320), 320, 10.0)
    assert slave.state is PortState.SLAVE and slave.parent == (GM_ID, 1)
    return slave


def exchange(slave: PtpClock, seq: int, t1: float, t2: float, t3: float, t4: float,
             sync_correction: int = 0) -> list[object]:
    """Feed one two-step exchange; returns the hardware commands."""
    sync = PtpMessage(SYNC, seq, GM_ID, flags=wire.FLAG_TWO_STEP, correction=sync_correction)
    assert slave.receive(sync.encode(), (GM_IP, 319), 319, t2).send == []
    s, ns, sub = wire.to_wire(t1)
    fu = PtpMessage(FOLLOW_UP, seq, GM_ID, seconds=s, nanoseconds=ns, correction=sub)
    [(dest, req)] = decoded(slave.receive(fu.encode(), (GM_IP, 320), 320, t2 + 1))
    assert dest == (GM_IP, 319) and req.message_type == DELAY_REQ
    assert slave.handle(TxTimestamp(dest, DELAY_REQ, req.sequence_id, t3), t3).hardware == []
    s, ns, sub = wire.to_wire(t4, up=True)
    resp = PtpMessage(DELAY_RESP, req.sequence_id, GM_ID, seconds=s, nanoseconds=ns, correction=sub,
                      requesting_identity=SLAVE_ID, requesting_port=1)
    return slave.receive(resp.encode(), (GM_IP, 320), 320, t4 + 50).hardware


def test_slave_offset_delay_and_servo() -> None:
    slave = slave_with_parent()
    assert exchange(slave, 0, 1_000.0, 1_100.0, 1_200.0, 1_250.0) == []       # first sample: remembered
    assert slave.samples == [OffsetSample(1_100.0, 25.0, 75.0, 0.0)]
    # 125 ms later the offset is 25 + 250 ns (2 ppm fast); a TC added 10.5 ns on the Sync
    t1 = 125e6 + 1_000.25
    hw = exchange(slave, 1, t1, t1 + 75 + 275 + 10.5, 125e6 + 1_200.0, 125e6 + 1_200.0 + 75 - 275,
                  sync_correction=round(10.5 * 65536))
    assert slave.samples[1].offset_ns == pytest.approx(275.0, abs=1e-4)
    assert slave.samples[1].mean_path_delay_ns == pytest.approx(75.0, abs=1e-4)
    [adjust] = hw
    assert isinstance(adjust, ClockAdjust)
    assert adjust.frequency_ppb == pytest.approx(-2_000.0, rel=1e-3)
    assert adjust.phase_ns == pytest.approx(-275.0, abs=0.01)     # plus the drift since t2


def test_follow_up_that_overtakes_its_sync_is_used_when_the_sync_arrives() -> None:
    """Reordering (e.g. the two UDP ports of the multi-process mode) must not lose an exchange."""
    slave = slave_with_parent()
    s, ns, sub = wire.to_wire(1_000.0)
    fu = PtpMessage(FOLLOW_UP, 7, GM_ID, seconds=s, nanoseconds=ns, correction=sub)
    assert slave.receive(fu.encode(), (GM_IP, 320), 320, 1_090.0).send == []
    sync = PtpMessage(SYNC, 7, GM_ID, flags=wire.FLAG_TWO_STEP)
    [(dest, req)] = decoded(slave.receive(sync.encode(), (GM_IP, 319), 319, 1_100.0))
    assert dest == (GM_IP, 319) and req.message_type == DELAY_REQ
    assert slave.counters["follow_up_before_sync"] == 1
    assert slave._exchange is not None and slave._exchange.t1 == 1_000.0 and slave._exchange.t2 == 1_100.0
    stale = PtpMessage(FOLLOW_UP, 3, GM_ID, seconds=s, nanoseconds=ns, correction=sub)
    slave.receive(stale.encode(), (GM_IP, 320), 320, 1_200.0)          # an old one is kept, but never matches
    assert decoded(slave.receive(PtpMessage(SYNC, 8, GM_ID, flags=wire.FLAG_TWO_STEP).encode(),
                                 (GM_IP, 319), 319, 1_300.0)) == []


def test_slave_ignores_other_masters_and_garbage() -> None:
    slave = slave_with_parent()
    other = PtpMessage(SYNC, 0, 0x99, flags=wire.FLAG_TWO_STEP)
    assert slave.receive(other.encode(), ("198.18.0.9", 319), 319, 5.0).send == []
    assert slave.receive(b"\x00\x02junk", (GM_IP, 319), 319, 6.0).send == []
    assert slave.receive(PtpMessage(SYNC, 1, GM_ID, domain=3).encode(), (GM_IP, 319), 319, 7.0).send == []
    fu = PtpMessage(FOLLOW_UP, 42, GM_ID)                       # no Sync 42 seen
    assert slave.receive(fu.encode(), (GM_IP, 320), 320, 8.0).send == []
    assert slave.counters["not_from_parent"] == 1 and slave.counters["malformed"] == 1
    assert slave.counters["other_domain"] == 1 and slave.counters["follow_up_before_sync"] == 1
    with pytest.raises(TypeError):
        slave.handle("event", 0.0)


def test_one_step_sync_needs_no_follow_up() -> None:
    slave = slave_with_parent()
    s, ns, _ = wire.to_wire(1_000.0)
    sync = PtpMessage(SYNC, 0, GM_ID, seconds=s, nanoseconds=ns, correction=5 * 65536)
    [(_, req)] = decoded(slave.receive(sync.encode(), (GM_IP, 319), 319, 1_100.0))
    assert req.message_type == DELAY_REQ


def test_best_master_choice() -> None:
    a = PtpClock(0x0A, peers=["198.18.0.2"])                  # default dataset
    assert a.start(0.0).deadline == 3_000_000_000 and a.state is PortState.LISTENING
    out = a.on_timer(3e9)                                      # nobody better heard: master
    assert a.state is PortState.MASTER and {m.message_type for _, m in decoded(out)} == {ANNOUNCE, SYNC}
    worse = PtpMessage(ANNOUNCE, 0, 0x0B, announce=Announce(priority1=200, grandmaster_identity=0x0B))
    a.receive(worse.encode(), ("198.18.0.3", 320), 320, 3.1e9)
    assert a.state is PortState.MASTER
    better = PtpMessage(ANNOUNCE, 0, 0x0C, announce=Announce(priority1=100, grandmaster_identity=0x0C))
    a.receive(better.encode(), ("198.18.0.4", 320), 320, 3.2e9)
    assert a.state is PortState.SLAVE and a.parent == (0x0C, 1)
    # same dataset except identity: the lower identity wins
    tie = PtpMessage(ANNOUNCE, 0, 0x09, announce=Announce(priority1=100, grandmaster_identity=0x09))
    a.receive(tie.encode(), ("198.18.0.5", 320), 320, 3.3e9)
    assert a.parent == (0x09, 1)
    assert a.on_timer(6.35e9).deadline is not None             # both better ones expired: master again
    assert a.state is PortState.MASTER


def test_slave_only_falls_back_to_listening() -> None:
    slave = slave_with_parent()
    slave.on_timer(10.0 + 3e9)
    assert slave.state is PortState.LISTENING and slave.parent is None


# -- servo theory ----------------------------------------------------------------------------


@pytest.mark.parametrize(("kp", "ki"), [(0.7, 0.3), (0.1, 0.01), (0.3, 0.05), (1.0, 0.5), (1.5, 0.9)])
def test_noise_gain_closed_form_equals_impulse_response(kp: float, ki: float) -> None:
    h = impulse_response(kp, ki, 5_000)
    assert noise_gain(kp, ki) == pytest.approx(sum(x * x for x in h), rel=1e-9)


def test_stability_region() -> None:
    assert is_stable(0.7, 0.3) and not is_stable(2.0, 0.1) and not is_stable(0.5, 0.0)
    assert not is_stable(1.5, 1.0)                             # 2kp + ki = 4
    with pytest.raises(ValueError):
        PiServo(1e9, kp=2.5)
    with pytest.raises(ValueError):
        noise_gain(1.9, 0.5)


@pytest.mark.parametrize("module", ["protocols.packets.ptp", "protocols.sync.ptp", "protocols.sync.ptp_types",
                                    "protocols.sync.servo", "stack.timing.clocks", "stack.timing.ptp_harness"])
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


def test_a_sample_no_configured_clocks_can_show_is_dropped_not_stepped_to() -> None:
    """A forged Follow_Up (or one-step Sync) with a timestamp years away used to step the clock by years, past
    what its timestamps can carry (a crash encoding the next HERALD) and past its wander grid (a hang). Beyond
    MAX_OFFSET_NS the sample is dropped and counted; the servo is not spent on it."""
    slave = slave_with_parent()
    years = 40 * 365 * 86_400 * 1e9
    assert exchange(slave, 0, t1=years, t2=1_000.0, t3=2_000.0, t4=2_500.0) == []
    assert slave.counters["insane_samples"] == 1 and slave.samples == []
    assert exchange(slave, 1, t1=-years, t2=3_000.0, t3=4_000.0, t4=4_500.0) == []      # the other way
    assert exchange(slave, 2, t1=900.0, t2=5_000.0, t3=6_000.0, t4=6_500.0 + 2e13) == []  # a wild delay too
    assert slave.counters["insane_samples"] == 3
    assert exchange(slave, 3, t1=10_000.0, t2=10_600.0, t3=11_000.0, t4=11_400.0) == []   # then real ones:
    [adjust] = exchange(slave, 4, t1=20_000.0, t2=20_600.0, t3=21_000.0, t4=21_400.0)     # the servo's first step
    assert isinstance(adjust, ClockAdjust) and adjust.phase_ns == pytest.approx(-100.0, abs=1e-6)
