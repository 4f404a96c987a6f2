"""The run's UDP sockets, bound by ``qnet up``'s launcher before it starts any process, and handed to the nodes.

Checking that a port is free and binding it later leaves a window in which another process (another run, a
test, an outgoing connection's ephemeral port) can take it. So the launcher binds every port of every node
process's block itself (:func:`bind_blocks`: the 32 ports ``base + 32 × node_id + slot``, the timestamp
sideband included), keeps them bound, and hands each node process its own block: a forked child inherits
the sockets, a fresh interpreter gets them as inherited file descriptors (``pass_fds``), and the launcher then
closes its copies, so the ports are bound without a gap from the launcher's check to the node's exit. The
child finds them through the environment variable :data:`HELD_ENV` (``PORT:FD,...``), which
:func:`take_held` reads (and removes) after checking that each descriptor is a UDP socket bound to
127.0.0.1 and that port; :class:`stack.multiprocess.udp.UdpNetwork` then uses the held socket of a port
instead of binding one. A node holds its whole block for its life, so an application's port bound late (a
teleporter's QTP port) is as safe as the layers' ports. A ``qnet node`` started by hand has no such
variable and binds its own ports, as before.

>>> from stack.multiprocess.ports import PortMap
>>> block_ports(PortMap(40000), 2)
range(40064, 40096)
"""

from __future__ import annotations

import errno
import os
import resource
import socket
from collections.abc import Iterable, MutableMapping

from protocols.common import HERALD_PORT
from stack.multiprocess.ports import LOOPBACK, PORTS_PER_NODE, PortMap

HELD_ENV = "QNET_HELD_SOCKETS"
"""The environment variable that names a node process's inherited sockets: ``PORT:FD`` pairs, comma-separated."""
FD_MARGIN = 256
"""Descriptors left for everything else (logs, captures, the medium's socket) when the launcher raises its limit."""

Held = dict[int, socket.socket]
"""Bound sockets by their real port."""


class PortsBusy(Exception):
    """A port of the run cannot be bound (in use, or refused): the message names it and the node."""


def block_ports(ports: PortMap, node_id: int) -> range:
    """The real ports of node ``node_id``'s block (its service and application ports and its sideband)."""
    first = ports.real(node_id, HERALD_PORT)
    ports.sideband(node_id)                      # PortMapError if the block runs beyond 65535
    return range(first, first + PORTS_PER_NODE)


def bind_blocks(node_ids: dict[str, int], ports: PortMap) -> dict[str, Held]:
    """Bind every port of each node's block on 127.0.0.1 and keep them bound; by node name.

    :class:`PortsBusy` (after closing what was bound) names the first port that cannot be bound;
    :class:`PortMapError` if a block runs beyond 65535.
    """
    blocks = {name: block_ports(ports, node_id) for name, node_id in node_ids.items()}
    _allow_descriptors(sum(len(block) for block in blocks.values()))
    held: dict[str, Held] = {}
    try:
        for name, block in blocks.items():
            held[name] = {}
            for real in block:
                held[name][real] = _bind(real, name, ports)
    except BaseException:
        close_all(held.values())
        raise
    return held


def _bind(real: int, name: str, ports: PortMap) -> socket.socket:
    sock = None
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((LOOPBACK, real))
    except OSError as error:
        if sock is not None:
            sock.close()
        logical = ports.logical(real)
        what = f"node {name}, {f'port {logical[0][1]}' if logical else 'timestamp sideband'}"
        if error.errno == errno.EADDRINUSE:
            raise PortsBusy(f"UDP port {real} on 127.0.0.1 ({what}) is in use; try --base-port") from None
        if error.errno in (errno.EMFILE, errno.ENFILE):
            raise PortsBusy(f"cannot bind UDP port {real} on 127.0.0.1 ({what}): {error.strerror} (the run's "
                            f"ports need one descriptor each: raise the limit, ulimit -n)") from None
        raise PortsBusy(f"cannot bind UDP port {real} on 127.0.0.1 ({what}): {error.strerror}; "
                        "try --base-port") from None
    return sock


def _allow_descriptors(sockets: int) -> None:
    """Raise this process's soft limit of open descriptors (up to the hard one) so that ``sockets`` fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = sockets + FD_MARGIN
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard),
                                                    hard))


def close_all(blocks: Iterable[Held]) -> None:
    """Close every socket of ``blocks``."""
    for block in blocks:
        for sock in block.values():
            sock.close()


def describe(fds: dict[int, int]) -> str:
    """The value of :data:`HELD_ENV` for these descriptors, by real port.

    >>> describe({40064: 5, 40065: 6})
    '40064:5,40065:6'
    """
    return ",".join(f"{port}:{fd}" for port, fd in fds.items())


def take_held(environ: MutableMapping[str, str] = os.environ) -> Held:
    """The sockets the launcher handed this process (:data:`HELD_ENV`, removed from ``environ``); none if it is
    unset. ``ValueError`` if it is malformed, ``OSError`` if a descriptor is not a UDP socket bound to
    127.0.0.1 and its port."""
    text = environ.pop(HELD_ENV, "")
    held: Held = {}
    try:
        for item in filter(None, text.split(",")):
            port_text, _, fd_text = item.partition(":")
            port, fd = int(port_text), int(fd_text)
            held[port] = _adopt(port, fd)
    except BaseException:
        close_all([held])
        raise
    return held


def _adopt(port: int, fd: int) -> socket.socket:
    """The UDP socket bound to 127.0.0.1:``port`` behind descriptor ``fd``."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError as error:
        raise OSError(error.errno, f"{HELD_ENV}: descriptor {fd} for port {port}: {error.strerror}") from None
    bound = sock.getsockname() if sock.family == socket.AF_INET else None
    if sock.type != socket.SOCK_DGRAM or bound != (LOOPBACK, port):
        sock.detach()                            # not ours to close
        raise OSError(errno.EINVAL, f"{HELD_ENV}: descriptor {fd} is not a UDP socket bound to "
                                    f"{LOOPBACK}:{port} (it is {bound or sock.family!r})")
    return sock


__all__ = ["FD_MARGIN", "HELD_ENV", "Held", "PortsBusy", "bind_blocks", "block_ports", "close_all",
           "describe", "take_held"]
