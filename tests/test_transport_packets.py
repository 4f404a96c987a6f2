"""QTP (UDP 7776): golden bytes both ways, the scapy layer byte-equal to the codec, the Lua dissector through
tshark on hand-made messages, malformed ones, and a real teleportation run's capture; the engine alone."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.common import QTP_PORT, ParseError
from protocols.packets import qtp
from protocols.packets.qtp import Qtp
from protocols.packets.scapy_layers.qtp import QTP
from protocols.physical.hardware import BellMeasure, BellMeasureResult, Discard, Gate
from protocols.transport import Delivered, Lost, PairRef, Sent, Transport
from protocols.transport.teleport import LINGER_INTERVALS
from stack.core.capture import PcapWriter, udp_frame
from tests.tshark_util import (
    NO_TRAILER,
    SEVERITY_WARN,
    assert_matches_scapy,
    decode_with_tshark,
    have_tshark,
    tshark_columns,
)

GOLDEN = [
    (Qtp(qtp.TYPE_DATA, 100, 7, 3, 9, 1, cx=1, cz=0), "11800064000700030009000100000000"),
    (Qtp(qtp.TYPE_DATA, 0xBEEF, 0xFFFF, 0x0FFF, 0xFFFE, 0x0203, cx=1, cz=1, attempt=5),
     "11c0beefffff0ffffffe020300050000"),
    (Qtp(qtp.TYPE_ACK, 100, 7, 3, 9, 1), "12000064000700030009000100000000"),
    (Qtp(qtp.TYPE_ERR, 100, 0, 3, 9, 1, error=qtp.ERR_DEADLINE), "13000064000000030009000102000000"),
    (Qtp(qtp.TYPE_ERR, 100, 7, 3, 9, 1, error=qtp.ERR_NOPAIR), "13000064000700030009000101000000"),
]


@pytest.mark.parametrize(("message", "golden"), GOLDEN)
def test_golden_bytes_both_ways(message: Qtp, golden: str) -> None:
    assert message.encode().hex() == golden
    assert Qtp.decode(bytes.fromhex(golden)) == message
    assert bytes(QTP(bytes.fromhex(golden))) == bytes.fromhex(golden)


@pytest.mark.parametrize(("bad", "why"), [
    ("1180006400070003000900010000", "16 bytes"),
    ("21800064000700030009000100000000", "version 2"),
    ("14000064000700030009000100000000", "unknown QTP type 4"),
    ("11a00064000700030009000100000000", "reserved bits"),
    ("12800064000700030009000100000000", "carries correction bits"),
    ("13000064000700030009000100000000", "error code 0"),
    ("13000064000700030009000104000000", "error code 4"),
    ("12000064000700030009000102000000", "error code 2"),
    ("12000064000700030009000100000001", "reserved bits"),
])
def test_malformed_messages_are_refused_naming_the_fault(bad: str, why: str) -> None:
    with pytest.raises(ParseError, match=why):
        Qtp.decode(bytes.fromhex(bad))


messages = st.one_of(
    st.builds(Qtp, st.just(qtp.TYPE_DATA), *[st.integers(0, 0xFFFF)] * 5, st.integers(0, 1), st.integers(0, 1),
              st.just(0), st.integers(0, 255)),
    st.builds(Qtp, st.just(qtp.TYPE_ACK), *[st.integers(0, 0xFFFF)] * 5, attempt=st.integers(0, 255)),
    st.builds(Qtp, st.just(qtp.TYPE_ERR), *[st.integers(0, 0xFFFF)] * 5, error=st.sampled_from(qtp.WIRE_ERRORS)),
)


@given(messages)
def test_the_scapy_layer_is_byte_equal_to_the_codec(message: Qtp) -> None:
    data = message.encode()
    layer = QTP(data)
    assert bytes(layer) == data
    assert (layer.msg_type, layer.purpose_id, layer.transfer_seq, layer.create_id, layer.pair_seq,
            layer.origin_node, layer.cx, layer.cz, layer.error, layer.attempt) == \
        (message.type, message.purpose_id, message.transfer_seq, message.create_id, message.pair_seq,
         message.origin_node, message.cx, message.cz, message.error, message.attempt)
    assert Qtp.decode(data) == message


# -- the engine alone --------------------------------------------------------------------------------------

ALICE, BOB = ("198.18.0.1", QTP_PORT), ("198.18.0.2", QTP_PORT)


def _pair(slot: int, bell: int = 0, at: int = 0) -> PairRef:
    return PairRef(slot, 1, 3, 9, bell, at)


def test_engines_deliver_retransmit_answer_duplicates_and_hold_early_data() -> None:
    sender, receiver = Transport(100, 1_000_000, 10_000), Transport(100, 1_000_000, 10_000)
    seq, actions = sender.send(5, _pair(0, bell=3), BOB, 0)
    assert actions.hardware == [BellMeasure(5, 0)]
    actions = sender.handle(BellMeasureResult(5, 0, bell_index=1), 100)
    (dest, data), = actions.send
    assert dest == BOB and Qtp.decode(data) == Qtp(qtp.TYPE_DATA, 100, seq, 3, 9, 1, cx=0, cz=1)  # 1 ⊕ 3 = 2
    assert actions.deadline == 10_100
    retry = sender.on_timer(10_100)
    assert Qtp.decode(retry.send[0][1]).attempt == 1 and sender.counters.retransmitted == 1
    early = receiver.receive(data, ALICE, QTP_PORT, 200)              # before the receiver's OK: held
    assert not early.send and receiver.early
    got = receiver.expect(_pair(1, bell=3, at=300), ALICE, 300)
    assert got.hardware == [Gate("Z", (1,))] and got.up == [Delivered(seq, 1, (1, 3, 9))]
    ack = got.send[0][1]
    again = receiver.receive(retry.send[0][1], ALICE, QTP_PORT, 400)  # a retransmission: the same answer
    assert again.send == [(ALICE, ack)] and not again.hardware
    done = sender.receive(ack, BOB, QTP_PORT, 500)
    assert done.up == [Sent(seq, (1, 3, 9))] and not sender.outgoing
    assert sender.receive(ack, BOB, QTP_PORT, 600).up == [] and sender.counters.unexpected == 1
    assert receiver.receive(b"\x00" * 3, ALICE, QTP_PORT, 700).send == [] and receiver.counters.malformed == 1


def test_the_receivers_deadline_discards_the_half_and_the_sender_learns_it() -> None:
    sender, receiver = Transport(100, 50_000, 10_000), Transport(100, 50_000, 10_000)
    receiver.expect(_pair(1), ALICE, 0)
    assert receiver.deadline() == 50_000
    out = receiver.on_timer(50_000)
    assert out.hardware == [Discard(1)] and isinstance(out.up[0], Lost) and out.up[0].code == qtp.ERR_DEADLINE
    seq, _ = sender.send(5, _pair(0, at=10_000), BOB, 40_000)
    data = sender.handle(BellMeasureResult(5, 0, 0), 41_000).send[0][1]
    answer = receiver.receive(data, ALICE, QTP_PORT, 45_000).send[0][1]
    assert Qtp.decode(answer).error == qtp.ERR_DEADLINE
    lost = sender.receive(answer, BOB, QTP_PORT, 46_000).up
    assert lost == [Lost(seq, (1, 3, 9), qtp.ERR_DEADLINE, lost[0].reason)]
    unanswered = Transport(100, 50_000, 10_000)
    unanswered.send(5, _pair(0), BOB, 0)
    unanswered.handle(BellMeasureResult(5, 0, 0), 0)
    ends = [unanswered.on_timer(t).up for t in range(10_000, 70_001, 10_000)]
    assert [e[0].code for e in ends if e] == [qtp.ERR_UNANSWERED]


def test_time_wait_lasts_linger_intervals_after_the_last_data_heard_not_the_memory_budget() -> None:
    """A receiver that delivered keeps answering for LINGER_INTERVALS intervals after the last DATA it heard of
    the transfer (each retransmission, its answer lost, restarts the count); then it is quiet, long before the
    pair's memory deadline (10 s here). With a short budget the old bound, the sender's give-up, comes first."""
    budget, interval = 10_000_000_000, 10_000
    sender, receiver = Transport(100, budget, interval), Transport(100, budget, interval)
    sender.send(5, _pair(0), BOB, 0)
    data = sender.handle(BellMeasureResult(5, 0, 0), 0).send[0][1]
    receiver.expect(_pair(1), ALICE, 0)
    assert receiver.receive(data, ALICE, QTP_PORT, 1_000).up and not receiver.incoming
    linger = LINGER_INTERVALS * interval
    assert not receiver.quiet(1_000 + linger - 1) and receiver.quiet(1_000 + linger)
    retry = sender.on_timer(interval).send[0][1]                  # the ACK was lost: the sender resends
    assert receiver.receive(retry, ALICE, QTP_PORT, 11_000).send
    assert not receiver.quiet(11_000 + linger - 1) and receiver.quiet(11_000 + linger)
    short = Transport(100, 50_000, interval)
    short.expect(_pair(1), ALICE, 0)
    short.receive(data, ALICE, QTP_PORT, 45_000)
    assert short.quiet(50_000 + 2 * interval) and not short.quiet(50_000 + 2 * interval - 1)


def test_an_err_that_comes_while_the_sender_measures_ends_the_transfer_once() -> None:
    """The receiver's ERR DEADLINE (sent at its deadline, transfer 0) can reach the sender during its Bell
    measurement: the transfer is lost then, and the measurement's result, when it comes, sends nothing."""
    sender = Transport(100, 50_000, 10_000)
    seq, _ = sender.send(5, _pair(0), BOB, 40_000)
    err = Qtp(qtp.TYPE_ERR, 100, 0, 3, 9, 1, error=qtp.ERR_DEADLINE).encode()
    lost = sender.receive(err, BOB, QTP_PORT, 40_500).up
    assert [(e.transfer_seq, e.code) for e in lost] == [(seq, qtp.ERR_DEADLINE)] and not sender.outgoing
    after = sender.handle(BellMeasureResult(5, 0, 0), 41_000)
    assert not after.send and not after.up and sender.counters.lost == 1


def test_a_failed_bell_measurement_loses_the_qubit_at_the_sender() -> None:
    sender = Transport(100, 50_000, 10_000)
    sender.send(5, _pair(0), BOB, 0)
    up = sender.handle(BellMeasureResult(5, 0, 0, success=False), 0).up
    assert isinstance(up[0], Lost) and up[0].code == qtp.ERR_BSM and not sender.outgoing


# -- tshark ----------------------------------------------------------------------------------------------

def _write(path: Path, frames: list[bytes]) -> Path:
    with path.open("wb") as f:
        writer = PcapWriter(f)
        for i, frame in enumerate(frames):
            writer.write(1_000 * i, frame)
    return path


@pytest.mark.skipif(not have_tshark(), reason="tshark is not installed")
def test_tshark_decodes_every_qtp_message_like_scapy(tmp_path: Path) -> None:
    frames = [udp_frame(1 + i % 2, QTP_PORT, 2 - i % 2, QTP_PORT, message.encode()) for i, (message, _) in
              enumerate(GOLDEN)]
    capture = _write(tmp_path / "qtp.pcap", frames)                # hand-made: no authentication trailers
    kinds = assert_matches_scapy(capture, trailer=False)
    assert kinds == {"QTP_DATA": 2, "QTP_ACK": 1, "QTP_ERR": 2}
    rows = tshark_columns(capture, "_ws.col.Protocol", "_ws.col.Info", options=NO_TRAILER)
    assert rows[0] == ["QTP", "DATA purpose=100 transfer=7 origin=1 create_id=3 seq=9 correction=X1Z0"]
    assert rows[1][1].endswith("correction=X1Z1 attempt=5")
    assert rows[3][1] == "ERR purpose=100 transfer=0 origin=1 create_id=3 seq=9 DEADLINE"


@pytest.mark.skipif(not have_tshark(), reason="tshark is not installed")
def test_tshark_flags_malformed_qtp_without_lua_errors(tmp_path: Path) -> None:
    bad = ["1180006400070003", "12800064000700030009000100000000", "13000064000700030009000109000000",
           "11800064000700030009000100000000ff"]
    capture = _write(tmp_path / "bad.pcap", [udp_frame(1, QTP_PORT, 2, QTP_PORT, bytes.fromhex(b)) for b in bad])
    for frame in decode_with_tshark(capture, *NO_TRAILER):
        assert any(e.severity >= SEVERITY_WARN and e.abbrev.startswith("qtp") for e in frame["experts"]), frame


@pytest.mark.skipif(not have_tshark(), reason="tshark is not installed")
def test_a_teleportation_runs_capture_decodes_like_scapy(tmp_path: Path) -> None:
    from stack.api import run_apps
    from stack.scenario import load_text
    from tests.test_transport import SCENARIO

    buffer = io.BytesIO()

    async def alice(ctx):  # type: ignore[no-untyped-def]
        from stack.api.transport import Teleporter
        teleporter = Teleporter(ctx)
        for _ in range(3):
            slot = ctx.qubit()
            ctx.gate("H", slot)
            await teleporter.send("bob", slot)

    async def bob(ctx):  # type: ignore[no-untyped-def]
        from stack.api.transport import Teleporter
        teleporter = Teleporter(ctx)
        for _ in range(3):
            await ctx.measure(await teleporter.recv("alice"))

    run_apps(load_text(SCENARIO, "<qtp>"), {"alice": alice, "bob": bob}, pcap=buffer)
    capture = tmp_path / "run.pcap"
    capture.write_bytes(buffer.getvalue())
    kinds = assert_matches_scapy(capture)
    assert kinds["QTP_DATA"] >= 3 and kinds["QTP_ACK"] >= 3
