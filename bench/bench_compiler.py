"""The compiler: ebits consumed on standard circuit families over 2, 4 and 8 QPUs against the naive baseline,
and compile time from 100 to 10,000 qubits over 8 QPUs.

    .venv/bin/python bench/bench_compiler.py            # everything (about two minutes on 2 cores)
    .venv/bin/python bench/bench_compiler.py --quick    # small sizes only

Families (stim circuits, 64 qubits): random Clifford (layers of random one-qubit Cliffords and CZ/CX on a random
pairing), a QFT-like CZ ladder (H on qubit i, then CZ from i to every later qubit: the QFT's pattern of
controlled phases, in Clifford gates), GHZ preparation (a CX chain), and one round of a distributed
repetition code (each ancilla measures Z_i Z_{i+1} with two CXs). Every QPU has room for ⌈n/k⌉ + 2 qubits and
2 communication qubits; all QPUs are one hop apart (a data centre) except in the line rows, where QPU i and j
are |i − j| hops apart and "link pairs" counts the hops.

Baseline: qubits in order, ⌈n/k⌉ per QPU, one ebit per two-qubit gate between QPUs. "cat" is our partition with
cat-entanglement only (Andrés-Martínez & Heunen 2019's model), "cat+teledata" the full compiler. The paper's
own figures are for Quipper-generated circuits (QFT, adders, Grover-type oracles) that are not reproduced
here, so they are not compared.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import stim

from protocols.compiler import NetworkModel, compile_circuit, from_stim

ONE_QUBIT = ("H", "S", "SQRT_X", "H_YZ", "S_DAG", "X", "Z")


def random_clifford(n: int, layers: int, seed: int = 0) -> stim.Circuit:
    rng = np.random.default_rng(seed)
    circuit = stim.Circuit()
    for _ in range(layers):
        for q in range(n):
            circuit.append(str(rng.choice(ONE_QUBIT)), [q])
        order = rng.permutation(n)
        for a, b in zip(order[::2], order[1::2], strict=False):
            circuit.append("CZ" if rng.random() < 0.5 else "CX", [int(a), int(b)])
    return circuit


def qft_ladder(n: int) -> stim.Circuit:
    circuit = stim.Circuit()
    for i in range(n):
        circuit.append("H", [i])
        for j in range(i + 1, n):
            circuit.append("CZ", [i, j])
    return circuit


def ghz(n: int) -> stim.Circuit:
    circuit = stim.Circuit("H 0")
    for i in range(n - 1):
        circuit.append("CX", [i, i + 1])
    return circuit


def repetition_round(n: int) -> stim.Circuit:
    """n = 2d − 1 qubits: data 0, 2, 4 ..., ancilla 2i + 1 between data 2i and 2i + 2."""
    circuit = stim.Circuit()
    for a in range(1, n - 1, 2):
        circuit.append("CX", [a - 1, a, a + 1, a])
    circuit.append("M", list(range(1, n - 1, 2)))
    return circuit


FAMILIES = {"random Clifford": lambda n: random_clifford(n, 8), "QFT-like CZ ladder": qft_ladder, "GHZ": ghz,
            "repetition round": lambda n: repetition_round(n - 1 if n % 2 == 0 else n)}


def network(n: int, k: int, line: bool = False) -> NetworkModel:
    hops = {(i, j): abs(i - j) for i in range(k) for j in range(i + 1, k)} if line else None
    return NetworkModel.uniform([math.ceil(n / k) + 2] * k, link_qubits=2, hops=hops)


def baseline(circuit: stim.Circuit, n: int, k: int, line: bool) -> tuple[int, int]:
    per = math.ceil(n / k)
    ebits = pairs = 0
    for op in from_stim(circuit).ops:
        if op.is_two_qubit:
            a, b = (q // per for q in op.qubits)
            if a != b:
                ebits += 1
                pairs += abs(a - b) if line else 1
    return ebits, pairs


def quality(n: int) -> None:
    print(f"ebits (link pairs) for {n}-qubit circuits")
    print(f"{'family':<20} {'QPUs':>4} {'topology':<8} {'2q gates':>8} {'baseline':>14} {'cat':>14} "
          f"{'cat+teledata':>14}")
    for name, make in FAMILIES.items():
        circuit = make(n)
        parsed = from_stim(circuit)
        for k in (2, 4, 8):
            for line in ((False, True) if k > 2 else (False,)):
                model = network(parsed.num_qubits, k, line)
                cells = [baseline(circuit, parsed.num_qubits, k, line)]
                for teledata in (False, True):
                    program = compile_circuit(parsed, model, seed=1, teledata=teledata)
                    cells.append((program.total_ebits, program.link_pairs))
                print(f"{name:<20} {k:>4} {'line' if line else 'all':<8} {parsed.two_qubit_gates:>8} "
                      + " ".join(f"{e:>7} ({p:>4})" for e, p in cells))
    print()


def speed(sizes: list[int]) -> None:
    print("compile time, random Clifford circuits (8 layers) over 8 QPUs in a line")
    print(f"{'qubits':>7} {'operations':>10} {'2q gates':>9} {'ebits':>7} {'seconds':>8}")
    for n in sizes:
        circuit = from_stim(random_clifford(n, 8, seed=2))
        model = network(n, 8, line=True)
        start = time.perf_counter()
        program = compile_circuit(circuit, model, seed=1)
        elapsed = time.perf_counter() - start
        print(f"{n:>7} {len(circuit.ops):>10} {circuit.two_qubit_gates:>9} {program.total_ebits:>7} {elapsed:>8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    args = parser.parse_args()
    quality(32 if args.quick else 64)
    speed([100, 1000] if args.quick else [100, 1000, 3000, 10000])


if __name__ == "__main__":
    main()
