"""One layer's engines alone: a chain run's inputs recorded, then replayed into fresh engines, timed and digested.

The shared part of ``network_replay.py`` and ``link_replay.py`` (each names its engine class, how an engine
names its node, and how fresh engines are built). Runs ``bench_network.chain(K, PAIRS)`` (W = 1) once,
recording every input (``start``, ``receive``, ``handle``, ``on_timer``) of every engine of the class, in order,
then builds the same scenario afresh R + 1 times (``stack.runtime.build``: nothing runs) and calls each engine
with the recorded inputs in the recorded order. The engines are deterministic, so they see exactly what they saw
in the run. The first replay is digested (SHA-256 of ``repr`` of every returned ``Actions``: sends, up, down,
hardware, deadline): two trees with the same digest give the same outputs for the same inputs. The other R are
timed (CPU).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench_network import chain

from stack.report import build_report
from stack.runtime import run_scenario
from stack.scenario import load_text

INPUTS = ("start", "receive", "handle", "on_timer")
Log = list[tuple[int, str, tuple[Any, ...]]]


def record(text: str, engine_class: type, node_of: Callable[[Any], int]) -> tuple[Log, int]:
    """Every input of ``engine_class``'s engines in one run of ``text`` as (node, method, arguments), and the
    circuit's link pairs."""
    log: Log = []
    original = {name: getattr(engine_class, name) for name in INPUTS}

    def recorded(name: str) -> Any:
        method = original[name]

        def call(self: Any, *args: Any) -> Any:
            log.append((node_of(self), name, args))
            return method(self, *args)
        return call

    for name in INPUTS:
        setattr(engine_class, name, recorded(name))
    try:
        result = run_scenario(load_text(text, "<chain>"))
    finally:
        for name, method in original.items():
            setattr(engine_class, name, method)
    link_pairs = sum(hop["link_pairs"] for circuit in build_report(result)["circuits"]
                     for hop in circuit["hops_detail"])
    return log, link_pairs


def main(description: str, engine_class: type, node_of: Callable[[Any], int],
         fresh: Callable[[str], dict[int, Any]]) -> None:
    """The command line of a replay script: ``fresh(text)`` builds the scenario's engines by node."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("hops", type=int)
    parser.add_argument("pairs", type=int)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--none", action="store_true", help="build and digest, but replay nothing timed")
    args = parser.parse_args()
    text = chain(args.hops, args.pairs) + "\n[network]\nwindow = 1\n"
    run_scenario(load_text(chain(2, 1), "<warm-up>"))
    log, link_pairs = record(text, engine_class, node_of)
    rounds = []
    for _ in range(args.rounds + 1):
        engines = fresh(text)
        rounds.append([(getattr(engines[node], name), call_args) for node, name, call_args in log])
    digest = hashlib.sha256()
    kinds: dict[str, int] = {}
    for method, call_args in rounds[0]:
        actions = method(*call_args)
        digest.update(repr((actions.send, actions.up, actions.down, actions.hardware, actions.deadline)).encode())
        kind = type(call_args[0]).__name__ if method.__name__ == "handle" else method.__name__
        kinds[kind] = kinds.get(kind, 0) + 1
    cpus = []
    for calls in rounds[1:]:
        if args.none:
            continue
        started = time.process_time()
        for method, call_args in calls:
            method(*call_args)
        cpus.append(time.process_time() - started)
    median = statistics.median(cpus) if cpus else 0.0
    print(json.dumps({"K": args.hops, "pairs": args.pairs, "inputs": len(log), "link_pairs": link_pairs,
                      "inputs_per_link_pair": {k: round(n / link_pairs, 2) for k, n in sorted(kinds.items())},
                      "cpu_s": [round(cpu, 4) for cpu in cpus], "median_s": round(median, 4),
                      "us_per_link_pair": round(median / link_pairs * 1e6, 1),
                      "us_per_input": round(median / len(log) * 1e6, 2), "digest": digest.hexdigest()[:16],
                      "load": round(os.getloadavg()[0], 1)}))
