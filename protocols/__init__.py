"""Sans-IO protocol engines and wire formats of qnetstack.

Nothing in this package reads a clock, opens a socket, imports trio or draws from a
global random number generator: engines take bytes/events and ``now`` (integer ns)
and return :class:`protocols.common.Actions`.
"""

from protocols import lazymethods

lazymethods.install()   # this project's dataclasses compile their __eq__, __repr__, ... at first use
