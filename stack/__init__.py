"""The qnetstack runtime: kernel, emulated sockets, quantum medium, capture, CLI."""

import protocols  # installs protocols.lazymethods before this package's dataclasses are made

protocols.codecache.install_attrs()  # before trio's attrs classes are made: their code compiled once
