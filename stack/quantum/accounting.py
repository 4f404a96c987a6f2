"""Every qubit of the medium is accounted for (:class:`stack.quantum.medium.Medium`).

The medium's ledger counts the qubits created, measured and discarded; :func:`finish` checks at the end of a
run that every qubit still in memory is claimed by a protocol layer, discards them, and that every qubit created
ended. :func:`prune` keeps a long run's lookup table of qubits bounded.
"""

from __future__ import annotations

from stack.quantum.state import DISCARDED, IN_MEMORY, NodeHardware, Qubit

PRUNE_FLOOR = 4096
"""Size of :attr:`Medium.qubits` below which it is never pruned."""


class AccountingError(RuntimeError):
    """The medium holds qubits that no protocol layer claims: something leaked."""


def prune(qubits: dict[int, Qubit]) -> int:
    """Forget the qubits no far-half lookup can reach any more, so a long run's memory stays bounded:
    amortised O(1) per qubit, and no random draw (runs stay byte-for-byte the same). Returns the size at which
    to prune next."""
    for qubit_id in [qubit_id for qubit_id, q in qubits.items() if not reachable(q, qubits)]:
        del qubits[qubit_id]
    return max(PRUNE_FLOOR, 2 * len(qubits))


def reachable(qubit: Qubit, qubits: dict[int, Qubit]) -> bool:
    """Whether ``qubit`` may still be looked up: it is in memory or in a tableau component, or it is the
    far half of one that is (a half whose partner was swapped away belongs to a dissolved pair)."""
    if qubit.status is IN_MEMORY or qubit.component is not None:
        return True
    far_id = qubit.pair.members[1 - qubit.side]
    far = qubits.get(far_id) if far_id else None
    return (far is not None and far.pair is qubit.pair
            and (far.status is IN_MEMORY or far.component is not None))


def finish(nodes: dict[int, NodeHardware], ledger: dict[str, int], claimed: dict[int, set[int]]) -> dict[str, int]:
    """Check every qubit in memory is claimed by a layer, then discard them all; the final ledger."""
    leaked = [q for node in nodes.values() for slot, q in node.held.items()
              if slot not in claimed.get(node.node_id, set())]
    if leaked:
        names = ", ".join(f"qubit {q.qubit_id} (node {q.node_id} slot {q.slot})" for q in leaked)
        raise AccountingError(f"{len(leaked)} qubit(s) in memory that no layer holds: {names}")
    for node in nodes.values():
        for slot in list(node.held):
            node.held.pop(slot).status = DISCARDED
            ledger["discarded_at_end"] += 1
    ends = ledger["measured"] + ledger["discarded"] + ledger["discarded_at_end"]
    if ends != ledger["created"]:
        raise AccountingError(f"created {ledger['created']} qubits but {ends} ended")
    return dict(ledger)
