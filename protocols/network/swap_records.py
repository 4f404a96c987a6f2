"""Network layer: a repeater's swap records by the pair a CONFIRM names (docs/architecture.md, "Swap records and
the tail's give-up").

A swap record (the two SWAPPED halves one Bell measurement joined) is what an EXPIRE follows from one segment
of a chain to the other. It lingers from its swap, but the tail's give-up of the pair's CONFIRM, whose poison
must cross it, may come much later: the TRACK may reach the tail long after this swap, and the tail tries its
CONFIRM for (2 · R · K + 1) of its RTOs to the head. So when the first CONFIRM of a pair passes a repeater, the
repeater keeps that pair's swap record :func:`protocols.network.relay.poison_wait_ns` longer. The CONFIRM names
the pair by the head's sequence (Head Pair Seq), the Pair ID of the TRACK the record forwarded: this index,
noted at the forward, finds the record's left half by it.

>>> records = SwapRecords()
>>> records.note((1, 5), 7, (2, 40)); records.pop((1, 5), 7), records.pop((1, 5), 7)
((2, 40), None)
"""

from __future__ import annotations

from protocols.network.types import HalfKey, Handle


class SwapRecords:
    """Per circuit, the left half of each swap record whose TRACK went on and whose CONFIRM has not passed yet,
    by the TRACK's Pair ID (an entry goes when the CONFIRM passes, or with its half or its circuit)."""

    __slots__ = ("_by_pair",)

    def __init__(self) -> None:
        self._by_pair: dict[Handle, dict[int, HalfKey]] = {}

    def __len__(self) -> int:
        """How many records are indexed (every circuit's)."""
        return sum(len(pairs) for pairs in self._by_pair.values())

    def note(self, circuit: Handle, pair_id: int, left: HalfKey) -> None:
        """The record whose left half is ``left`` forwarded the TRACK of ``pair_id`` (a later record with the same
        16-bit Pair ID, after the head's sequence came round, takes its place)."""
        pairs = self._by_pair.get(circuit)
        if pairs is None:
            pairs = self._by_pair[circuit] = {}
        pairs[pair_id] = left

    def pop(self, circuit: Handle, pair_id: int) -> HalfKey | None:
        """The left half of ``pair_id``'s record, no longer indexed (its CONFIRM passes once)."""
        pairs = self._by_pair.get(circuit)
        if pairs is None:
            return None
        left = pairs.pop(pair_id, None)
        if not pairs:
            del self._by_pair[circuit]
        return left

    def drop(self, circuit: Handle, pair_id: int, left: HalfKey) -> None:
        """The half ``left`` is forgotten: its entry goes, if it is still its."""
        pairs = self._by_pair.get(circuit)
        if pairs is not None and pairs.get(pair_id) == left:
            del pairs[pair_id]
            if not pairs:
                del self._by_pair[circuit]

    def forget(self, circuit: Handle) -> None:
        """``circuit`` is forgotten here, with its halves."""
        self._by_pair.pop(circuit, None)
