"""The heralding's direct per-pair paths give what the general paths give (branch herald-path).

The station's rule answers a sampled success's two-click pattern without its loop; ``herald_bytes`` sends an
in-range int detection time without clamping it; a ``HeraldModel`` keeps its derived values as fields; the
physical engine handles a station link's ``Emitted`` and a success HERALD on a direct path. Each is held here to
the general code (written out, or forced by a node that takes the general path).
"""

from __future__ import annotations

import dataclasses
import itertools
import struct

import numpy as np
import pytest

from protocols.common import HERALD_PORT, BellState
from protocols.packets.heralding import OUTCOME_FAILURE, OUTCOME_SUCCESS, SCHEME_DOUBLE_CLICK, herald_bytes
from protocols.physical import schemes
from protocols.physical.hardware import Emitted
from protocols.physical.node import NodePhysical, ReportingLink
from protocols.physical.station import double_click_outcome

STATION = ("198.18.0.9", HERALD_PORT)


def _reference_double_click(clicks: tuple[tuple[int, int, int], ...]) -> BellState | None:
    """The rule as a loop over every click (what the station did for every pattern before)."""
    firsts = [d for r, d, _ in clicks if r == 1]
    seconds = [d for r, d, _ in clicks if r == 2]
    if len(firsts) != 1 or len(seconds) != 1:
        return None
    return BellState.PSI_PLUS if firsts[0] == seconds[0] else BellState.PSI_MINUS


@pytest.mark.parametrize("length", [0, 1, 2, 3])
def test_double_click_outcome_is_the_rule_for_every_pattern(length: int) -> None:
    clicks = [(r, d, 7) for r in (1, 2, 3) for d in (0, 1)]
    for pattern in itertools.product(clicks, repeat=length):
        assert double_click_outcome(tuple(pattern)) == _reference_double_click(tuple(pattern)), pattern


@pytest.mark.parametrize("time", [-5, 0, 7, 2**63, 2**64 - 1, 2**64, 2**70, 3.7, -0.5, np.int64(9), True,
                                  float(2**65)])
def test_herald_bytes_clamps_the_detection_time_as_before(time: object) -> None:
    expected = min(max(int(time), 0), 2**64 - 1)      # type: ignore[call-overload]
    data = herald_bytes(1, 3, 1, 1, 7, 3, time)       # type: ignore[arg-type]
    assert struct.unpack("!BBBBHBxQIQ", data)[-1] == expected


def test_herald_model_fields_are_its_derived_values() -> None:
    model = schemes.double_click(0.3, 0.2, p_false=0.01, depolarizing=0.05)
    total = sum(c.probability for c in model.components)
    assert model.success == total and model.weights == tuple(c.probability for c in model.components)
    mix = tuple(sum(c.probability * c.distribution[i] for c in model.components) / total for i in range(4))
    assert model.distribution == mix and model.fidelity == mix[0]
    fewer = dataclasses.replace(model, components=model.components[:1])      # recomputed, not copied
    assert fewer.success == model.components[0].probability
    assert fewer == schemes.HeraldModel(model.components[:1])
    assert schemes.HeraldModel(()).distribution == schemes.MAXIMALLY_MIXED


def _emitted(seq: int, t: int, slot: int) -> Emitted:
    return Emitted(1, slot, 100 + slot, seq, t, (0.85, 0.05, 0.05, 0.05))


@pytest.mark.parametrize("outcome", [OUTCOME_SUCCESS, OUTCOME_FAILURE])
def test_direct_paths_give_the_general_paths_actions(outcome: int) -> None:
    direct = NodePhysical(herald_timeout_ns=10_000)
    # a REPORT link elsewhere (link 5) makes this node take the general paths for link 1 too
    general = NodePhysical(herald_timeout_ns=10_000, reporting={5: ReportingLink(3, ("198.18.0.3", HERALD_PORT))})
    for node in (direct, general):
        assert node.handle(_emitted(4, 2_000, 0), now=2_000).deadline == 12_000
    for node in (direct, general):
        assert node.handle(_emitted(5, 3_000, 1), now=3_000).deadline == 12_000
    herald = herald_bytes(outcome, int(BellState.PSI_MINUS), 1, SCHEME_DOUBLE_CLICK, 4, 17, 2_500)
    out = [node.receive(herald, STATION, HERALD_PORT, now=5_000) for node in (direct, general)]
    assert repr(out[0]) == repr(out[1])
    assert out[0].deadline == 13_000
    assert len(out[0].up) == (outcome == OUTCOME_SUCCESS)
    assert (direct.failed, direct.pending.keys()) == (general.failed, general.pending.keys())
    # bytes received as a bytearray (not looked up among the shared decodes) make the same pair
    again = NodePhysical(herald_timeout_ns=10_000)
    again.handle(_emitted(4, 2_000, 0), now=2_000)
    again.handle(_emitted(5, 3_000, 1), now=3_000)
    assert repr(again.receive(bytearray(herald), STATION, HERALD_PORT, now=5_000)) == repr(out[0])
