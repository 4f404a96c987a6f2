"""A scenario's ``[[application]]`` entries run through the application API (``qnet run`` in virtual time; ``qnet up``
runs the same roles, one node process each: stack/multiprocess/node_apps.py), and
their report section (docs/report.md, "applications")."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, BinaryIO

from protocols.apps.intervals import Interval, linear_interval
from protocols.apps.qkd import key_fraction
from protocols.physical.hardware import BellDistribution
from protocols.transport.model import teleport_fidelity
from stack.api.apps import bbm92, chsh, teleport_states
from stack.api.context import AppContext
from stack.api.errors import ExchangeError, LinkError, PeerMismatch, QuantumError, TransportError
from stack.api.ghz import ghz_center, ghz_leaf, werner_ghz_fidelity_of
from stack.api.ghz_memory import check_ghz_memory
from stack.api.run import run_roles
from stack.api.user_apps import load_functions, user_role
from stack.report_models import basis_errors, bell_diagonal_s, run_physics
from stack.runtime import RunResult
from stack.scenario import Scenario


def _coroutine(config: Any, role: str, results: dict[tuple[int, str], Any], index: int) -> Callable[
        [AppContext], Awaitable[None]]:
    remote = config.remote if role == "create" else config.node

    async def app(ctx: AppContext) -> None:
        try:
            results[(index, role)] = await _run(ctx)
        except (LinkError, TransportError, QuantumError, ExchangeError, PeerMismatch) as error:
            error.add_note(f"{config.kind} on {ctx.node} (application[{index}])")    # which one, for qnet run
            raise

    async def _run(ctx: AppContext) -> Any:
        if config.kind == "ghz":
            if role == "create":
                result: Any = await ghz_center(ctx, list(config.leaves), config.pairs, config.service)
            else:
                leaf = config.leaves.index(ctx.node) + 1
                await ghz_leaf(ctx, config.node, leaf, len(config.leaves) + 1, config.pairs, config.service)
                result = True
        elif config.kind == "qkd":
            result = await bbm92(ctx, remote, config.pairs, role, block=config.block,
                                      sample_fraction=config.sample_fraction, seed=config.seed,
                                      service=config.service)
        elif config.kind == "chsh":
            result = await chsh(ctx, remote, config.pairs, role, block=config.block, service=config.service)
        else:
            result = await teleport_states(ctx, remote, config.pairs, role, config.service)
        return result
    return app


def application_roles(scenario: Scenario, results: dict[tuple[int, str], Any]) -> dict[str, Callable[
        [AppContext], Awaitable[None]]]:
    """Each node's application coroutine for the scenario's ``[[application]]`` entries (both modes run these);
    each puts what it found in ``results`` under (entry index, role); a user's application ("python") under
    (entry index, node). Imports the files of "python" entries (ScenarioError naming the key if it cannot);
    a GHZ entry's nodes need memory enough (:func:`stack.api.ghz_memory.check_ghz_memory`: ScenarioError)."""
    check_ghz_memory(scenario)
    apps = {}
    for index, config in enumerate(scenario.applications):
        if config.kind == "python":
            for node, function in load_functions(scenario, index).items():
                apps[node] = user_role(scenario, index, node, function, results)
            continue
        apps[config.node] = _coroutine(config, "create", results, index)
        for leaf in config.leaves or (config.remote,):
            apps[leaf] = _coroutine(config, "recv", results, index)
    return apps


def run_applications(scenario: Scenario, seed: int | None = None, pcap: BinaryIO | None = None,
                     secret: bytes | None = None) -> tuple[RunResult, list[dict[str, Any]]]:
    """Run the scenario with its applications (and its workload); returns the run and the report's
    ``applications`` section. ``secret``: as :func:`stack.api.run.run_apps`."""
    results: dict[tuple[int, str], Any] = {}
    run = run_roles(scenario, application_roles(scenario, results), seed=seed, pcap=pcap, secret=secret)
    return run, applications_section(run, results)


def applications_section(run: RunResult, results: dict[tuple[int, str], Any]) -> list[dict[str, Any]]:
    """The report's ``applications``: one entry per ``[[application]]``, from both ends' results."""
    return [user_report(config, {node: results[(i, node)] for node in config.parties if (i, node) in results})
            if config.kind == "python" else
            application_report(run, config, results.get((i, "create")), results.get((i, "recv")))
            for i, config in enumerate(run.emulation.scenario.applications)]


def user_report(config: Any, results: dict[str, Any]) -> dict[str, Any]:
    """The report entry of a user's application: what each node's function returned (a node whose function did
    not return, cut off by the run's end, has none)."""
    return {"kind": "python", "node": config.node, "remote": config.remote or None, "file": config.file,
            "functions": dict(config.functions), "finished": len(results) == len(config.functions),
            "results": results}


def _model_distribution(run: RunResult, config: Any, remote: str | None = None) -> BellDistribution | None:
    """The link model's Bell-diagonal pair (relative to the heralded state) when one link serves the application,
    for the α the link ran with (None over the network layer)."""
    for link in run.emulation.scenario.links:
        if {link.a, link.b} == {config.node, remote or config.remote} and config.service != "network":
            return run_physics(run.emulation, link.link_id).model.distribution
    return None


def _model_fidelity(run: RunResult, config: Any, remote: str | None = None) -> float | None:
    """The link model's pair fidelity when one link serves the application (None over the network layer)."""
    dist = _model_distribution(run, config, remote)
    return None if dist is None else float(dist[0])


def _qber_models(dist: BellDistribution | None) -> dict[str, float | None]:
    """QBER per basis of the link's Bell-diagonal pairs (:func:`stack.report_models.basis_errors`: a single-click
    link's errors are mostly in Z), and ``qber_model`` their mean: the sample mixes Z and X pairs equally."""
    if dist is None:
        return dict.fromkeys(("qber_model", "qber_z_model", "qber_x_model"))
    errors = basis_errors(dist)
    return {"qber_model": (errors["Z"] + errors["X"]) / 2, "qber_z_model": errors["Z"], "qber_x_model": errors["X"]}


def application_report(run: RunResult, config: Any, creator: Any, receiver: Any) -> dict[str, Any]:
    """One entry of the report's ``applications``: what both ends measured, and the closed form of the link's
    model fidelity F_model when a single link serves it (memory decoherence not included)."""
    entry: dict[str, Any] = {"kind": config.kind, "node": config.node, "remote": config.remote,
                             "finished": creator is not None and receiver is not None}
    f_model = _model_fidelity(run, config)
    entry["fidelity_model"] = f_model
    if creator is None or receiver is None:
        return entry
    if config.kind == "ghz":
        value, _ = creator.fidelity()
        models = [_model_fidelity(run, config, leaf) for leaf in config.leaves]
        entry |= {"parties": [config.node, *config.leaves], "shots": config.pairs, "fidelity": value,
                  **_interval("fidelity", creator.interval()), "fidelity_model": None if None in models
                  else werner_ghz_fidelity_of([m for m in models if m is not None])}
    elif config.kind == "qkd":
        by_basis = {b: (e / n if n else None) for b, (e, n) in creator.errors_by_basis.items()}
        errors = sum(a != b for a, b in zip(creator.key, receiver.key, strict=True))
        entry |= {"pairs": creator.pairs, "sifted": creator.sifted, "sample": creator.sample,
                  "qber": creator.qber if creator.sample else None, "qber_z": by_basis["Z"], "qber_x": by_basis["X"],
                  **_interval("qber", linear_interval([(1.0, creator.sample_errors, creator.sample)])
                              if creator.sample else None),
                  "key_fraction": key_fraction(creator.qber) if creator.sample else None, "key_bits": len(creator.key),
                  "key_bit_errors": errors, "secret_bits": creator.secret_bits,
                  "emulated_s": creator.elapsed_ns * 1e-9, "secret_bits_per_s": creator.secret_bits_per_second,
                  **_qber_models(_model_distribution(run, config))}
    elif config.kind == "chsh":
        dist = _model_distribution(run, config)
        entry |= {"pairs_zz": len(creator.zz), "pairs_xx": len(creator.xx), "s": creator.s,
                  **_interval("s", creator.interval()), "s_model": None if dist is None else bell_diagonal_s(dist)}
    else:
        n = sum(count for _, count in receiver.right.values())
        entry |= {"qubits": n, "lost": creator.lost, "fidelity": receiver.fidelity if n else None,
                  **_interval("fidelity", receiver.interval()),
                  "per_state": {name: (r / c if c else None) for name, (r, c) in receiver.right.items()},
                  "emulated_s": creator.elapsed_ns * 1e-9,
                  "qubits_per_s": n / (creator.elapsed_ns * 1e-9) if creator.elapsed_ns else None,
                  "fidelity_model": None if f_model is None else teleport_fidelity(f_model)}
    return entry


def _interval(name: str, interval: Interval | None) -> dict[str, float | None]:
    """``NAME_stderr``, ``NAME_low``, ``NAME_high`` of an estimate (all None without one)."""
    if interval is None:
        return dict.fromkeys((f"{name}_stderr", f"{name}_low", f"{name}_high"))
    return {f"{name}_stderr": interval.stderr, f"{name}_low": interval.low, f"{name}_high": interval.high}


def application_table(entries: list[dict[str, Any]]) -> list[str]:
    """Summary lines for ``qnet run``."""
    if not entries:
        return []
    lines = ["", f"{'application':<24}result"]
    for e in entries:
        name = f"{e['node']}->{e['remote']} {e['kind']}"
        if e["kind"] == "python":
            name = Path(e["file"]).name
            if not e["finished"]:
                lines.append(f"{name:<24}DID NOT FINISH ({', '.join(sorted(set(e['functions']) - set(e['results'])))})")
            for node, result in e["results"].items():
                lines.append(f"{name:<24}{e['functions'][node]} on {node}: {json.dumps(result)}"[:200])
        elif not e["finished"]:
            lines.append(f"{name:<24}DID NOT FINISH")
        elif e["kind"] == "qkd":
            fraction = "-" if e["key_fraction"] is None else f"{e['key_fraction']:.3f}"
            lines.append(f"{name:<24}{e['sifted']}/{e['pairs']} sifted, QBER {_figure(e, 'qber', 4)}, "
                         f"key fraction {fraction}, {e['secret_bits_per_s']:.1f} secret bits/s")
        elif e["kind"] == "chsh":
            lines.append(f"{name:<24}S = {_figure(e, 's', 3)} ({e['pairs_zz']} ZZ, {e['pairs_xx']} XX)")
        elif e["kind"] == "ghz":
            lines.append(f"{e['node']} GHZ x{len(e['parties'])}".ljust(24) + f"F = {_figure(e, 'fidelity', 4)}"
                         f" over {e['shots']} shots")
        else:
            lines.append(f"{name:<24}{e['qubits']} qubits, F = {_figure(e, 'fidelity', 4)}, {e['lost']} lost")
    return lines


def _figure(entry: dict[str, Any], name: str, digits: int) -> str:
    """``value±stderr``, or ``-`` with nothing to estimate from (no sample, no pair sifted in a basis)."""
    value, error = entry[name], entry[f"{name}_stderr"]
    return "-" if value is None or error is None else f"{value:.{digits}f}±{error:.{digits}f}"
