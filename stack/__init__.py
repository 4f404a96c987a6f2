"""The qnetstack runtime: kernel, emulated sockets, quantum medium, capture, CLI."""

import protocols  # noqa: F401  # installs protocols.lazymethods before this package's dataclasses are made
from stack.attrs_code import install_attrs

install_attrs()  # before trio's attrs classes are made: their code compiled once
