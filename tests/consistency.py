"""What a run must guarantee at both ends of every link, whatever the classical channel does, and
scenario edits that make the channel faulty.

The guarantees (docs/architecture.md, "Pair confirmation" and "End of the run"): no pair is delivered
(an OK not withdrawn by ERR EXPIRE) at one end only; every request ends at both ends, with its last
OK or an ERR, and the same ERR at both ends when the other end knew the request; no link layer holds
a request, a pair or a message waiting for an answer when the run is over; every qubit is accounted
for.
"""

from __future__ import annotations

import re

from stack.report import delivered
from stack.runtime import RunResult


def with_faults(text: str, loss: float, duplication: float, jitter_ns: int) -> str:
    """``text`` (a scenario) with the same classical loss, duplication and jitter on every link."""
    faults = f"classical_loss = {loss}\nclassical_duplication = {duplication}\nclassical_jitter_ns = {jitter_ns}\n"
    return re.sub(r"^(\[links\.[^\]]+\][^\n]*\n)", lambda m: m.group(1) + faults, text, flags=re.MULTILINE)


def shortened(text: str, pairs: int, duration_ms: float) -> str:
    """``text`` with at most ``pairs`` pairs per workload entry and a run of at most ``duration_ms``."""
    text = re.sub(r"^pairs = (\d+)", lambda m: f"pairs = {min(int(m.group(1)), pairs)}", text, flags=re.MULTILINE)
    text = re.sub(r"^duration_ms = .*\n", "", text, flags=re.MULTILINE)
    return re.sub(r"^\[run\][^\n]*\n", f"[run]\nduration_ms = {duration_ms}\n", text, count=1, flags=re.MULTILINE)


def heralded_qubits(result: RunResult) -> int:
    """Two qubits for every pair its links heralded: what the medium's ledger must have ``created`` in a run whose
    qubits all come from heralded pairs (sampled double-click links, no data qubits): a count kept apart from the
    ledger's (the ledger's own sum, ``created`` = its three ends, holds by construction once the run returned:
    :meth:`stack.quantum.medium.Medium.finish` raises otherwise)."""
    return 2 * sum(state.successes for state in result.emulation.heralding.links.values())


def broken_promises(result: RunResult) -> list[str]:
    """Every way the run broke the guarantees above (empty: none)."""
    problems = []
    for w in result.emulation.workloads:
        name = f"{w.config.node}->{w.config.remote} purpose {w.config.purpose_id}"
        origin, responder = w.origin, w.responder
        if not origin.done():
            problems.append(f"{name}: the request never ended at the origin")
        if not w.config.listen:
            continue
        here = delivered(origin.records, origin.expired)
        there = delivered(responder.records, responder.expired)
        for seq in sorted(here ^ there):
            side = "origin" if seq in here else "responder"
            problems.append(f"{name}: pair {seq} delivered at the {side} only")
        knew = bool(responder.records or responder.expired or responder.errors)
        if sorted(origin.errors) != sorted(responder.errors) and (knew or not origin.errors):
            problems.append(f"{name}: ERRs {origin.errors} at the origin, {responder.errors} at the responder")
    for engine in result.emulation.link_layers:
        if engine.open:
            problems.append(f"node {engine.node_id}: requests still open {sorted(engine.open)}")
        if not engine.settled():
            problems.append(f"node {engine.node_id}: a pair or a message still waits for an answer")
    for network in result.emulation.network_layers:
        if not network.settled():
            problems.append(f"node {network.node_id}: its network layer has a circuit or a message unfinished")
    # "every qubit is accounted for" is Medium.finish's check, run by the run itself (it raises): the ledger's sum
    # holds of every result, so it is not looked at here (it could not add a problem)
    return problems


def assert_ended_at_both_ends(result: RunResult) -> None:
    """Every request ended at both ends: nothing broken, no ERR, the same pairs delivered (and not withdrawn) and
    the same expired at both ends, Number in all."""
    assert broken_promises(result) == []
    for workload in result.emulation.workloads:
        origin, responder = workload.origin, workload.responder
        assert origin.errors == responder.errors == []
        here = {r.sequence_number for r in origin.records} - origin.expired
        there = {r.sequence_number for r in responder.records} - responder.expired
        assert here == there
        assert origin.expired == responder.expired
        assert len(here | origin.expired) == workload.config.pairs
