"""The node ↔ medium socket protocol: every hardware type round-trips; bad input is a clear error."""

from __future__ import annotations

import json
import struct

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from protocols.common import Basis, DistillProtocol
from protocols.physical import hardware
from stack.multiprocess.medium_protocol import (
    HARDWARE_TYPES,
    MediumProtocolError,
    MessageStream,
    decode_hardware,
    encode_hardware,
    frame,
)

bases = st.sampled_from(list(Basis))
ints = st.integers(0, 2**40)
probs = st.floats(0, 1, allow_nan=False)
objects = st.one_of(
    st.builds(hardware.Arm, ints, ints, st.none() | bases, st.none() | probs,
              st.lists(st.tuples(bases, probs), max_size=3).map(tuple)),
    st.builds(hardware.Disarm, ints),
    st.builds(hardware.Measure, ints, bases),
    st.builds(hardware.Discard, ints),
    st.builds(hardware.Move, ints),
    st.builds(hardware.MoveResult, ints, st.none() | ints),
    st.builds(hardware.Emitted, ints, ints, ints, ints, ints, st.tuples(probs, probs, probs, probs),
              st.none() | st.integers(0, 1), st.none() | bases, st.booleans(), ints),
    st.builds(hardware.Detection, ints, ints, ints,
              st.lists(st.tuples(ints, ints, ints), max_size=3).map(tuple),
              st.tuples(st.floats(-1e12, 1e12), st.floats(-1e12, 1e12))),
    st.builds(hardware.MeasureResult, ints, ints, bases, st.integers(0, 1)),
    st.builds(hardware.BellMeasure, ints, ints),
    st.builds(hardware.BellMeasureResult, ints, ints, st.integers(0, 3), st.booleans()),
    st.builds(hardware.Init, ints),
    st.sampled_from(sorted(hardware.GATES)).flatmap(
        lambda name: st.builds(hardware.Gate, st.just(name),
                               st.tuples(*[ints] * hardware.GATES[name]))),
    st.builds(hardware.Distill, ints, ints, st.sampled_from(list(DistillProtocol)), st.none() | st.integers(0, 3)),
    st.builds(hardware.DistillResult, ints, ints, st.integers(0, 1)),
)


@given(objects)
def test_every_hardware_object_round_trips_through_json(obj: object) -> None:
    wire = json.loads(json.dumps(encode_hardware(obj)))
    assert decode_hardware(wire) == obj


def test_every_type_is_covered() -> None:
    assert set(HARDWARE_TYPES) == {"Arm", "Disarm", "Measure", "Discard", "Move", "MoveResult", "Emitted",
                                   "Detection", "MeasureResult", "BellMeasure", "BellMeasureResult", "Init", "Gate",
                                   "Distill", "DistillResult"}


def test_golden_frame() -> None:
    message = {"op": "command", "at": 1500, "node_id": 2, "reply_to": "bob/link",
               "command": encode_hardware(hardware.Measure(1, Basis.Y))}
    body = (b'{"op":"command","at":1500,"node_id":2,"reply_to":"bob/link",'
            b'"command":{"type":"Measure","slot":1,"basis":"Y"}}')
    assert frame(message) == struct.pack("!I", len(body)) + body


def test_golden_bell_measure_frames() -> None:
    command = encode_hardware(hardware.BellMeasure(2, 5))
    event = encode_hardware(hardware.BellMeasureResult(2, 5, 3, False))
    assert json.dumps(command, separators=(",", ":")) == '{"type":"BellMeasure","slot_a":2,"slot_b":5}'
    assert json.dumps(event, separators=(",", ":")) == ('{"type":"BellMeasureResult","slot_a":2,"slot_b":5,'
                                                        '"bell_index":3,"success":false}')


def test_golden_gate_frames() -> None:
    assert json.dumps(encode_hardware(hardware.Init(9)), separators=(",", ":")) == '{"type":"Init","slot":9}'
    assert (json.dumps(encode_hardware(hardware.Gate("CNOT", (9, 0))), separators=(",", ":"))
            == '{"type":"Gate","name":"CNOT","slots":[9,0]}')
    assert decode_hardware({"type": "Gate", "name": "H", "slots": [3]}) == hardware.Gate("H", (3,))


BAD_GATES = [{"type": "Gate", "name": "T", "slots": [1]}, {"type": "Gate", "name": "CZ", "slots": [1]},
             {"type": "Gate", "name": 5, "slots": [1]}, {"type": "Gate", "name": "H", "slots": 1},
             {"type": "Gate", "name": "H", "slots": ["1"]}, {"type": "Init", "slot": "x"}]


@pytest.mark.parametrize("bad", BAD_GATES)
def test_bad_gate_commands_are_named_errors(bad: dict[str, object]) -> None:
    with pytest.raises(MediumProtocolError):
        decode_hardware(bad)


def test_golden_distill_frames() -> None:
    command = encode_hardware(hardware.Distill(0, 1, DistillProtocol.DEJMPS))
    event = encode_hardware(hardware.DistillResult(0, 1, 1))
    assert json.dumps(command, separators=(",", ":")) == ('{"type":"Distill","keep_slot":0,"sacrifice_slot":1,'
                                                          '"protocol":"DEJMPS","twirl_about":null}')
    assert json.dumps(event, separators=(",", ":")) == ('{"type":"DistillResult","keep_slot":0,"sacrifice_slot":1,'
                                                        '"outcome":1}')


@pytest.mark.parametrize("bad", [{"type": "Teleport"}, {"type": "Measure", "slot": 1, "basis": "W"},
                                 {"type": "Measure", "slot": "1", "basis": "X"}, {"slot": 1},
                                 {"type": "Discard", "slot": 1, "extra": 2},
                                 {"type": "BellMeasureResult", "slot_a": 1, "slot_b": 2, "bell_index": 1,
                                  "success": 1},
                                 {"type": "Distill", "keep_slot": 0, "sacrifice_slot": 1, "protocol": "PUMP",
                                  "twirl_about": None}])
def test_bad_hardware_objects_are_named_errors(bad: dict[str, object]) -> None:
    with pytest.raises(MediumProtocolError):
        decode_hardware(bad)


async def test_stream_reassembles_split_messages_and_rejects_garbage() -> None:
    left, right = trio.testing.memory_stream_pair()
    reader = MessageStream(right)
    data = frame({"op": "drain", "at": 7}) + frame({"op": "finish", "at": 9})
    for i in range(0, len(data), 5):                       # trickle it in 5-byte pieces
        await left.send_all(data[i:i + 5])
    assert await reader.receive() == {"op": "drain", "at": 7}
    assert await reader.receive() == {"op": "finish", "at": 9}
    await left.send_all(struct.pack("!I", 3) + b"[1]")
    with pytest.raises(MediumProtocolError, match="op"):
        await reader.receive()
    await left.send_all(struct.pack("!I", 1 << 30))
    with pytest.raises(MediumProtocolError, match="exceeds"):
        await reader.receive()


async def test_end_of_stream_is_none() -> None:
    left, right = trio.testing.memory_stream_pair()
    await left.aclose()
    assert await MessageStream(right).receive() is None
