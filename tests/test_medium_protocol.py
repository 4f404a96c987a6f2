"""The node ↔ medium socket protocol: every hardware type round-trips; bad input is a clear error."""

from __future__ import annotations

import doctest
import json
import struct

import numpy as np
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.common import Basis, DistillProtocol
from protocols.physical import hardware
from stack.multiprocess import medium_protocol
from stack.multiprocess.medium_protocol import (
    HARDWARE_TYPES,
    MediumProtocolError,
    MessageStream,
    decode_hardware,
    depth,
    encode_hardware,
    frame,
    parse,
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
    st.builds(hardware.CommandRejected, st.sampled_from(["Measure", "Move"]), st.integers(-1, 2**40), st.text()),
    st.builds(hardware.EmittedBlock, ints, ints, ints, ints, ints, st.tuples(probs, probs, probs, probs),
              st.binary(max_size=20).map(lambda b: np.frombuffer(b, dtype=np.uint8)),
              st.lists(st.integers(0, 2), max_size=20).map(lambda v: np.array(v, dtype=np.uint8))),
    st.builds(hardware.DetectionBlock, ints, ints, ints,
              st.lists(st.integers(0, 2**64 - 1), max_size=20).map(lambda v: np.array(v, dtype=np.uint64)),
              st.lists(st.integers(0, 3), max_size=20).map(lambda v: np.array(v, dtype=np.uint8))),
)


@given(objects)
def test_every_hardware_object_round_trips_through_json(obj: object) -> None:
    wire = json.loads(json.dumps(encode_hardware(obj)))
    assert decode_hardware(wire) == obj


def test_every_type_is_covered() -> None:
    assert set(HARDWARE_TYPES) == {"Arm", "Disarm", "Measure", "Discard", "Move", "MoveResult", "Emitted",
                                   "Detection", "MeasureResult", "BellMeasure", "BellMeasureResult", "Init", "Gate",
                                   "Distill", "DistillResult", "CommandRejected", "EmittedBlock", "DetectionBlock"}


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
                                  "twirl_about": None},
                                 {"type": "Arm", "link_id": 1, "pairs": 2, "alpha": 10**400},
                                 {"type": "Arm", "link_id": 1, "pairs": 2, "alpha": float("inf")},
                                 {"type": "Arm", "link_id": 1, "pairs": 2**64},
                                 {"type": "Arm", "link_id": 1, "pairs": True},
                                 {"type": "Arm", "link_id": 1, "pairs": 2, "basis_choice": "ZX"},
                                 {"type": "Measure", "slot": 1, "basis": ["X"]},
                                 {"type": ["Measure"], "slot": 1}, ["Measure", 1], None])
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


@pytest.mark.parametrize("body", [b"[" * 1000 + b"]" * 1000, b'{"op": "x", "a": ' + b"[" * 17 + b"]" * 17 + b"}",
                                  b'{"op": "x", "a": NaN}', b'{"op": "x", "a": -Infinity}', b"1" * 5000,
                                  b'{"op": "x", "a": ' + b"9" * 5000 + b"}", b"\xff\xfe", b'{"op": 1}'])
def test_bad_bodies_are_protocol_errors(body: bytes) -> None:
    with pytest.raises(MediumProtocolError):
        parse(body)


def test_depth_ignores_brackets_in_strings() -> None:
    assert depth(b'{"op": "[[[[[[[[[[[[[[[[[[[[", "a": "\\"{{{{"}') == 1
    assert parse(b'{"op": "[[[[[[[[[[[[[[[[[[[[[[[[[[[["}') == {"op": "[" * 28}
    assert depth(b'{"op": "x", "a": ' + b"[" * 15 + b"]" * 15 + b"}") == 16


def _nesting(value: object) -> int:
    if isinstance(value, list):
        return 1 + max(map(_nesting, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_nesting, value.values()), default=0)
    return 0


@given(st.recursive(st.text(alphabet='[]{}"\\ab', max_size=6),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                        st.text(alphabet='[]{}"\\ab', max_size=4), inner, max_size=3), max_leaves=12))
def test_depth_is_the_nesting_json_parses(value: object) -> None:
    """Strings full of brackets, quotes and backslashes (escaped by json.dumps) never count."""
    assert depth(json.dumps(value).encode()) == _nesting(value)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                                       max_size=4), max_leaves=20)
hardware_like = st.fixed_dictionaries({"type": st.sampled_from(sorted(HARDWARE_TYPES))},
                                      optional={name: json_values for name in (
                                          "link_id", "pairs", "measure_basis", "alpha", "basis_choice", "slot",
                                          "basis", "slot_a", "slot_b", "storage_slot", "clicks", "arrivals",
                                          "distribution", "bell_index", "success", "reason", "command")})


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, hardware_like))
def test_decode_hardware_raises_only_its_own_error(data: object) -> None:
    """Fuzzing the medium socket's decoder: anything JSON can carry decodes or is a MediumProtocolError."""
    try:
        obj = decode_hardware(data)
    except MediumProtocolError:
        return
    assert type(obj).__name__ in HARDWARE_TYPES


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | json_values.map(lambda v: json.dumps({"op": "x", "v": v}).encode()))
def test_parse_raises_only_its_own_error(body: bytes) -> None:
    """Fuzzing the framing layer: any body parses to an object with an 'op' or is a MediumProtocolError."""
    try:
        message = parse(body)
    except MediumProtocolError:
        return
    assert isinstance(message["op"], str)


def test_the_module_s_examples() -> None:
    assert doctest.testmod(medium_protocol).failed == 0
