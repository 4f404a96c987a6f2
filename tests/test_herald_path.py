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


def test_written_out_copies_do_what_their_originals_do(monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-pair paths write out small functions (``Heralding._try_start``: ``_wants``; ``Heralding.command``:
    ``_variants``' look-up; ``Heralding._sampled`` and ``Emission.materialize``: ``sampler_of``;
    ``Emission.conclude``: ``unreserve``). In a run, every call is checked against the original: the run starts
    or waits exactly when ``_wants`` says so, an Arm leaves the link on the variant ``_variant`` made, the samplers
    drawn from are ``sampler_of``'s (also when a stale one, made for another physics, is put in the link's
    state), and ``conclude`` frees the slots ``unreserve`` frees."""
    from stack.quantum import attempts as attempt_models
    from stack.quantum.emission import Emission
    from stack.quantum.heralding import Heralding
    from stack.quantum.linkstate import sampler_of
    from stack.runtime import run_scenario
    from tests.network_scenarios import chain, entry

    try_start, command, conclude, materialize = (Heralding._try_start, Heralding.command, Emission.conclude,
                                                 Emission.materialize)
    success, pair = attempt_models.LinkSampler.success, attempt_models.LinkSampler.pair
    seen: dict[str, object] = {"wants": set(), "variants": 0, "concluded": 0, "sampled": 0}
    used: dict[str, object] = {}

    def checked_try_start(self: Heralding, link_id: int) -> None:
        state = self.links[link_id]
        before = (state.scheduled, link_id in self.waiting)
        wants = self._wants(state)
        try_start(self, link_id)
        if before[0]:
            assert (state.scheduled, link_id in self.waiting) == before
        else:
            assert (state.scheduled or link_id in self.waiting) == wants
        seen["wants"].add(wants)  # type: ignore[attr-defined]
        stale(state)

    def checked_command(self: Heralding, node_id: int, order: object) -> None:
        state = self.links[order.link_id]  # type: ignore[attr-defined]
        scheduled = state.scheduled
        command(self, node_id, order)  # type: ignore[arg-type]
        if hasattr(order, "alpha") and not scheduled:
            assert state.physics is self._variants[(order.link_id, order.alpha)]  # type: ignore[attr-defined]
            seen["variants"] += 1  # type: ignore[operator]

    def stale(state: object) -> None:
        """Every third time, a sampler made for another (equal) physics: the copy must make a new one."""
        seen["stale"] = seen.get("stale", 0) + 1  # type: ignore[operator]
        if seen["stale"] % 3 == 0 and state.sampler is not None:  # type: ignore[attr-defined]
            state.sampler = attempt_models.LinkSampler(dataclasses.replace(state.physics))  # type: ignore[attr-defined]

    def recorded(name: str, original: object) -> object:
        def call(self: attempt_models.LinkSampler, *args: object) -> object:
            used[name] = self
            return original(self, *args)  # type: ignore[operator]
        return call

    def checked_conclude(self: Emission, state: object, slot_index: int, *args: object) -> None:
        nodes, link = self.medium.nodes, state.physics  # type: ignore[attr-defined]
        ends = (nodes[link.node_a].reserved, nodes[link.node_b].reserved)
        saved = (state.reserved, state.next_slot, set(ends[0]), set(ends[1]))  # type: ignore[attr-defined]
        slots = self.unreserve(state, slot_index)  # type: ignore[arg-type]
        used["unreserved"] = (slots, state.reserved, state.next_slot, set(ends[0]), set(ends[1]))  # type: ignore[attr-defined]
        state.reserved, state.next_slot = saved[0], saved[1]  # type: ignore[attr-defined]
        for end, kept in zip(ends, saved[2:], strict=True):
            end.clear()
            end.update(kept)
        if "success" in used:
            assert used.pop("success") is sampler_of(state)  # type: ignore[arg-type]
            seen["sampled"] += 1  # type: ignore[operator]
        stale(state)
        conclude(self, state, slot_index, *args)  # type: ignore[arg-type]
        seen["concluded"] += 1  # type: ignore[operator]

    def checked_materialize(self: Emission, state: object, slot_index: int, tries: int, attempt: object,
                            bell: object, slots: tuple[int, int], *args: object) -> None:
        nodes, link = self.medium.nodes, state.physics  # type: ignore[attr-defined]
        if "unreserved" in used:
            assert used.pop("unreserved") == (slots, state.reserved, state.next_slot,  # type: ignore[attr-defined]
                                              set(nodes[link.node_a].reserved), set(nodes[link.node_b].reserved))
        materialize(self, state, slot_index, tries, attempt, bell, slots, *args)  # type: ignore[arg-type]
        assert used.pop("pair") is sampler_of(state)  # type: ignore[arg-type]

    monkeypatch.setattr(Heralding, "_try_start", checked_try_start)
    monkeypatch.setattr(Heralding, "command", checked_command)
    monkeypatch.setattr(Emission, "conclude", checked_conclude)
    monkeypatch.setattr(Emission, "materialize", checked_materialize)
    monkeypatch.setattr(attempt_models.LinkSampler, "success", recorded("success", success))
    monkeypatch.setattr(attempt_models.LinkSampler, "pair", recorded("pair", pair))
    run_scenario(chain(2, workload=entry("keep", pairs=30)))
    assert seen["wants"] == {True, False}
    assert seen["variants"] > 0 and seen["sampled"] > 0 and seen["concluded"] == seen["sampled"]
