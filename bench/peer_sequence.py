"""The peer side of bench/bench_peer.py: SeQUeNCe 1.3.1 generating create-and-keep pairs between two routers.

    /tmp/seq/bin/python bench/peer_sequence.py --pairs 1000

Needs SeQUeNCe 1.3.1 on Python 3.12 (it is not a dependency of qnetstack and none of its code is here):
``~/.pyenv/versions/3.12*/bin/python -m venv /tmp/seq && /tmp/seq/bin/pip install sequence==1.3.1``.

Two QuantumRouters 10 km apart with a BSM node in the middle (``meet_in_the_middle``: SeQUeNCe's
Barrett-Kok entanglement generation, EntanglementGenerationA), its default hardware templates, one
RequestApp asking for pairs with fidelity ≥ 0.5 over the whole run; each delivered pair is released back
to the resource manager at once (kept, then freed: SeQUeNCe's create-and-keep). The timeline stops at
the ``--pairs``-th pair. Prints the pairs and the emulated seconds; the caller times the whole process.
"""

from __future__ import annotations

import argparse

from sequence.app.request_app import RequestApp
from sequence.topology.router_net_topo import RouterNetTopo

PS = 10**12


def config(memories: int) -> dict[str, object]:
    routers = [{"name": name, "type": "QuantumRouter", "seed": seed, "memo_size": memories}
               for name, seed in (("alice", 0), ("bob", 1))]
    return {"is_parallel": False, "stop_time": 10**16, "nodes": routers,
            "qconnections": [{"node1": "alice", "node2": "bob", "attenuation": 0.0002, "distance": 10_000,
                              "type": "meet_in_the_middle"}],
            "cconnections": [{"node1": "alice", "node2": "bob", "delay": 10_000 * 5_000}]}   # 5 µs/km, in ps


class CountingApp(RequestApp):
    """RequestApp that stops the timeline once it has ``target`` pairs."""

    target = 0

    def get_memory(self, info: object) -> None:
        super().get_memory(info)  # type: ignore[arg-type]
        if self.memory_counter >= self.target:
            self.node.timeline.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--memories", type=int, default=2, help="memories per router (default 2, like two-qpus.toml)")
    args = parser.parse_args()
    topology = RouterNetTopo(config(args.memories))
    alice, bob = topology.get_nodes_by_type(RouterNetTopo.QUANTUM_ROUTER)
    app = CountingApp(alice)
    app.target = args.pairs
    RequestApp(bob)
    timeline = topology.get_timeline()
    timeline.init()
    app.start("bob", PS, 10**16, args.memories, 0.5)
    timeline.run()
    print(f"{app.memory_counter} pairs in {timeline.now() / PS:.3f} emulated s")


if __name__ == "__main__":
    main()
