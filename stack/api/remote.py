"""Remote gates between qubits on different QPUs, by gate teleportation (Eisert, Jacobs, Papadopoulos and
Plenio, PRA 62, 052317 (2000)): one ebit and one classical bit each way per gate; and teledata, a qubit moved
by teleportation. These are the primitives a distributed circuit's instructions name (CatEntangle,
CatDisentangle, Teledata: docs/compiler.md).

Remote CNOT from the control c (at the "control" end, which creates the pair a–b, corrected to |Φ+⟩) to the
target t (at the "target" end):

1. cat-entangle: the control end applies CNOT c → a, measures a in Z (m1) and sends m1; the target end applies
   X^m1 to b, which now holds a copy of c in the computational basis (α|00⟩ + β|11⟩ on c, b);
2. the target end applies CNOT b → t (for a remote CZ: CZ b, t);
3. cat-disentangle: the target end measures b in X (m2) and sends m2; the control end applies Z^m2 to c.

On a Werner pair of fidelity F (the ideal Bell state, or X, Y, Z on a half each with (1 − F)/3), an X on b
becomes an X on t after the gate (a Z on t for CZ), a Z on b a wrong m2, so a Z on c; the gate is followed by
the two-qubit Pauli channel {I: F, X_t, Z_c, X_t Z_c: (1 − F)/3 each} (for CZ: Z_t in place of X_t). Its
process fidelity is F, so its average gate fidelity is (4F + 1)/5 (Horodecki, Horodecki and Horodecki, PRA
60, 1888 (1999); Nielsen, Phys. Lett. A 303, 249 (2002): F_avg = (d F_pro + 1)/(d + 1), d = 4);
:func:`remote_gate_fidelity`.
"""

from __future__ import annotations

import contextlib

from protocols.common import Basis
from stack.api.context import AppContext
from stack.api.epr import EPRSocket
from stack.api.errors import LinkError
from stack.api.exchange import exchange_of
from stack.api.transport import teleporter_of

ROLES = ("control", "target")
GATES = {"CNOT": "CNOT", "CZ": "CZ"}


def remote_gate_fidelity(pair_fidelity: float) -> float:
    """Average gate fidelity of a remote CNOT or CZ over a Werner pair of fidelity ``pair_fidelity``: (4F + 1)/5."""
    return (4 * pair_fidelity + 1) / 5


async def remote_gate(ctx: AppContext, gate: str, remote: str, slot: int, role: str, service: str = "auto") -> None:
    """This end's part of a remote ``gate`` ("CNOT" control → target, or "CZ") between the qubit in ``slot``
    here and a qubit at ``remote``; ``role`` is "control" (this end holds the control and makes the pair) or
    "target". Both ends call it with the same gate, one with each role; it returns when this end's part is done.
    Both ends "control": each finds the other's cat-entangle bit where the target's empty answer belongs and
    raises ValueError (after discarding the pair the other end made). Both ends "target": neither makes the
    pair, so both wait until the run's end (nothing tells them apart sooner). A ``slot`` this application does
    not hold is a ValueError before any pair is made."""
    if gate not in GATES:
        raise ValueError(f"gate must be one of {', '.join(GATES)}, got {gate!r}")
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    _held(ctx, f"remote {gate}", slot)
    exchange = exchange_of(ctx, remote)
    entangle, disentangle = exchange.tag(), exchange.tag()
    epr = ctx.epr_socket(remote, service)
    if role == "control":
        half = (await epr.create_one()).slot
        ctx.gate("CNOT", slot, half)
        m1 = await ctx.measure(half, Basis.Z)
        if await exchange.swap(entangle, bytes([m1])):          # the target answers nothing here
            await _discard_peer_pair(ctx, epr)
            raise ValueError(f"remote {gate}: role 'control' at both ends ({ctx.node} and {remote}): one end "
                             "must be the 'control', the other the 'target'")
        m2 = (await exchange.swap(disentangle, b""))[0]
        if m2:
            ctx.gate("Z", slot)
        return
    half = (await epr.recv_one()).slot
    m1 = (await exchange.swap(entangle, b""))[0]
    if m1:
        ctx.gate("X", half)
    ctx.gate(GATES[gate], half, slot)
    m2 = await ctx.measure(half, Basis.X)
    await exchange.swap(disentangle, bytes([m2]))


def _held(ctx: AppContext, what: str, slot: int) -> None:
    """ValueError, before any pair is made (whose half would be left in memory), unless this application holds
    a qubit in ``slot``."""
    if slot not in ctx.held:
        raise ValueError(f"{what}: slot {slot!r} holds no qubit of this application (held: {sorted(ctx.held)})")


async def _discard_peer_pair(ctx: AppContext, epr: EPRSocket) -> None:
    """The pair the other end (also a "control") made: taken and discarded, so no qubit is left behind."""
    with contextlib.suppress(LinkError):
        ctx.discard((await epr.recv_one()).slot)


async def remote_cnot(ctx: AppContext, remote: str, slot: int, role: str, service: str = "auto") -> None:
    """A remote CNOT: :func:`remote_gate` with "CNOT"."""
    await remote_gate(ctx, "CNOT", remote, slot, role, service)


async def remote_cz(ctx: AppContext, remote: str, slot: int, role: str, service: str = "auto") -> None:
    """A remote CZ: :func:`remote_gate` with "CZ"."""
    await remote_gate(ctx, "CZ", remote, slot, role, service)


async def teledata(ctx: AppContext, remote: str, slot: int | None, role: str, service: str = "auto") -> int | None:
    """Move a qubit by teleportation: role "send" gives up the qubit in ``slot``; role "recv" (``slot`` None)
    returns the slot where it arrived. Raises TransportError at both ends when it is lost."""
    teleporter = teleporter_of(ctx)
    if role == "send":
        if slot is None:
            raise ValueError("teledata: the sending end names its qubit's slot")
        _held(ctx, "teledata", slot)
        await teleporter.send(remote, slot, service)
        return None
    if role != "recv":
        raise ValueError(f"role must be 'send' or 'recv', got {role!r}")
    return await teleporter.recv(remote, service)
