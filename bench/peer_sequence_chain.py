"""The peer side of bench/bench_network.py: SeQUeNCe 1.3.1 delivering end-to-end pairs across a K-hop chain.

    /tmp/seq/bin/python bench/peer_sequence_chain.py [--hops 2 4 8 16 32] [--pairs 10] [--memories 2]

Needs SeQUeNCe 1.3.1 on Python 3.12 (not a dependency of qnetstack; none of its code is here):
``~/.pyenv/versions/3.12*/bin/python -m venv /tmp/seq && /tmp/seq/bin/pip install sequence==1.3.1``.

The chain, built with SeQUeNCe's own topology class (``RouterNetTopo``) and protocols, as close to
bench_network.py's chain as SeQUeNCe's model allows:

- K + 1 ``QuantumRouter`` s in a line, K ``meet_in_the_middle`` quantum connections of 10 km (a ``BSMNode``
  5 km from each router: SeQUeNCe's Barrett-Kok generation, EntanglementGenerationA/B), fibre attenuation
  0.2 dB/km (``attenuation = 0.0002`` per metre), detector efficiency 0.9 (SeQUeNCe's default, and ours).
- Memories: ``efficiency = 0.4`` (ours: emission 0.8 × transducer 0.5), raw ``fidelity = 0.98`` (ours: 2 %
  depolarizing per link), ``frequency`` SeQUeNCe's default 80 MHz, ``coherence_time = -1`` (never expires:
  ours has T2 = 1 s, which no pair reaches; in SeQUeNCe a coherence time only adds an expiry event).
  The end routers have ``--memories`` memories, the interior ones twice that (SeQUeNCe reserves
  ``memory_size`` memories per side of a swapping node). Ours: 2 communication + 2 storage qubits per QPU.
- Swapping: SeQUeNCe's reservation rules (nested: the middle nodes of ever shorter sub-paths swap first, so
  K a power of two gives a balanced tree; ours swaps at each repeater as soon as it holds a half on each
  side), success probability 1, degradation 1
  (ideal, like ours). Purification: the EP rules are disabled in each router's rule registry, and the
  request's fidelity target (0.01) is below anything a pair reaches, so no rule ever waits on fidelity.
- Classical: a channel between every two routers (SeQUeNCe's swapping sends its results straight to the
  ends), delay 5 µs per km of chain between them; RSVP reserves the path hop by hop (static routing).
- One ``RequestApp`` at the first router asks the last for pairs over the whole run (create-and-keep: each
  delivered pair is released at once); the timeline stops at the ``--pairs``-th pair.

Honest mismatches: SeQUeNCe simulates every Barrett-Kok attempt as events (photons, detectors, messages)
while ours, in sampled mode, draws a link's attempt run in closed form; SeQUeNCe's ket-vector quantum
manager tracks each pair's state while ours tracks Bell-diagonal weights; ours measures each delivered pair
at both ends, SeQUeNCe releases it. Both are each tool's ordinary way to emulate this chain.

Prints, for each K, one line: K, pairs, wall s (building the topology and running), CPU s, emulated s
(from the request's start, 1 s, which leaves RSVP time to reserve the path, to the last pair), pairs per
wall-second and wall-s per pair. Building is timed because bench_network.py's wall time includes building
and setting the circuit up too. An untimed 1-hop, 1-pair run comes first (the first run of a process pays
for lazy imports and warming caches; bench_network.py warms up the same way).
"""

from __future__ import annotations

import argparse
import itertools
import time

from sequence.app.request_app import RequestApp
from sequence.resource_management.reservation_rule_registry import EP_AWAIT, EP_REQUEST
from sequence.topology.router_net_topo import RouterNetTopo

PS = 10**12
HOP_M = 10_000
PS_PER_M = 5_000          # 5 µs/km
TARGET_FIDELITY = 0.01


def config(hops: int, memories: int, efficiency: float = 0.4) -> dict[str, object]:
    """RouterNetTopo's configuration of a chain of ``hops`` 10 km hops (``efficiency``: the memories')."""
    names = [f"r{i}" for i in range(hops + 1)]
    memory = {"efficiency": efficiency, "fidelity": 0.98, "coherence_time": -1}
    templates = {"end": {"MemoryArray": memory},
                 "interior": {"MemoryArray": memory, "EntanglementSwapping": {"swapping_success_prob": 1.0,
                                                                              "swapping_degradation": 1.0}}}
    nodes = [{"name": name, "type": RouterNetTopo.QUANTUM_ROUTER, "seed": index,
              "memo_size": memories if index in (0, hops) else 2 * memories,
              "template": "end" if index in (0, hops) else "interior"}
             for index, name in enumerate(names)]
    qconnections = [{"node1": left, "node2": right, "attenuation": 0.0002, "distance": HOP_M,
                     "type": RouterNetTopo.MEET_IN_THE_MID, "seed": hops + 1 + index}
                    for index, (left, right) in enumerate(itertools.pairwise(names))]
    cconnections = [{"node1": names[i], "node2": names[j], "delay": (j - i) * HOP_M * PS_PER_M}
                    for i, j in itertools.combinations(range(hops + 1), 2)]
    return {"is_parallel": False, "stop_time": 10**17, "templates": templates, "nodes": nodes,
            "qconnections": qconnections, "cconnections": cconnections}


class CountingApp(RequestApp):
    """RequestApp that stops the timeline once it has ``target`` pairs."""

    target = 0

    def get_memory(self, info: object) -> None:
        super().get_memory(info)
        if self.memory_counter >= self.target:
            self.node.timeline.stop()


def run(hops: int, pairs: int, memories: int, efficiency: float = 0.4) -> tuple[int, float, float, float]:
    """(pairs delivered, wall s, CPU s, emulated s since the request's start) of one chain of ``hops`` hops."""
    started, cpu = time.perf_counter(), time.process_time()
    topology = RouterNetTopo(config(hops, memories, efficiency))
    routers = sorted(topology.get_nodes_by_type(RouterNetTopo.QUANTUM_ROUTER), key=lambda r: int(r.name[1:]))
    for router in routers:
        for rule in (EP_REQUEST, EP_AWAIT):
            router.resource_manager.rule_generator.registry.disable(rule)
    app = CountingApp(routers[0])
    app.target = pairs
    RequestApp(routers[-1])
    timeline = topology.get_timeline()
    timeline.init()
    app.start(routers[-1].name, PS, 10**17 - 1, memories, TARGET_FIDELITY)
    timeline.run()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return app.memory_counter, wall, cpu, timeline.now() / PS - 1   # the request starts at 1 s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hops", type=int, nargs="+", default=[2, 4, 8, 16, 32])
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--memories", type=int, default=2,
                        help="memories per end router, twice that per interior router (default 2)")
    parser.add_argument("--memory-efficiency", type=float, default=0.4,
                        help="the memories' photon efficiency (default 0.4 like ours; SeQUeNCe's default is 1)")
    args = parser.parse_args()
    if args.pairs < 1 or args.memories < 1 or min(args.hops) < 1:
        parser.error("--pairs, --memories and --hops must be at least 1")
    if not 0 < args.memory_efficiency <= 1:
        parser.error("--memory-efficiency must be in (0, 1]")
    run(1, 1, args.memories, args.memory_efficiency)   # untimed: a process's first run pays for lazy imports
    print(f"{'K':>4}{'pairs':>7}{'wall s':>9}{'CPU s':>8}{'emulated s':>12}{'pairs/wall-s':>14}{'wall-s/pair':>13}")
    for hops in args.hops:
        delivered, wall, cpu, emulated = run(hops, args.pairs, args.memories, args.memory_efficiency)
        per_pair = wall / delivered if delivered else float("inf")
        print(f"{hops:>4}{delivered:>7}{wall:>9.2f}{cpu:>8.2f}{emulated:>12.4f}{delivered / wall:>14.2f}"
              f"{per_pair:>13.4f}", flush=True)


if __name__ == "__main__":
    main()
