"""Minimum fidelity and maximum time: the link layer admits, tunes and times out requests."""

from __future__ import annotations

import math

from protocols.common import EGP_PORT, LINK_SERVICE_PORT, Actions
from protocols.link.admission import LinkOption
from protocols.link.layer import LinkConfig, LinkLayer, RequestState
from protocols.packets import linkservice as ll
from protocols.packets.egp import MSG_REQ_ACK, MSG_SCHEDULE, MSG_SCHEDULE_ACK, EgpMessage
from protocols.physical.node import StartGeneration, StopGeneration
from stack.runtime import max_time_field, run_scenario
from stack.scenario import load_text
from tests.fidelity_util import fidelity_and_sigma

APP = ("198.18.0.1", 49152)
OPTIONS = (LinkOption(0.3, 0.70, 0.06), LinkOption(0.1, 0.90, 0.02), LinkOption(0.05, 0.95, 0.01))


def engine(options: tuple[LinkOption, ...] = OPTIONS, cycle_ns: int = 1_000) -> LinkLayer:
    link = LinkConfig(1, 2, ("198.18.0.2", EGP_PORT), math.inf, math.inf, options=options, cycle_ns=cycle_ns)
    return LinkLayer(1, [link], {}, retransmit_ns=10**12)


def create(**fields: int) -> bytes:
    return ll.Create(remote_node_id=2, **fields).encode()


def accept(layer: LinkLayer, request_bytes: bytes) -> list[object]:
    """The peer accepts the request (REQ_ACK) and follows the master's SCHEDULE (SCHEDULE_ACK)."""
    layer.receive(request_bytes, APP, LINK_SERVICE_PORT, now=0)
    ack = EgpMessage(MSG_REQ_ACK, 0, 1, 1, 1, 1).encode()
    assert layer.receive(ack, ("198.18.0.2", EGP_PORT), EGP_PORT, now=10).down == []
    followed = EgpMessage(MSG_SCHEDULE_ACK, 0, 1, 1, 1, 1, run=1).encode()
    return layer.receive(followed, ("198.18.0.2", EGP_PORT), EGP_PORT, now=20).down


def test_unreachable_minimum_fidelity_is_unsupported() -> None:
    out = engine().receive(create(minimum_fidelity=ll.encode_fidelity(0.99)), APP, LINK_SERVICE_PORT, now=0)
    (reply,) = [ll.decode_upward(p) for _, p in out.send]
    assert isinstance(reply, ll.Err) and reply.err == ll.ERR_UNSUPP


def test_the_fastest_setting_meeting_the_minimum_is_chosen() -> None:
    down = accept(engine(), create(minimum_fidelity=ll.encode_fidelity(0.85), number=5))
    assert down == [StartGeneration(1, 5, None, 0.1)]
    down = accept(engine(), create(number=5))
    assert down == [StartGeneration(1, 5, None, 0.3)]


def test_expected_time_beyond_max_time_is_notime() -> None:
    # 100 pairs at p = 0.06 and 1 µs per attempt take 1.67 ms on average
    layer = engine()
    out = layer.receive(create(number=100, tu=0, max_time=1000), APP, LINK_SERVICE_PORT, now=0)
    assert [ll.decode_upward(p).err for _, p in out.send] == [ll.ERR_NOTIME]     # type: ignore[union-attr]
    out = layer.receive(create(number=100, tu=0, max_time=2000), APP, LINK_SERVICE_PORT, now=0)
    assert isinstance(ll.decode_upward(out.send[0][1]), ll.Ack)


def test_max_time_running_out_is_a_timeout_and_stops_generation() -> None:
    """At the master, with no CONFIRM waiting for its answer: ERR TIMEOUT, and the request is aborted at the other
    end at once (SCHEDULE with Status TIMEOUT: wire.md §4.4, Max Time)."""
    layer = engine()
    accept(layer, create(number=100, tu=0, max_time=2000))
    (request,) = layer.requests.values()
    assert request.state == RequestState.GENERATING and layer._done(Actions(), now=20).deadline == 2_000_000
    out = layer.on_timer(2_000_000)
    assert StopGeneration(1) in out.down
    assert [ll.decode_upward(p).err for a, p in out.send if a == APP] == [ll.ERR_TIMEOUT]  # type: ignore[union-attr]
    (abort,) = [EgpMessage.decode(p) for a, p in out.send if a != APP]
    assert (abort.msg_type, abort.status) == (MSG_SCHEDULE, ll.ERR_TIMEOUT)
    assert request.state == RequestState.FAILED and layer.runs.current(1) is None


def test_max_time_field_uses_the_finest_unit_that_fits() -> None:
    assert max_time_field(0) == (0, 0)
    assert max_time_field(1_500) == (0, 2)                 # 2 µs (rounded up)
    assert max_time_field(20_000_000) == (1, 20)           # 20 ms
    assert max_time_field(3_600_000_000_000) == (2, 3600)  # an hour


SINGLE_CLICK = """
[run]
duration_ms = 1e6
seed = 2
[nodes.a]
kind = "qpu"
t2_ms = inf
[nodes.b]
kind = "qpu"
t2_ms = inf
[nodes.st]
kind = "station"
dark_count_rate_hz = 1e6
[links.ab]
a = "a"
b = "b"
scheme = "single-click"
station = "st"
length_km = 5.0
bright_state_population = 0.3
depolarizing = 0.0
[[workload]]
node = "a"
remote = "b"
pairs = 1500
min_fidelity = {min_fidelity}
"""


def test_a_minimum_fidelity_makes_single_click_trade_rate_for_fidelity() -> None:
    results = {}
    for minimum in (0.0, 0.9):
        run = run_scenario(load_text(SINGLE_CLICK.format(min_fidelity=minimum), "<test>"))
        configured = run.emulation.link_physics[1].model.fidelity           # the scenario's α = 0.3
        # 1,500 pairs, 500 a basis: sigma 0.015 at the configured F ≈ 0.73, at most 0.0097 for F ≥ 0.9
        fidelity, sigma = fidelity_and_sigma(run.emulation.workloads[0], minimum or configured)
        records = run.emulation.workloads[0].origin.records
        results[minimum] = (fidelity, sigma, records[-1].ok_time - records[0].ok_time)
        if not minimum:                                     # no floor: the configured α = 0.3, fast and poor
            assert configured < 0.85 and abs(fidelity - configured) < 4 * sigma, (fidelity, configured, sigma)
    assert results[0.9][0] > 0.9 - 4 * results[0.9][1]      # the floor is met…
    assert results[0.9][2] > 2 * results[0.0][2]            # …by going slower


def test_a_request_that_cannot_finish_in_time_ends_with_timeout() -> None:
    text = SINGLE_CLICK.format(min_fidelity=0.0).replace('[nodes.a]\nkind = "qpu"',
                                                         '[nodes.a]\nkind = "qpu"\nclock_offset_ns = 50.0')
    text = text.replace("pairs = 1500", "pairs = 50\nmax_time_ms = 20")
    run = run_scenario(load_text(text, "<test>"))            # photons never meet: no pair, ever
    workload = run.emulation.workloads[0]
    assert workload.origin.errors == [ll.ERR_TIMEOUT] and workload.responder.errors == [ll.ERR_TIMEOUT]
    assert not workload.origin.records


def test_random_bases_are_for_measure_directly_and_chsh_is_unsupported() -> None:
    layer = engine()
    for fields in ({"rl": 1}, {"rl": 3, "rr": 3, "tpe": 1}):
        out = layer.receive(create(**fields), APP, LINK_SERVICE_PORT, now=0)
        assert [ll.decode_upward(p).err for _, p in out.send] == [ll.ERR_UNSUPP]  # type: ignore[union-attr]
    out = layer.receive(create(rl=2, rr=1, tpe=1), APP, LINK_SERVICE_PORT, now=0)
    assert isinstance(ll.decode_upward(out.send[0][1]), ll.Ack)
