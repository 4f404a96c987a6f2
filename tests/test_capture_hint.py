"""``qnet run --pcap`` ends with how to open the capture in Wireshark: a command that works from the folder the
user ran it in (the dissector by its absolute path), or, without the source tree, where to install it; and the
command docs/wire.md §10.5 gives for the secret that verifies a ``qnet up`` run's ICVs works."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from stack.cli import main
from stack.report import DISSECTOR, wireshark_hint
from tests.tshark_util import have_tshark

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "qkd-batched.toml"     # 14 frames


def test_the_hint_names_the_dissector_by_a_path_that_works_from_any_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)                       # not the repository root
    assert main(["run", str(EXAMPLE), "--pcap", "run.pcap"]) == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("capture: ")]
    command = shlex.split(line.split("open with ", 1)[1])
    assert command[0] == "wireshark" and command[-1] == "run.pcap"
    script = Path(command[2].removeprefix("lua_script:"))
    assert command[1] == "-X" and script.is_absolute() and script == DISSECTOR and script.is_file()
    if have_tshark():                                 # the same options open it, from this folder
        shown = subprocess.run(["tshark", "-n", *command[1:-1], "-r", command[-1]], capture_output=True, text=True,
                               timeout=120, check=False)
        assert shown.returncode == 0 and "Lua" not in shown.stderr and "BATCH" in shown.stdout, shown.stderr


def test_without_the_source_tree_the_hint_says_where_to_install_the_dissector(tmp_path: Path) -> None:
    hint = wireshark_hint("out/my run.pcap", tmp_path / "absent.lua")
    assert hint.startswith("wireshark 'out/my run.pcap' (") and "~/.local/lib/wireshark/plugins/" in hint
    assert "lua_script" not in hint


def test_the_documented_command_prints_a_qnet_up_runs_secret(tmp_path: Path) -> None:
    """docs/wire.md §10.5's one-liner, run as the docs say (from the repository root), prints the run secret the
    nodes of a ``qnet up`` run without a key file use: the value for the ``qnetauth.key`` preference."""
    from protocols.security import run_secret_from
    from stack.multiprocess.medium_protocol import write_secret

    text = (ROOT / "docs" / "wire.md").read_text()
    start = text.index("python -c \"import sys; from pathlib import Path; from protocols.security")
    command = shlex.split(text[start:text.index("\n", start)].replace("RUN_DIR", str(tmp_path)))
    medium_secret = write_secret(tmp_path)
    printed = subprocess.run([sys.executable, *command[1:]], cwd=ROOT, capture_output=True, text=True, timeout=60,
                             check=True).stdout
    assert printed == run_secret_from(medium_secret).hex() + "\n" and len(printed) == 65
