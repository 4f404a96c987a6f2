"""The medium's moves, Bell measurements, measurements and memory noise draw what the code they replaced drew.

Branch medium-ops made these per-pair operations cheaper (checks and look-ups inline, the memory channel memoised
per node, uniforms through the bit generator's ``next_double``, ``integers(4)`` as the top bits of one 32-bit
draw, identity channels skipped). A run's bytes depend on every value they sample, so here the replaced code is
written out (``ref_*``: ``Generator.random``, ``Generator.integers``, ``physics.memory_pauli_probabilities``,
``state.twirl``, the convolutions as they were) and run on a twin medium with the same seed, step by step, on
hardware with and without each kind of noise: every result, every qubit's frame, distribution, first outcome,
pairing and times, and the generator's state must be identical (floats compared exactly).
"""

from __future__ import annotations

import doctest
import itertools
import math
from typing import Any

import numpy as np
import pytest

from protocols.common import Basis
from protocols.physical import physics
from protocols.physical.hardware import Arm, BellMeasure, BellMeasureResult, Move, MoveResult
from stack.core.kernel import Kernel, VirtualPort
from stack.quantum import memory, state
from stack.quantum.medium import Medium, NodeHardware, Pair, Qubit
from stack.quantum.swap import swapped_distribution

BASES = (Basis.Z, Basis.X, Basis.Y)


# -- the replaced code, written out ---------------------------------------------------------------------------
def ref_memory_noise(medium: Medium, qubit: Qubit, at: float) -> tuple[float, float, float]:
    node = medium.nodes[qubit.node_id]
    px, py, pz = physics.memory_pauli_probabilities(at - qubit.created, node.t1_ns, node.t2_ns)
    if px + py + pz:
        state.twirl(qubit, medium.rng.random(), px, py, pz)
    return px, py, pz


def ref_measure(medium: Medium, qubit: Qubit, basis: Basis) -> int:
    node = medium.nodes[qubit.node_id]
    ref_memory_noise(medium, qubit, medium.kernel.now)
    qubit.status = state.MEASURED
    medium.ledger["measured"] += 1
    pair = qubit.pair
    if pair.first is None or pair.first[0] != basis:
        outcome = int(medium.rng.integers(2))
        if pair.first is None:
            pair.first = (basis, outcome)
    else:
        outcome = pair.first[1] ^ state.IDEAL_PARITY[basis] ^ state.anticommutes(pair.frame, basis)
    if node.readout_fidelity < 1 and medium.rng.random() >= node.readout_fidelity:
        outcome ^= 1
    return outcome


def ref_move(medium: Medium, node_id: int, slot: int) -> MoveResult:
    node, now, rng = medium.nodes[node_id], medium.kernel.now, medium.rng
    target = node.free_storage(now)
    if target is None:
        return MoveResult(slot, None)
    start = max(now, node.held[slot].ready_at)
    done = start + node.move_ns
    qubit = medium.take(node_id, slot, busy_ns=done - now)
    channel = ref_memory_noise(medium, qubit, start)
    qubit.created, qubit.ready_at = start, done
    if rng.random() < 1 - node.gate_fidelity:
        state.apply_pauli(qubit, state.PAULIS[int(rng.integers(4))])
    gate = (1 - node.gate_fidelity) / 4
    qubit.pair.distribution = physics.pauli_channel(physics.pauli_channel(qubit.pair.distribution, *channel),
                                                    gate, gate, gate)
    qubit.slot = target
    node.held[target] = qubit
    return MoveResult(slot, target)


def ref_join(halves: tuple[Qubit | None, Qubit | None], index: int, distribution: Any, first: Any) -> None:
    pair = Pair(state.frame_of_bell(index), distribution, first, [h.qubit_id if h else 0 for h in halves])
    for side, half in enumerate(halves):
        if half is not None:
            half.pair, half.side = pair, side


def ref_read_out(outcome: int, fidelity: float, rng: np.random.Generator) -> int:
    if fidelity < 1:
        for bit in (1, 2):
            if rng.random() >= fidelity:
                outcome ^= bit
    return outcome


def ref_bell(medium: Medium, node_id: int, slot_a: int, slot_b: int) -> BellMeasureResult:
    node, now, rng = medium.nodes[node_id], medium.kernel.now, medium.rng
    start = max(now, node.held[slot_a].ready_at, node.held[slot_b].ready_at)
    busy = start - now + node.gate_ns + node.readout_ns
    qa, qb = medium.take(node_id, slot_a, busy_ns=busy), medium.take(node_id, slot_b, busy_ns=busy)
    memory_a, memory_b = ref_memory_noise(medium, qa, start), ref_memory_noise(medium, qb, start)
    qa.status = qb.status = state.MEASURED
    medium.ledger["measured"] += 2
    far = (medium.far_half(qa), medium.far_half(qb))
    if node.gate_fidelity < 1 and rng.random() >= node.gate_fidelity:
        draw = int(rng.integers(16))
        state.apply_pauli(qa, state.PAULIS[draw >> 2])
        state.apply_pauli(qb, state.PAULIS[draw & 3])
    pa, pb = qa.pair, qb.pair
    if node.bsm_success < 1 and rng.random() >= node.bsm_success:
        for half in () if pa is pb else far:
            if half is not None:
                ref_join((half, None), int(rng.integers(4)), state.UNIFORM, None)
        return BellMeasureResult(slot_a, slot_b, 0, False)
    if pa is pb:
        return BellMeasureResult(slot_a, slot_b, ref_read_out(state.bell_index(pa.frame), node.readout_fidelity,
                                                               rng))
    shift = state.bell_index(pa.frame) ^ state.bell_index(pb.frame)
    if pa.first is not None and pb.first is not None and pa.first[0] == pb.first[0]:
        parity = pa.first[1] ^ pb.first[1]
        allowed = [m for m in range(4) if physics.expected_parity(shift ^ m, int(pa.first[0])) == parity]
        outcome = allowed[int(rng.integers(2))]
    else:
        outcome = int(rng.integers(4))
    reported = ref_read_out(outcome, node.readout_fidelity, rng)
    if far[0] is None or far[1] is None:
        distribution = state.UNIFORM
    else:
        a = physics.pauli_channel(pa.distribution, *memory_a) if any(memory_a) else pa.distribution
        b = physics.pauli_channel(pb.distribution, *memory_b) if any(memory_b) else pb.distribution
        distribution = swapped_distribution(a, b, node.gate_fidelity, 1 - node.readout_fidelity, reported)
    ref_join(far, shift ^ outcome, distribution, pa.first or pb.first)
    return BellMeasureResult(slot_a, slot_b, reported)


# -- the twins --------------------------------------------------------------------------------------------------
def twin(seed: int, hardware: dict[str, float]) -> Medium:
    """Nodes 1 and 3 (two communication qubits each) and node 2, the repeater (two, plus two storage qubits)."""
    medium = Medium(Kernel(), np.random.default_rng(seed))
    for node_id in (1, 2, 3):
        medium.add_node(NodeHardware(node_id, 2, hardware["t2_ns"], 700, storage=2 if node_id == 2 else 0,
                                     t1_ns=hardware["t1_ns"], readout_fidelity=hardware["readout"],
                                     gate_fidelity=hardware["gate"], move_ns=500, gate_ns=100,
                                     bsm_success=hardware["bsm"]))
    return medium


def snapshot(medium: Medium) -> list[tuple[Any, ...]]:
    """Everything the medium knows of every qubit (floats exact), and the generator's state."""
    return [(q.qubit_id, q.node_id, q.slot, q.side, q.created, q.ready_at, q.status, q.pair.frame,
             q.pair.distribution, q.pair.first, list(q.pair.members))
            for q in medium.qubits.values()] + [medium.rng.bit_generator.state,
                                                 [(n.node_id, sorted(n.held), dict(n.busy_until))
                                                  for n in medium.nodes.values()], dict(medium.ledger)]


def results(medium: Medium) -> list[Any]:
    """The results queued since the last call (and the queue emptied)."""
    queued = [(at, event) for at, _, event in medium.kernel.pending()]
    medium.kernel.clear()
    return queued


def script_step(rng: np.random.Generator) -> dict[str, Any]:
    """One round's random choices: two pairs' frames, distributions and ages, which far halves are measured
    first and in which basis, whether the halves are moved, which slots are Bell-measured, the time steps."""
    weights = rng.random((2, 4)) + 0.01
    return {"frames": rng.integers(4, size=2).tolist(), "dists": [tuple((w / w.sum()).tolist()) for w in weights],
            "ages": rng.integers(0, 3_000_000, size=2).tolist(), "early": rng.integers(0, 4, size=2).tolist(),
            "move": bool(rng.integers(4)), "one_pair": rng.random() < 0.1, "steps": rng.integers(0, 900, 4).tolist()}


def run_round(medium: Medium, step: dict[str, Any], reference: bool, port: VirtualPort) -> list[Any]:
    kernel, seen = medium.kernel, []
    for side, (a, slot_a, b, slot_b) in enumerate(((1, 0, 2, 0), (2, 1, 3, 0))):
        pair = Pair(state.frame_of_bell(step["frames"][side]), step["dists"][side])
        created = kernel.now - step["ages"][side]
        medium.create(a, slot_a, 0, created, pair)
        medium.create(b, slot_b, 1, created, pair)
    kernel.now += step["steps"][0]
    for (node_id, slot), early in zip(((1, 0), (3, 0)), step["early"], strict=True):
        if early < 3 and not step["one_pair"]:          # a far half measured before the swap, in a chosen basis
            qubit = medium.take(node_id, slot)
            seen.append(ref_measure(medium, qubit, BASES[early]) if reference else
                        medium.measure(qubit, BASES[early]))
    slots = [0, 1]
    if step["one_pair"]:                                # node 2 holds both halves of one pair
        held = medium.nodes[2].held
        medium.take(2, 1)
        far = medium.far_half(held[0])
        assert far is not None
        medium.take(far.node_id, far.slot)
        far.node_id, far.slot = 2, 1
        held[1] = far
    if step["move"]:
        for index, slot in enumerate((0, 1)):
            kernel.now += step["steps"][1]
            result = ref_move(medium, 2, slot) if reference else None
            if not reference:
                medium.command(2, Move(slot), port)
                ((_, result),) = results(medium)
            seen.append(result)
            if result.storage_slot is not None:
                slots[index] = result.storage_slot
    kernel.now += step["steps"][2]
    if reference:
        start = max(kernel.now, *(medium.nodes[2].held[s].ready_at for s in slots))
        busy = start - kernel.now + 100 + 700
        seen.append((kernel.now + busy, ref_bell(medium, 2, *slots)))
    else:
        medium.command(2, BellMeasure(*slots), port)
        seen.extend(results(medium))
    kernel.now += step["steps"][3]
    for node_id, slot in ((1, 0), (3, 0)):              # what is left at the ends
        if slot in medium.nodes[node_id].held:
            qubit = medium.take(node_id, slot)
            seen.append(ref_measure(medium, qubit, Basis.Z) if reference else medium.measure(qubit, Basis.Z))
    medium.nodes[2].busy_until.clear()
    return [*seen, snapshot(medium)]


HARDWARE = [dict(zip(("t2_ns", "t1_ns", "gate", "readout", "bsm"), values, strict=True))
            for values in itertools.product((1e6, math.inf), (math.inf, 4e6), (1.0, 0.9), (1.0, 0.93), (1.0, 0.8))]


@pytest.mark.parametrize("hardware", HARDWARE, ids=lambda h: "-".join(f"{k}={v:g}" for k, v in h.items()))
def test_moves_swaps_and_measurements_draw_what_the_replaced_code_drew(hardware: dict[str, float]) -> None:
    script = np.random.default_rng(11)
    new, old = twin(5, hardware), twin(5, hardware)
    port = VirtualPort(new.kernel, "test")
    new.kernel.clear()                                  # the port's start-up
    for _ in range(60):
        step = script_step(script)
        assert run_round(new, step, False, port) == run_round(old, step, True, port)
    assert new.rng.random() == old.rng.random()


def test_the_medium_uniform_is_the_generators_random() -> None:
    """``Medium.uniform`` (the bit generator's ``next_double``) gives ``rng.random()``'s value and leaves the
    generator where ``random`` would, interleaved with the generator's other draws (its buffered 32-bit half)."""
    a, b = np.random.default_rng(21), np.random.default_rng(21)
    medium = Medium(Kernel(), b)
    for k in range(3000):
        if k % 5 == 0:
            assert int(a.integers(4)) == int(b.integers(4))
        if k % 7 == 0:
            assert int(a.integers(2)) == medium.bit()
        value = medium.uniform()
        assert value == a.random() and type(value) is float
    assert a.bit_generator.state == b.bit_generator.state


def test_the_memory_channel_memo_gives_the_function_s_values_and_stays_bounded() -> None:
    node = NodeHardware(1, 1, t2_ns=3e6, readout_ns=0, t1_ns=5e6)
    for stored in (0, -5, 17, 17.0, 2_500_000, 2.5e6, 1e12):
        assert memory.channel(node, stored) == physics.memory_pauli_probabilities(stored, 5e6, 3e6)
    for stored in range(memory.MEMO_LIMIT + 10):
        memory.channel(node, stored)
    assert 0 < len(node.channels) <= memory.MEMO_LIMIT
    assert memory.channel(node, 123) == physics.memory_pauli_probabilities(123, 5e6, 3e6)


def test_docstring_examples() -> None:
    result = doctest.testmod(memory)
    assert result.attempted > 0 and result.failed == 0


class Links:
    """A heralding with one link, 7, between nodes 1 and 2, that records the commands it is given."""

    def __init__(self) -> None:
        self.commands: list[tuple[int, Any]] = []

    def command(self, node_id: int, command: Any) -> None:
        self.commands.append((node_id, command))

    def slot_freed(self, node_id: int) -> None:
        """Not used here."""

    def slot_free_at(self, node_id: int, at: int) -> None:
        """Not used here."""

    def link_ends(self, link_id: Any) -> tuple[int, ...] | None:
        return (1, 2) if link_id == 7 else None


def test_an_arm_checked_once_is_run_again_only_for_its_node() -> None:
    """The medium does not check again an Arm object it found valid for the same node (``Refusals.arms``): the
    same object from another node, and an invalid Arm however often it comes, are checked and refused."""
    medium = Medium(Kernel(), np.random.default_rng(1))
    links = Links()
    medium.heralding = links
    for node_id in (1, 2, 3):
        medium.add_node(NodeHardware(node_id, 2, 1e6, 0))
    arm, bad = Arm(7, pairs=3), Arm(7, pairs=3, alpha=2.0)
    for _ in range(3):
        medium.command(1, arm, None)  # type: ignore[arg-type]
        medium.command(3, arm, None)  # type: ignore[arg-type]
        medium.command(2, bad, None)  # type: ignore[arg-type]
    assert links.commands == [(1, arm)] * 3
    assert medium.rejected_commands == 6 and medium.refusals.arms == {id(arm): (arm, 1)}
    medium.command(2, arm, None)  # type: ignore[arg-type]
    assert links.commands[-1] == (2, arm) and medium.refusals.arms == {id(arm): (arm, 2)}


def test_refusals_docstring_example() -> None:
    import doctest

    from stack.quantum import refusals
    result = doctest.testmod(refusals)
    assert result.attempted > 0 and result.failed == 0


def test_a_uniform_keeps_its_generator_alive() -> None:
    """The function points at the bit generator's state: it holds the generator, so a collection cannot free
    that state under it (which would draw from freed memory)."""
    import gc

    from stack.quantum.memory import uniforms

    uniform = uniforms(np.random.default_rng(1))
    gc.collect()
    others = [np.random.default_rng(seed) for seed in range(50)]
    assert [uniform() for _ in range(4)] == list(np.random.default_rng(1).random(4))
    assert others


def test_sample_is_channel_then_twirl() -> None:
    """``memory.sample`` writes out ``memory.channel``, ``state.twirl`` and ``state.apply_pauli`` (it runs for every
    half measured): for draws on and around every threshold, both sides of a pair, and channels memoised or not,
    it leaves the frame the three leave, returns the channel and draws once exactly when the channel is not the
    identity."""
    node, fresh = NodeHardware(1, 1, t2_ns=3e6, readout_ns=0, t1_ns=5e6), NodeHardware(1, 1, t2_ns=3e6, readout_ns=0,
                                                                                      t1_ns=5e6)
    for stored in (0, 1_000_000, 2.5e6, 9e6):
        px, py, pz = memory.channel(fresh, stored)
        for draw in (0.0, px / 2, px, px + py / 2, px + py, px + py + pz / 2, px + py + pz, 0.999999):
            for side in (0, 1):
                for frame in range(4):
                    ours, theirs = (Pair(state.frame_of_bell(frame), state.UNIFORM) for _ in range(2))
                    qubit, twin_qubit = Qubit(1, 1, 0, side, 0.0, ours), Qubit(2, 1, 0, side, 0.0, theirs)
                    drawn: list[float] = []
                    channel = memory.sample(node, qubit, stored, lambda d=draw, out=drawn: out.append(d) or d)
                    if any(memory.channel(fresh, stored)):
                        state.twirl(twin_qubit, draw, *memory.channel(fresh, stored))
                    assert channel == (px, py, pz) and ours.frame == theirs.frame
                    assert len(drawn) == (px + py + pz > 0)
