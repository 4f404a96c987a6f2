"""Repeater chains for the network layer's tests, written as TOML so they go through the real loader.

``chain(k)`` is ``a — r1 — … — r(k−1) — b``. Nodes are declared a, b, then the repeaters, so a has id 1,
b id 2 and r1… ids 3…: each hop's origin (the higher id) is a repeater, and with two hops r1 is the origin
of both (the two hops start generating together). Links are microwave couplers (short, fast, high p)
unless ``schemes`` says otherwise; one station serves every heralded hop. ``qpu`` is added to every node's
table, ``repeater_qpu`` to the repeaters' only.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from stack.scenario import Scenario, load_text


def chain_text(k: int, *, workload: str, schemes: Sequence[str] | None = None, coupler_efficiency: float = 0.9,
               depolarizing: float = 0.0, t2_ms: float | str = "inf", storage: int = 2, duration_ms: float = 10_000,
               seed: int = 1, qpu: str = "", link: str = "", attempt_ns: int = 1000, network: str = "",
               repeater_qpu: str = "") -> str:
    names = ["a"] + [f"r{i}" for i in range(1, k)] + ["b"]
    declared = ["a", "b", *names[1:-1]]
    schemes = list(schemes or ["coupler"] * k)
    text = [f"[run]\nduration_ms = {duration_ms}\nseed = {seed}\n"]
    for name in declared:
        extra = repeater_qpu if name not in ("a", "b") else ""
        text.append(f'[nodes.{name}]\nkind = "qpu"\nt2_ms = {t2_ms}\nstorage_qubits = {storage}\n{qpu}\n{extra}\n')
    if any(s != "coupler" for s in schemes):
        text.append('[nodes.st]\nkind = "station"\n')
    for index, (left, right) in enumerate(itertools.pairwise(names)):
        scheme = schemes[index]
        where = "" if scheme == "coupler" else 'station = "st"\nlength_km = 0.1\n'
        text.append(f'[links.{left}-{right}]\na = "{left}"\nb = "{right}"\nscheme = "{scheme}"\n{where}'
                    f"coupler_efficiency = {coupler_efficiency}\ndepolarizing = {depolarizing}\n"
                    f"attempt_duration_ns = {attempt_ns}\n{link}\n")
    if network:
        text.append(f"[network]\n{network}\n")
    text.append(workload)
    return "\n".join(text)


def chain(k: int, **kwargs: object) -> Scenario:
    return load_text(chain_text(k, **kwargs), f"<chain of {k} hops>")  # type: ignore[arg-type]


def entry(kind: str = "keep", pairs: int = 100, node: str = "a", remote: str = "b", **keys: object) -> str:
    """One [[workload]] table."""
    extra = "".join(f"{key} = {_toml(value)}\n" for key, value in keys.items())
    return f'[[workload]]\nnode = "{node}"\nremote = "{remote}"\ntype = "{kind}"\npairs = {pairs}\n{extra}'


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)
