"""The network layer's engines alone: one chain run's inputs replayed into fresh engines, timed and digested.

    python bench/network_replay.py K PAIRS [--rounds R] [--none]

Runs ``bench_network.chain(K, PAIRS)`` (W = 1) once, recording every input of every QPU's ``NetworkLayer``
(datagrams, hardware results, timers, in order), then builds the same scenario afresh R + 1 times
(``stack.runtime.build``: nothing runs) and calls each engine with the recorded inputs in the recorded order.
The engines are deterministic, so they see exactly what they saw in the run. The first replay is digested
(SHA-256 of ``repr`` of every returned ``Actions``: sends, up, down, hardware, deadline): two trees with the
same digest give the same outputs for the same inputs. The other R are timed (CPU). Run it from a tree's root
to measure that tree, alternating with another.

Instruction counts of the engines alone: ``valgrind --tool=callgrind`` of ``--rounds 1`` minus the same
with ``--none`` (everything but the timed replay), ``PYTHONHASHSEED=0``, bytecode compiled in both trees.
bench/README.md, "The network layer per link pair" (branch chain-net2), has the figures.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

sys.path[:0] = [os.getcwd(), str(Path(__file__).resolve().parent)]

import engine_replay  # noqa: E402

from protocols.network.layer import NetworkLayer  # noqa: E402
from stack.runtime import build  # noqa: E402
from stack.scenario import load_text  # noqa: E402


def fresh(text: str) -> dict[int, Any]:
    """Fresh engines of the scenario by node, their topology's path searches done (pure caches)."""
    emulation = build(load_text(text, "<chain>"))
    nodes = [engine.node.node_id for engine in emulation.network_layers]
    for engine in emulation.network_layers:
        for peer in nodes:
            engine.node.rto(peer)
            engine.node.link_to(peer)
    return {engine.node.node_id: engine for engine in emulation.network_layers}


if __name__ == "__main__":
    engine_replay.main(__doc__.splitlines()[0], NetworkLayer, lambda engine: engine.node.node_id, fresh)
