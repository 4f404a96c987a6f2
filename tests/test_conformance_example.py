"""examples/conformance/egp_peer.py, the sans-IO conformance harness of examples/conformance/README.md, runs as a
user runs it, and its checks bite: a peer that answers with another Origin Node is not taken for the REQ's."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "conformance" / "egp_peer.py"


def test_the_example_runs_as_a_user_runs_it() -> None:
    done = subprocess.run([sys.executable, str(EXAMPLE)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "CREATE -> ACK create_id=1 + REQ queue_seq=1 (the CREATE's 24 bytes unchanged)"
    assert "REQ_ACK -> SCHEDULE run=1 pairs=2" in lines
    assert sum(line.startswith("pair of attempt") and "goodness=65535 + CONFIRM" in line for line in lines) == 2
    assert lines[-2:] == ["CREATE with Time Unit 3 -> ERR CREATE create_id=0",
                          "conformance exchange: every message as docs/wire.md specifies"]


def test_a_wrong_answer_fails_the_harness() -> None:
    module: dict[str, Any] = runpy.run_path(str(EXAMPLE), run_name="egp_peer")
    answer = module["answer"]

    def wrong_origin(message: bytes, mtype: int, status: int = 0) -> bytes:
        data = bytearray(answer(message, mtype, status))
        data[8:12] = (9).to_bytes(4, "big")        # Origin Node 9: not the request's (§4.4)
        return bytes(data)

    module["main"].__globals__["answer"] = wrong_origin
    with pytest.raises(ValueError):                 # the REQ_ACK is ignored: no SCHEDULE comes to unpack
        module["main"]()
