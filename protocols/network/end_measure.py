"""Network layer: the measurements the ends of measure-directly circuits have under way (network-design §4.8).

An end of a measure-directly circuit measures each half as soon as its link OK comes, in the request's basis.
The medium answers the Measure commands of one slot in the order they went out (a MeasureResult, or a
CommandRejected when the slot held no qubit): :class:`Measurements` names the half each answer is for.

>>> from protocols.network.types import HELD, MEASURING, Half
>>> half = Half(3, 7, (1, 0x0101), 1, HELD, slot=4)
>>> measurements = Measurements(lambda key: half if key == half.key else None)
>>> measurements.start(half, 1)
Measure(slot=4, basis=1)
>>> half.state is MEASURING, bool(measurements)
(True, True)
>>> measurements.answered(4) is half, bool(measurements), measurements.answered(4)
(True, False, None)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from protocols.common import Basis
from protocols.network.types import MEASURING, ON_MEASURE, Half, HalfKey
from protocols.physical.hardware import Measure


class Measurements:
    """Measure commands an end has issued and not yet seen answered, by slot, oldest first."""

    def __init__(self, half: Callable[[HalfKey], Half | None]) -> None:
        self._half = half
        """The node's half of a key, if it still knows it (:meth:`protocols.network.context.Node.half`)."""
        self._under_way: dict[int, deque[HalfKey]] = {}

    def __bool__(self) -> bool:
        return bool(self._under_way)

    def start(self, half: Half, basis: Basis) -> Measure:
        """``half`` (HELD, in a slot) is measured in ``basis``: the command to send the medium."""
        assert half.slot is not None
        half.fire(ON_MEASURE)
        half.basis = int(basis)
        self._under_way.setdefault(half.slot, deque()).append(half.key)
        return Measure(half.slot, basis)

    def answered(self, slot: int) -> Half | None:
        """The half the medium's answer about ``slot`` (a result, or a refusal) is for, no longer under way; None
        if no measurement of ``slot`` was, or its half is no longer MEASURING (it died meanwhile)."""
        under_way = self._under_way.get(slot)
        if under_way is None:
            return None
        key = under_way.popleft()
        if not under_way:
            del self._under_way[slot]
        half = self._half(key)
        return half if half is not None and half.state is MEASURING else None
