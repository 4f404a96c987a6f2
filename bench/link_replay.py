"""The link layer's engines alone: one chain run's inputs replayed into fresh engines, timed and digested.

    python bench/link_replay.py K PAIRS [--rounds R] [--none]

As :mod:`network_replay` does for the network layer: runs ``bench_network.chain(K, PAIRS)`` (W = 1) once,
recording every input of every node's ``LinkLayer`` (the network layer's CREATEs and CREDITs, EGP datagrams,
``PairReady``/``MoveResult`` events, timers, in order), then builds the scenario afresh R + 1 times
(``stack.runtime.build``: nothing runs) and calls each engine with the recorded inputs in the recorded order.
The first replay is digested (SHA-256 of ``repr`` of every returned ``Actions``): two trees with the same
digest give the same outputs for the same inputs. The other R are timed (CPU). Run it from a tree's root to
measure that tree.

Instructions of the engines alone: ``valgrind --tool=callgrind`` of ``--rounds 1`` minus the same with
``--rounds 1 --none`` (``--none`` alone builds the default 5 + 1 scenarios, not 2), ``PYTHONHASHSEED=0``,
bytecode compiled; or, firmer, callgrind with ``--instr-atstart=no`` and client requests around the replay
alone (bench/README.md, branch chain-link). bench/README.md, branches cak-link2 and chain-link, has the figures.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

sys.path[:0] = [os.getcwd(), str(Path(__file__).resolve().parent)]

import engine_replay  # noqa: E402

from protocols.link.layer import LinkLayer  # noqa: E402
from stack.runtime import build  # noqa: E402
from stack.scenario import load_text  # noqa: E402


def fresh(text: str) -> dict[int, Any]:
    """Fresh engines of the scenario by node."""
    return {engine.node_id: engine for engine in build(load_text(text, "<chain>")).link_layers}


if __name__ == "__main__":
    engine_replay.main(__doc__.splitlines()[0], LinkLayer, lambda engine: engine.node_id, fresh)
