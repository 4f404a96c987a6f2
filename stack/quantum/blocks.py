"""The medium's side of the batched measure-directly path: a link's attempt run as one block.

When both ends of a sampled link with a station armed for measure-directly pairs in blocks
(:class:`~protocols.physical.hardware.Arm` ``block``), :class:`~stack.quantum.heralding.Heralding` runs
the link a block at a time instead of a pair at a time: :func:`plan` draws the block
(:func:`stack.quantum.batch.sample_block`) when the run starts, so its last success fixes when it ends,
and :func:`deliver` hands out its events then: a :class:`~protocols.physical.hardware.DetectionBlock` to
the station (which sends each end one QHP BATCH, or consecutive ones when the block's failure counts
exceed a datagram) and an :class:`~protocols.physical.hardware.EmittedBlock` to each end's physical layer. No
qubit object is made: the medium's ledger counts each pair's two qubits as created and measured. A block's
photons are not captured (its BATCHes are, one frame per end and part).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from protocols.physical.hardware import DetectionBlock, EmittedBlock
from stack.core.kernel import Kernel, VirtualPort
from stack.quantum.budget import LinkPhysics
from stack.quantum.heap import keep_freed_memory
from stack.quantum.medium import Medium

if TYPE_CHECKING:           # the sampler is loaded by the first block: a run without blocks never loads it
    from stack.quantum.batch import Block

MAX_ATTEMPTS = 0xFFFF_FFFF
"""A block's attempts must fit the BATCH's 32-bit Attempts field."""


def wanted(link: LinkPhysics, arms: Any) -> bool:
    """Whether a run of this link is a block: sampled mode, a station, and both ends measuring in blocks."""
    return (link.mode == "sampled" and link.scheme in ("double-click", "single-click")
            and all(arm.block > 0 and (arm.basis is not None or arm.choice) for arm in arms))


def plan(link: LinkPhysics, rng: np.random.Generator, arms: Any, medium: Medium, first: int) -> Block:
    """The block a run from slot ``first`` makes: as many pairs as both ends still want, up to the smaller
    block size, cut where its attempts would no longer fit the BATCH's 32-bit Attempts field. (A block larger
    than one datagram is heralded in consecutive BATCHes: :mod:`protocols.physical.parts`.)"""
    from stack.quantum.batch import BasisSpec, sample_block

    keep_freed_memory()
    a, b = arms
    count = min(a.block, b.block, a.remaining, b.remaining)
    readout = (medium.nodes[link.node_a].readout_fidelity, medium.nodes[link.node_b].readout_fidelity)
    block = sample_block(link, rng, count, first, (BasisSpec(a.basis, a.choice), BasisSpec(b.basis, b.choice)),
                         readout)
    if block.attempts <= MAX_ATTEMPTS:
        return block
    within = np.cumsum(block.failures + np.uint64(1), dtype=np.uint64) <= np.uint64(MAX_ATTEMPTS)
    return truncate(block, max(1, int(within.sum())))


def truncate(block: Block, count: int) -> Block:
    """The first ``count`` pairs of ``block``."""
    from stack.quantum.batch import Block

    bits = -(-count // 8)

    def cut(plane: np.ndarray) -> np.ndarray:
        return np.packbits(np.unpackbits(plane, count=count))[:bits]

    failures = block.failures[:count]
    return Block(block.link_id, block.first_seq, int(failures.sum(dtype=np.uint64)) + count, failures,
                 block.heralded[:count], (cut(block.frame[0]), cut(block.frame[1])), block.genuine[:count],
                 (block.bases[0][:count], block.bases[1][:count]), (cut(block.outcomes[0]), cut(block.outcomes[1])))


def last_slot(block: Block) -> int:
    return block.first_seq + block.attempts - 1


def deliver(block: Block, link: LinkPhysics, kernel: Kernel, medium: Medium, middle: VirtualPort,
            timing: Callable[[LinkPhysics, int], tuple[tuple[float, float], tuple[float, float]]],
            local: Callable[[int, float], float]) -> None:
    """The block's events, after its last attempt: the station's detections and each end's measured halves.
    ``timing(link, slot)`` gives the true emission and arrival times of a slot's photons, ``local(node, t)``
    a true time on a node's clock."""
    emissions, arrivals = timing(link, last_slot(block))
    detected = math.ceil(max(arrivals) + (link.attempt_ns / 2 if link.scheme == "double-click" else 0))
    medium.ledger["created"] += 2 * block.count
    medium.ledger["measured"] += 2 * block.count
    kernel.deliver_at(detected, middle, DetectionBlock(link.link_id, block.first_seq, block.attempts,
                                                       block.failures, block.heralded))
    for side, node_id in enumerate((link.node_a, link.node_b)):
        port = medium.nodes[node_id].physical_port
        assert port is not None
        event = EmittedBlock(link.link_id, block.first_seq, block.attempts, block.count,
                             math.floor(local(node_id, emissions[side])), link.model.distribution,
                             block.outcomes[side], block.bases[side])
        kernel.deliver_at(math.ceil(emissions[side]), port, event)


def in_window(link: LinkPhysics, block: Block,
              timing: Callable[[LinkPhysics, int], tuple[tuple[float, float], tuple[float, float]]]) -> bool:
    """Whether the photons of the block's first attempt meet within the detection window (the clocks are
    checked once per block)."""
    _, arrivals = timing(link, block.first_seq)
    return abs(arrivals[0] - arrivals[1]) <= link.detection_window_ns
