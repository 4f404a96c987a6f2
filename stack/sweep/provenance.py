"""Where results came from: the versions of qnetstack and of what it runs on."""

from __future__ import annotations

import platform
from importlib import metadata


def version(package: str = "qnetstack") -> str | None:
    """The installed version of ``package`` (None when it is not installed)."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    """qnetstack, Python and the libraries whose behaviour the figures depend on."""
    return {"qnetstack": version(), "python": platform.python_version(),
            **{name: version(name) for name in ("numpy", "stim", "trio", "dask", "distributed", "pyarrow")}}
