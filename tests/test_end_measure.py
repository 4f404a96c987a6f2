"""Measurements (protocols/network/end_measure.py): which half each answer of the medium about a slot is for."""

from __future__ import annotations

from protocols.common import Basis
from protocols.network.end_measure import Measurements
from protocols.network.types import HELD, MEASURED, ON_DIE, ON_RESULT, Half, HalfKey


def _halves(*seqs: int, slot: int = 4) -> dict[HalfKey, Half]:
    return {(3, seq): Half(3, seq, (1, 0x0101), 1, HELD, slot=slot) for seq in seqs}


def test_answers_of_one_slot_go_to_its_halves_in_the_order_they_were_measured() -> None:
    halves = _halves(7, 8, 9)
    measurements = Measurements(halves.get)
    commands = [measurements.start(halves[(3, seq)], Basis.X) for seq in (8, 7, 9)]
    assert [command.slot for command in commands] == [4, 4, 4]
    assert [halves[key].basis for key in ((3, 7), (3, 8), (3, 9))] == [int(Basis.X)] * 3
    answered = [measurements.answered(4) for _ in range(3)]
    assert [half.seq if half else None for half in answered] == [8, 7, 9]
    assert not measurements and measurements.answered(4) is None


def test_a_half_that_died_or_was_forgotten_meanwhile_takes_its_answer_and_gets_none() -> None:
    halves = _halves(1, 2, 3) | _halves(5, slot=6)
    measurements = Measurements(halves.get)
    for key in ((3, 1), (3, 2), (3, 3), (3, 5)):
        measurements.start(halves[key], Basis.Z)
    halves[(3, 1)].fire(ON_DIE)
    del halves[(3, 2)]
    assert measurements.answered(4) is None            # (3, 1)'s: dead
    assert measurements.answered(4) is None            # (3, 2)'s: forgotten
    third = measurements.answered(4)
    assert third is halves[(3, 3)]
    third.fire(ON_RESULT)
    assert third.state is MEASURED
    assert measurements                                 # slot 6's is still under way
    assert measurements.answered(6) is halves[(3, 5)] and not measurements
