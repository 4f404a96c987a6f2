"""Qubits outside the frame algebra: small stim tableau components.

A pair in the frame algebra (:mod:`stack.quantum.state`) is an ideal Bell state plus a Pauli frame; Pauli
operations and Bell measurements keep it there. A Clifford gate that is not a Pauli (or that touches a data
qubit) cannot: the qubits it acts on move into a *component*, a ``stim.TableauSimulator`` over just those
qubits and whatever they are entangled with.

- A data qubit is a one-qubit component from its ``Init``.
- A pair half enters with its whole pair: a two-qubit component prepared in the Bell state of the pair's
  frame. A half whose partner was measured already enters alone, in the eigenstate that partner's outcome
  left it in (the outcome a measurement in that basis would give); a half with no partner (never heralded,
  discarded, or left by a failed Bell measurement) enters alone in |0⟩ or |1⟩, drawn uniformly: the maximally
  mixed state, sampled once (every later statistic is the same as the mixture's).
- Two components merge when a gate spans both (the direct sum of their inverse tableaus).
- A measured qubit leaves, and the component splits into the independent factors of its state: the
  connected parts of its canonical stabilisers (``canonical_stabilizers`` is the unique reduced row echelon
  form of the stabiliser group, and the union of each factor's echelon form is in that form, so qubits
  sharing no canonical stabiliser lie in different factors). Components stay as small as the entanglement
  the protocols create; there is never one global tableau (a random outcome costs O(n²) in stim).

Randomness: every simulator is seeded from the medium's generator, and measurement outcomes are drawn from
that generator too (``peek`` says whether an outcome is random, ``postselect`` collapses), so results do not
depend on stim's internal random streams.

stim is imported by the first component made (:meth:`Components._new`): a run whose qubits all stay in the
frame algebra (:mod:`stack.quantum.state`) never loads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from protocols.common import Basis
from stack.quantum.state import IDEAL_PARITY, Qubit, QubitStatus, anticommutes, side_pauli

if TYPE_CHECKING:
    import stim

_METHOD = {"X": "x", "Y": "y", "Z": "z", "H": "h", "S": "s", "S_DAG": "s_dag", "SQRT_X": "sqrt_x",
           "SQRT_X_DAG": "sqrt_x_dag", "SQRT_Y": "sqrt_y", "SQRT_Y_DAG": "sqrt_y_dag", "CNOT": "cx", "CX": "cx",
           "CY": "cy", "CZ": "cz", "SWAP": "swap"}
_PEEK = {Basis.Z: "peek_z", Basis.X: "peek_x", Basis.Y: "peek_y"}
_POSTSELECT = {Basis.Z: "postselect_z", Basis.X: "postselect_x", Basis.Y: "postselect_y"}


class Component:
    """A stabiliser state over a few qubits: simulator qubit i is ``members[i]``."""

    __slots__ = ("members", "sim")

    def __init__(self, sim: stim.TableauSimulator, members: list[Qubit]) -> None:
        self.sim = sim
        self.members = members
        for member in members:
            member.component = self

    def index(self, qubit: Qubit) -> int:
        for i, member in enumerate(self.members):
            if member is qubit:
                return i
        raise ValueError(f"qubit {qubit.qubit_id} is not in this component")

    def pauli(self, qubit: Qubit, pauli: str) -> None:
        """Apply the Pauli ``pauli`` (X, Y or Z) to ``qubit``."""
        getattr(self.sim, _METHOD[pauli])(self.index(qubit))

    def apply(self, name: str, qubits: Sequence[Qubit]) -> None:
        """Apply the Clifford gate ``name`` (stim's name; ``I`` does nothing) to ``qubits``, in order."""
        if name != "I":
            getattr(self.sim, _METHOD[name])(*(self.index(q) for q in qubits))


class Components:
    """Creates, merges and splits the medium's components; every simulator is seeded from ``rng``."""

    def __init__(self, rng: np.random.Generator, qubits: dict[int, Qubit]) -> None:
        self.rng = rng
        self.qubits = qubits
        self.largest = 0
        """The most qubits any component has held."""

    def _new(self, members: list[Qubit]) -> Component:
        import stim  # here, not at the top: see the module's docstring

        self.largest = max(self.largest, len(members))
        sim = stim.TableauSimulator(seed=int(self.rng.integers(2**63)))
        sim.set_num_qubits(len(members))              # stim tracks qubits lazily; a merge needs every one
        return Component(sim, members)

    def fresh(self, qubit: Qubit) -> Component:
        """A one-qubit component holding ``qubit`` in |0⟩."""
        return self._new([qubit])

    def join(self, qubits: Sequence[Qubit]) -> Component:
        """One component holding all of ``qubits`` (each brought in with :meth:`absorb`, then merged)."""
        joined = self.absorb(qubits[0])
        for qubit in qubits[1:]:
            other = self.absorb(qubit)
            if other is not joined:
                joined = self._merge(joined, other)
        return joined

    def absorb(self, qubit: Qubit) -> Component:
        """``qubit``'s component; a frame qubit first leaves the frame algebra (module docstring)."""
        if qubit.component is not None:
            return qubit.component  # type: ignore[return-value]
        pair = qubit.pair
        far_id = pair.members[1 - qubit.side]
        far = self.qubits.get(far_id) if far_id else None
        if far is not None and far.status is QubitStatus.IN_MEMORY:
            assert far.component is None, "a pair enters a component whole"
            ends = [self.qubits[pair.members[0]], self.qubits[pair.members[1]]]
            component = self._new(ends)
            component.sim.h(0)
            component.sim.cx(0, 1)
            for side in (0, 1):
                pauli = "_XYZ"[side_pauli(pair.frame, side)]
                if pauli != "_":
                    getattr(component.sim, _METHOD[pauli])(side)
            return component
        component = self._new([qubit])
        if pair.first is None:                          # no partner: maximally mixed, sampled once
            if self.rng.integers(2):
                component.sim.x(0)
        else:                                           # the eigenstate the partner's outcome left
            basis, outcome = pair.first
            outcome ^= IDEAL_PARITY[basis] ^ anticommutes(pair.frame, basis)
            if basis is not Basis.Z:
                component.sim.h(0)
            if basis is Basis.Y:
                component.sim.s(0)
            if outcome:
                getattr(component.sim, "x" if basis is Basis.Z else "z")(0)
        return component

    @staticmethod
    def teleportable(data: Qubit, half: Qubit, far: Qubit | None) -> bool:
        """Whether :meth:`teleport` applies: ``data`` alone in its component, ``half`` and ``far`` the two
        halves of a pair in the frame algebra, both in memory, neither measured."""
        component = data.component
        return (isinstance(component, Component) and len(component.members) == 1 and half.component is None
                and far is not None and far.component is None and far.status is QubitStatus.IN_MEMORY
                and half.pair.first is None and half.pair is far.pair)

    def teleport(self, data: Qubit, half: Qubit, far: Qubit, x: int, z: int) -> None:
        """The Bell measurement of ``data`` with ``half`` (CNOT data→half, H on data, both measured) that gave
        ``z`` on ``data`` and ``x`` on ``half``, done as its result: ``far`` takes the data qubit's component
        (no tableau is built) in the state G X^x Z^z |ψ⟩, G being the pair's frame moved onto ``far`` (a Pauli
        on one half of |Φ+⟩ is its transpose on the other, the same Pauli up to a phase). The outcomes of such
        a measurement are uniform whatever |ψ⟩ is, so the caller draws them: the same distribution as
        :meth:`join`, the gates and two :meth:`measure` calls, with fewer random draws."""
        component = data.component
        assert isinstance(component, Component)
        frame = half.pair.frame
        for pauli in ("_XYZ"[side_pauli(frame, 0)], "_XYZ"[side_pauli(frame, 1)], "X" if x else "_", "Z" if z else "_"):
            if pauli != "_":
                getattr(component.sim, _METHOD[pauli])(0)
        component.members[0] = far
        far.component = component
        data.component = None

    def _merge(self, a: Component, b: Component) -> Component:
        a.sim.set_inverse_tableau(a.sim.current_inverse_tableau() + b.sim.current_inverse_tableau())
        a.members.extend(b.members)
        for member in b.members:
            member.component = a
        self.largest = max(self.largest, len(a.members))
        return a

    def measure(self, qubit: Qubit, basis: Basis) -> int:
        """Measure ``qubit`` (in a component) in ``basis``; it leaves its component. Returns the true outcome."""
        component = self.absorb(qubit)
        index = component.index(qubit)
        expectation = getattr(component.sim, _PEEK[basis])(index)
        outcome = int(self.rng.integers(2)) if expectation == 0 else int(expectation < 0)
        getattr(component.sim, _POSTSELECT[basis])(index, desired_value=bool(outcome))
        self._split(component, qubit)
        return outcome

    def discard(self, qubit: Qubit) -> None:
        """Trace ``qubit`` out of its component: measure it and forget the outcome."""
        self.measure(qubit, Basis.Z)

    def _split(self, component: Component, gone: Qubit) -> None:
        """Drop the (now unentangled) qubit ``gone`` and split the rest into its independent factors."""
        gone.component = None
        if len(component.members) == 1:                 # nothing left to split (no draw either way)
            return
        stabilizers = component.sim.canonical_stabilizers()
        supports = [[int(k) for k in s.pauli_indices()] for s in stabilizers]
        parent = list(range(len(component.members)))

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for support in supports:
            for k in support[1:]:
                parent[root(k)] = root(support[0])
        gone_root = root(component.index(gone))
        rows: dict[int, list[stim.PauliString]] = {}
        for stabilizer, support in zip(stabilizers, supports, strict=True):
            rows.setdefault(root(support[0]), []).append(stabilizer)
        assert len(rows.pop(gone_root)) == 1, "a measured qubit is unentangled"
        for block_root, block_rows in rows.items():
            block = [i for i in range(len(component.members)) if root(i) == block_root]
            where = {old: new for new, old in enumerate(block)}
            part = self._new([component.members[i] for i in block])
            part.sim.set_state_from_stabilizers([_restrict(s, where) for s in block_rows])


def _restrict(stabilizer: stim.PauliString, where: dict[int, int]) -> stim.PauliString:
    """``stabilizer`` on the qubits of one factor, renumbered (``where``: old index → new)."""
    import stim  # loaded already: a component exists

    out = stim.PauliString(len(where))
    for old, new in where.items():
        out[new] = stabilizer[old]
    out.sign = stabilizer.sign
    return out
