"""Heralding stations: detector clicks in, HERALD messages to both ends out.

The station knows nothing of the pair's quantum state; it applies its scheme's rule to
the clicks it registered:

* double-click (Barrett-Kok): exactly one click in each of two rounds; the same detector
  twice heralds |Ψ+⟩, different detectors |Ψ-⟩;
* single-click: exactly one click; detector 0 heralds |Ψ+⟩, detector 1 |Ψ-⟩.

Photons whose arrival times differ by more than the detection window do not interfere:
the attempt fails whatever the clicks.

>>> double_click_outcome(((1, 0, 5), (2, 1, 9)))
<BellState.PSI_MINUS: 3>
>>> single_click_outcome(((1, 0, 5), (1, 1, 5))) is None
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from protocols.common import Actions, Address, BellState, sending
from protocols.packets.heralding import (
    OUTCOME_FAILURE,
    OUTCOME_SUCCESS,
    SCHEME_DOUBLE_CLICK,
    SCHEME_SINGLE_CLICK,
    herald_bytes,
)
from protocols.packets.heralding_batch import RICE, HeraldBatch
from protocols.packets.rice import low_bits_for
from protocols.physical.hardware import Detection, DetectionBlock
from protocols.physical.parts import split

_PSI_PLUS, _PSI_MINUS = BellState.PSI_PLUS, BellState.PSI_MINUS
"""As module constants: on Python 3.11 ``BellState.PSI_PLUS`` is a look-up through EnumType's Python-level hook."""


def double_click_outcome(clicks: tuple[tuple[int, int, int], ...]) -> BellState | None:
    """The Bell state heralded by a two-round click pattern, or None for a failure."""
    if len(clicks) == 2 and clicks[0][0] == 1 and clicks[1][0] == 2:     # a sampled success's pattern: no loop
        return _PSI_PLUS if clicks[0][1] == clicks[1][1] else _PSI_MINUS
    first = second = -1
    firsts = seconds = 0
    for round_no, detector, _ in clicks:
        if round_no == 1:
            firsts += 1
            first = detector
        elif round_no == 2:
            seconds += 1
            second = detector
    if firsts != 1 or seconds != 1:
        return None
    return _PSI_PLUS if first == second else _PSI_MINUS


def single_click_outcome(clicks: tuple[tuple[int, int, int], ...]) -> BellState | None:
    """The Bell state heralded by a single-round click pattern, or None for a failure."""
    if len(clicks) != 1:
        return None
    return _PSI_PLUS if clicks[0][1] == 0 else _PSI_MINUS


RULES = {SCHEME_DOUBLE_CLICK: double_click_outcome, SCHEME_SINGLE_CLICK: single_click_outcome}


class Station:
    """A heralding station serving one or more links (through an optical switch)."""

    def __init__(self, links: dict[int, tuple[Address, Address]], detection_window_ns: int,
                 schemes: dict[int, int] | None = None) -> None:
        self.links = links
        self.detection_window_ns = detection_window_ns
        self.schemes = schemes or {}
        self.successes = 0
        self.failures = 0
        self.malformed = 0

    def handle(self, event: Any, now: int) -> Actions:
        if type(event) is not Detection:            # one a heralded attempt: asked first
            if isinstance(event, DetectionBlock) and event.link_id in self.links:
                return self._batch(event, now)
            if not isinstance(event, Detection):
                return Actions()
        link_id = event.link_id
        ends = self.links.get(link_id)
        if ends is None:
            return Actions()
        scheme = self.schemes.get(link_id, SCHEME_DOUBLE_CLICK)
        bell = RULES[scheme](event.clicks)
        arrivals = event.arrivals
        if abs(arrivals[0] - arrivals[1]) > self.detection_window_ns:
            bell = None
        if bell is None:
            self.failures += 1
            herald = herald_bytes(OUTCOME_FAILURE, 0, link_id, scheme, event.attempt_seq, event.attempts, now)
        else:
            self.successes += 1
            herald = herald_bytes(OUTCOME_SUCCESS, int(bell), link_id, scheme, event.attempt_seq, event.attempts, now)
        if len(ends) == 2:          # a link's two ends: the list without a comprehension's frame (Python 3.11)
            return sending([(ends[0], herald), (ends[1], herald)])
        return sending([(end, herald) for end in ends])

    def _batch(self, event: DetectionBlock, now: int) -> Actions:
        """A block of attempts (the batched path): BATCHes to each end name its successes and their states, one
        if it fits a datagram, else in consecutive parts (:func:`protocols.physical.parts.split`); their failure
        counts Rice-coded at the block's low bits (:func:`protocols.packets.rice.low_bits_for`)."""
        self.successes += len(event.failures)
        scheme = self.schemes.get(event.link_id, SCHEME_DOUBLE_CLICK)
        actions = Actions()
        bound = max(0, event.attempts - len(event.failures))   # at least the failures' sum (attempts hold them)
        low_bits = low_bits_for(event.failures, bound)
        parts = split(event.failures, low_bits=low_bits, total=bound)
        first, left = event.attempt_seq, event.attempts
        for index, part in enumerate(parts):           # as part_attempts, each part summed once
            failures = event.failures[part]
            attempts = left if index == len(parts) - 1 else int(failures.sum(dtype=np.uint64)) + len(failures)
            batch = HeraldBatch(event.link_id, scheme, first, min(attempts, 0xFFFF_FFFF), now, failures,
                                event.bells[part], low_bits, RICE).encode()
            actions.send.extend((end, batch) for end in self.links[event.link_id])
            first, left = first + attempts, left - attempts
        return actions

    def receive(self, payload: bytes, source: Address, port: int, now: int) -> Actions:
        self.malformed += 1
        return Actions()

    def start(self, now: int) -> Actions:
        return Actions()

    def on_timer(self, now: int) -> Actions:
        return Actions()

    def held_slots(self) -> set[int]:
        return set()
