"""The qnetstack runtime: kernel, emulated sockets, quantum medium, capture, CLI."""

import protocols  # noqa: F401  # installs protocols.lazymethods before this package's dataclasses are made
from stack import codecache
from stack.attrs_code import install_attrs_on_import

codecache.install()  # protocols' dataclass methods and builders compiled once across processes
install_attrs_on_import()  # when trio first imports attrs, before its classes are made: code compiled once
