"""A sweep's ``qnet up`` point binds its ports race-free: another process taking a port of the block the run
would use, just before the run starts, does not fail the point (``qnet up --base-port 0`` binds a free block in
its launcher and hands the sockets over: stack.multiprocess.held)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from stack.multiprocess.held import block_ports, close_all
from stack.multiprocess.launcher import allocate_base
from stack.multiprocess.medium import process_nodes
from stack.multiprocess.ports import LOOPBACK, PortMap
from stack.scenario import load
from stack.sweep import define_sweep
from stack.sweep import point as sweep_point
from stack.sweep.plan import UpSettings
from tests.mp_util import two_node_toml


def test_a_port_taken_just_before_an_up_point_starts_does_not_fail_it(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Just before the worker starts ``qnet up``, another process binds the first port of the block the run
    would use (the block named by ``--base-port``, or with 0 the first free one, which the run tries first)."""
    path = tmp_path / "two.toml"
    path.write_text(two_node_toml(pairs=3))
    scenario = load(path)
    names = process_nodes(scenario)
    squatters: list[socket.socket] = []
    real_popen = subprocess.Popen

    def squatting(command: list[str], *args: Any, **kwargs: Any) -> Any:
        base = int(command[command.index("--base-port") + 1])
        if base == 0:
            base, held = allocate_base(scenario, names)
            close_all(held.values())
        squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        squatter.bind((LOOPBACK, block_ports(PortMap(base), scenario.nodes[names[0]].node_id)[0]))
        squatters.append(squatter)
        return real_popen(command, *args, **kwargs)

    monkeypatch.setattr(sweep_point.subprocess, "Popen", squatting)
    sweep = define_sweep(path, ["links.alice-bob.length_km=2"], up=UpSettings(dilation=0.01))
    try:
        row = sweep_point.run_point(sweep.tasks()[0], sweep.text, timeout_s=120)
    finally:
        for squatter in squatters:
            squatter.close()
    assert len(squatters) == 1
    assert row["status"] == "ok", row["error"]
    assert row["workload[0].pairs_requested"] == 3


def test_an_up_point_reads_the_files_the_scenario_names_from_the_scenario_folder(tmp_path: Path) -> None:
    """The point's scenario is written to a temporary folder; its relative ``security.key_file`` must still name
    the file beside the original scenario (it did not: 'cannot read /tmp/qnet-sweep-XXX/keys/demo.key')."""
    folder = tmp_path / "net"
    (folder / "keys").mkdir(parents=True)
    (folder / "keys" / "k.key").write_text(Path("examples/keys/demo.key").read_text())
    path = folder / "two.toml"
    path.write_text(two_node_toml(pairs=3) + '\n[security]\nkey_file = "keys/k.key"\n')
    load(path)                                              # the scenario itself is fine
    sweep = define_sweep(path, ["links.alice-bob.length_km=2"], up=UpSettings(dilation=0.01))
    row = sweep_point.run_point(sweep.tasks()[0], sweep.text, timeout_s=120)
    assert row["status"] == "ok", row["error"]
    assert row["workload[0].pairs_requested"] == 3


def test_absolute_files_makes_every_named_file_absolute_against_the_scenario_folder() -> None:
    from stack.scenario.files import absolute_files

    document = {"security": {"key_file": "k.key"}, "application": [{"file": "app.py"}, {"kind": "qkd"}],
                "circuit": [{"file": "/abs/c.qasm"}], "run": {"seed": 1}}
    made = absolute_files(document, "/data/net/s.toml")
    assert made["security"]["key_file"] == "/data/net/k.key"
    assert made["application"] == [{"file": "/data/net/app.py"}, {"kind": "qkd"}]
    assert made["circuit"] == [{"file": "/abs/c.qasm"}] and made["run"] == {"seed": 1}
    assert document["security"]["key_file"] == "k.key"      # the original is untouched


def test_a_symlinked_scenarios_files_are_found_beside_the_link_as_the_loader_finds_them(tmp_path: Path) -> None:
    """The loader reads a relative key file beside the scenario path it was given, a symlink's own folder; so does
    the point's copy (review: it resolved the link and looked beside its target)."""
    from stack.scenario.files import absolute_files

    (tmp_path / "real").mkdir()
    (tmp_path / "here").mkdir()
    target = tmp_path / "real" / "s.toml"
    target.write_text("")
    (tmp_path / "here" / "s.toml").symlink_to(target)
    document = absolute_files({"security": {"key_file": "k.key"}}, str(tmp_path / "here" / "s.toml"))
    assert document["security"]["key_file"] == str(tmp_path / "here" / "k.key")


def test_an_in_process_point_finds_the_scenarios_files_from_any_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker of a --scheduler cluster runs in its own working directory: the point's relative key_file must
    still name the file beside the scenario as the sweep was given it (it was looked up from the worker's cwd)."""
    folder = tmp_path / "net"
    (folder / "keys").mkdir(parents=True)
    (folder / "keys" / "k.key").write_text(Path("examples/keys/demo.key").read_text())
    (folder / "two.toml").write_text(two_node_toml(pairs=3) + '\n[security]\nkey_file = "keys/k.key"\n')
    monkeypatch.chdir(tmp_path)
    sweep = define_sweep("net/two.toml", ["links.alice-bob.length_km=2"])      # relative, as typed
    (tmp_path / "worker").mkdir()
    monkeypatch.chdir(tmp_path / "worker")                                    # where a worker may run
    row = sweep_point.run_point(sweep.tasks()[0], sweep.text)
    assert row["status"] == "ok", row["error"]
    assert row["workload[0].pairs_delivered"] == 3 and row["authentication"] is True
