"""The qnetstack runtime: kernel, emulated sockets, quantum medium, capture, CLI."""

import protocols  # noqa: F401  (installs protocols.lazymethods before this package's dataclasses are made)
