"""docs/wire.md §8.2 names what `qnet up` writes: every key of a node's entry in ports.json (PortMap.table), and
every file the run needs while it runs (RUN_STATE_FILES); examples/up-small.toml's comment gives the port map's
formula with PortMap's own stride."""

from __future__ import annotations

import re
from pathlib import Path

from stack.multiprocess.launcher import RUN_STATE_FILES
from stack.multiprocess.ports import PORTS_PER_NODE, PortMap

ROOT = Path(__file__).resolve().parents[1]
WIRE = (ROOT / "docs" / "wire.md").read_text()


def _run_dir_table() -> dict[str, str]:
    section = WIRE[WIRE.index("### 8.2 Run directory"):WIRE.index("### 8.3")]
    rows = [line.split("|")[1:-1] for line in section.splitlines() if line.startswith("| `")]
    return {cells[0].strip(): cells[2] for cells in rows}


def test_ports_json_keys_are_the_port_maps() -> None:
    row = _run_dir_table()["`ports.json`"]
    documented = set(re.findall(r'"(\w+)": P', row))
    assert documented == set(PortMap(40000).table({"alice": 1})["alice"])


def test_every_run_state_file_is_documented() -> None:
    names = {name.strip("`") for cell in _run_dir_table() for name in cell.split(", ")}
    assert set(RUN_STATE_FILES) <= names


def test_up_small_comment_gives_the_port_maps_stride() -> None:
    text = (ROOT / "examples" / "up-small.toml").read_text()
    stride = re.search(r"node i's port slot s is (\d+) \+ (\d+)\*i \+ s", text)
    assert stride is not None and int(stride.group(2)) == PORTS_PER_NODE
    assert PortMap(int(stride.group(1))).real(2, 7771) == int(stride.group(1)) + 2 * int(stride.group(2)) + 1
