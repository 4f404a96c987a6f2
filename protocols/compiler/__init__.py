"""The distributed quantum computing compiler (docs/compiler.md): one circuit over many QPUs.

    >>> from protocols.compiler import NetworkModel, compile_circuit, from_stim
    >>> program = compile_circuit(from_stim("H 0\\nCX 0 1 0 2 0 3"), NetworkModel.uniform([2, 2]))
    >>> program.total_ebits, sorted(set(program.placement))
    (1, ['qpu0', 'qpu1'])

Sans-IO and pure: it reads stim (as a parser) and OpenQASM through pyqasm, and partitions with Mt-KaHyPar;
the stack builds the :class:`NetworkModel` from a scenario (``stack.compile``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from protocols.compiler.circuit import Circuit, from_stim
    from protocols.compiler.compile import check_fits, compile_circuit
    from protocols.compiler.gates import CompileError
    from protocols.compiler.network import NetworkModel, PairSpec, QpuSpec
    from protocols.compiler.program import (
        CatDisentangle,
        CatEntangle,
        DistributedProgram,
        Local,
        Teledata,
        program_from_json,
    )

__all__ = ["CatDisentangle", "CatEntangle", "Circuit", "CompileError", "DistributedProgram", "Local",
           "NetworkModel", "PairSpec", "QpuSpec", "Teledata", "check_fits", "compile_circuit", "from_stim",
           "program_from_json"]

_HOME = {"Circuit": "circuit", "from_stim": "circuit", "check_fits": "compile", "compile_circuit": "compile",
         "CompileError": "gates", "NetworkModel": "network", "PairSpec": "network", "QpuSpec": "network",
         "CatDisentangle": "program", "CatEntangle": "program", "DistributedProgram": "program", "Local": "program",
         "Teledata": "program", "program_from_json": "program"}


def __getattr__(name: str) -> Any:
    """The package's names, each imported from its module on first use: ``qnet`` catches
    :class:`~protocols.compiler.gates.CompileError` on every command, and a run that compiles nothing should
    not load the compiler (and through it the network layer's routing)."""
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def from_qasm(text: str) -> Circuit:
    """An OpenQASM 2 or 3 program (pyqasm, imported on first use)."""
    from protocols.compiler.qasm import from_qasm as read

    return read(text)
