"""Link layer: what a request asks of the physical layer (:func:`start`), and which measure bases it names.

A create-and-keep request keeps its pairs (no basis); a measure-directly request measures them in
a fixed basis (CREATE's Euler rotations, :data:`~protocols.link.types.ROTATION_BASES`) or in a basis
drawn at random for each pair (CREATE's RL/RR, :func:`~protocols.link.types.basis_choice`). Each end
uses its own half of the CREATE: the origin the local fields, the peer the remote ones.

>>> create = ll.Create(remote_node_id=2, tpe=ll.TPE_MEASURE, rotyl=64)
>>> rotation_basis(create, local=True), rotation_basis(create, local=False)
(<Basis.X: 1>, <Basis.Z: 0>)
"""

from __future__ import annotations

from protocols.common import Basis
from protocols.link.types import ROTATION_BASES, Request, basis_choice
from protocols.packets import linkservice as ll
from protocols.physical.node import StartGeneration

NETWORK_PURPOSES = 0x8000
"""Purpose IDs from here on are circuits' link labels (the network layer's requests)."""


def rotation_basis(create: ll.Create, local: bool) -> Basis | None:
    """The fixed basis one end of a measure-directly CREATE measures in (None: a rotation we do not support)."""
    angles = ((create.rotx1l, create.rotyl, create.rotx2l) if local
              else (create.rotx1r, create.rotyr, create.rotx2r))
    return ROTATION_BASES.get(angles)


def start(request: Request, pairs: int) -> StartGeneration:
    """Arm the link for ``pairs`` pairs of ``request``: its basis, its option's α, its random-basis choice.

    What it names but ``pairs`` is the request's (its CREATE, link and option never change), so the event is
    made once per request and number of pairs (:attr:`~protocols.link.types.Request.arming`: a circuit hop
    starts a run of one pair for each credit; the event is frozen, so one object serves them all)."""
    arming = request.arming
    if arming is not None and arming.pairs == pairs:
        return arming
    alpha = request.option.alpha if request.option is not None else None
    arming = request.arming = StartGeneration(request.link.link_id, pairs, _basis_of(request), alpha,
                                              _choice_of(request), block_size(request))
    return arming


def block_size(request: Request) -> int:
    """The block size of a measure-directly request served in blocks (0: pair by pair): the link's ``batch``
    when the request asks for at least that many pairs in bases a block can measure (Z, X, Y)."""
    batch = request.link.batch
    if batch <= 0 or request.create.tpe != ll.TPE_MEASURE or request.create.number < batch or request.create.windowed:
        return 0                              # (a windowed request's credit bounds each run: pair by pair)
    if request.create.purpose_id >= NETWORK_PURPOSES:
        return 0                              # a circuit's link label: the network layer takes pairs one by one
    if _basis_of(request) is None and not _choice_of(request):
        return 0                              # a rotated basis: pair by pair
    return batch


def _basis_of(request: Request) -> Basis | None:
    if request.create.tpe != ll.TPE_MEASURE or request.create.rl or request.create.rr:
        return None
    return rotation_basis(request.create, local=request.d == 0)


def _choice_of(request: Request) -> tuple[tuple[Basis, float], ...]:
    if request.create.tpe != ll.TPE_MEASURE:
        return ()
    return basis_choice(request.create, local=request.d == 0)
