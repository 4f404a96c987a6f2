"""Applications' results as JSON and back: how a ``qnet up`` node process hands what its applications found to
the medium, which builds the report's ``applications`` and ``circuit`` sections from them
(:mod:`stack.multiprocess.node_apps`). Reading one back checks its types: a malformed one raises ValueError,
so the medium refuses it instead of failing the report.

>>> from stack.api.apps import ChshResult
>>> result_from_json("chsh", "create", result_to_json("chsh", "create", ChshResult([0, 1], [1], 1.5, 0.25)))
ChshResult(zz=[0, 1], xx=[1], s=1.5, s_error=0.25)
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from typing import Any

from protocols.common import Basis
from stack.api.apps import STATES, ChshResult, QkdResult, TeleportResult
from stack.api.dqc import QpuRun
from stack.api.ghz import GhzResult


def result_to_json(kind: str, role: str, result: Any) -> Any:
    """One end's result of an ``[[application]]`` of ``kind`` as JSON-able data (a user's application, "python":
    what its function returned, already checked to be JSON)."""
    if kind == "python":
        return result
    if kind == "ghz":
        if role != "create":
            return bool(result)
        return {"n": result.n, "outcomes": [["".join(b.name for b in setting), [list(shot) for shot in shots]]
                                            for setting, shots in result.outcomes.items()]}
    return dataclasses.asdict(result)


def result_from_json(kind: str, role: str, data: Any) -> Any:
    """The result :func:`result_to_json` made; ValueError if ``data`` is not one."""
    try:
        return _from_json(kind, role, data)
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"not a {kind} result: {error!r}"[:200]) from None


def _from_json(kind: str, role: str, data: Any) -> Any:
    if kind == "python":
        return data
    if kind == "ghz":
        if role != "create":
            return _check(data is True, data)
        outcomes = {tuple(Basis[b] for b in setting): [tuple(_bits(shot)) for shot in shots]
                    for setting, shots in data["outcomes"]}
        _check(_int(data["n"]) and all(len(k) == data["n"] and all(len(s) == data["n"] for s in v)
                                       for k, v in outcomes.items()), data)
        return GhzResult(data["n"], outcomes)
    if kind == "qkd":
        result = QkdResult(**data)
        by_basis = result.errors_by_basis
        _check(all(_int(getattr(result, f)) for f in ("pairs", "sifted", "sample", "sample_errors", "elapsed_ns"))
               and set(by_basis) == {"Z", "X"} and all(len(v) == 2 and all(map(_int, v)) for v in by_basis.values())
               and _bits(result.key) is not None, data)
        return result
    if kind == "chsh":
        chsh = ChshResult(**data)
        _check(_bits(chsh.zz) is not None and _bits(chsh.xx) is not None
               and all(v is None or _number(v) for v in (chsh.s, chsh.s_error)), data)
        return chsh
    teleport = TeleportResult(**data)
    _check(set(teleport.right) == set(STATES) and all(len(v) == 2 and all(map(_int, v))
                                                      for v in teleport.right.values())
           and _int(teleport.lost) and _int(teleport.elapsed_ns), data)
    return teleport


def qpu_run_to_json(run: QpuRun) -> dict[str, Any]:
    """A QPU's :class:`QpuRun` of a distributed program as JSON-able data."""
    return {"records": [[[index, bit] for index, bit in sorted(shot.items())] for shot in run.records],
            "pairs_created": run.pairs_created, "pairs_received": run.pairs_received,
            "remote_ops": dict(run.remote_ops), "finished_ns": run.finished_ns, "nores_retries": run.nores_retries,
            "pairs_retried": run.pairs_retried}


def qpu_run_from_json(data: Any) -> QpuRun:
    """The :class:`QpuRun` :func:`qpu_run_to_json` made; ValueError if ``data`` is not one."""
    try:
        run = QpuRun([{index: bit for index, bit in shot} for shot in data["records"]], data["pairs_created"],
                     data["pairs_received"], Counter(data["remote_ops"]), data["finished_ns"], data["nores_retries"],
                     data["pairs_retried"])
        _check(all(_int(i) and bit in (0, 1) for shot in run.records for i, bit in shot.items())
               and all(_int(v) for v in (run.pairs_created, run.pairs_received, run.finished_ns, run.nores_retries,
                                            run.pairs_retried))
               and all(isinstance(k, str) and _int(v) for k, v in run.remote_ops.items()), data)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"not a QPU's run of the program: {error!r}"[:200]) from None
    return run


def _check(ok: bool, data: Any) -> Any:
    if not ok:
        raise TypeError(f"unexpected values in {str(data)[:80]}")
    return data


def _int(value: Any) -> bool:
    return type(value) is int


def _number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _bits(values: Any) -> list[int]:
    if not isinstance(values, list | tuple) or not all(v in (0, 1) and type(v) is int for v in values):
        raise TypeError(f"not a list of bits: {str(values)[:80]}")
    return list(values)
