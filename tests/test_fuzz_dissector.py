"""tshark with the dissector over fuzzed captures of ``qnet up``'s live traffic: never a Lua error.

Mapped ports (``-o qnetmp.base_port``) carry every protocol, the timestamp sideband and PTP (handed to
Wireshark's own dissector); the payloads are random bytes and mutations of valid messages
(``tests/fuzz_targets.py``). The oracle for PTP is Wireshark itself: a payload on a mapped PTP slot gets the
same expert marks as on port 319 or 320, and nothing from Lua.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from protocols.packets.ptp import EVENT_PORT, GENERAL_PORT
from stack.core.capture import PcapWriter, quantum_frame
from stack.multiprocess.udp import PORTS_PER_NODE, SIDEBAND, SIDEBAND_SLOT
from tests.fuzz_targets import TARGETS, mutate
from tests.tshark_util import decode_with_tshark, have_tshark

if not have_tshark():
    if os.environ.get("QNET_REQUIRE_TSHARK"):
        raise RuntimeError("QNET_REQUIRE_TSHARK is set but tshark is not on PATH")
    pytest.skip("tshark not installed", allow_module_level=True)

BASE = 40000
SLOT_TARGETS = {0: "qhp", 1: "create", 2: "egp", 3: "ptp", 4: "ptp", 5: "create", 6: "track", 7: "qncp",
                8: "qtp", 9: "upward", 30: "upward", SIDEBAND_SLOT: "sideband"}
APP_SLOTS = [9, 10, 30]


def _payload(rng: random.Random, target: str) -> bytes:
    if target == "sideband":
        record = SIDEBAND.pack(rng.randrange(-(1 << 63), 1 << 63), rng.randbytes(8))
        return record if rng.random() < 0.5 else rng.randbytes(rng.randrange(1, 40))
    if rng.random() < 0.25:
        return rng.randbytes(rng.randrange(1, 80))
    edits = [(rng.randrange(5), rng.randrange(1 << 16), rng.randrange(256)) for _ in range(rng.randrange(1, 5))]
    return mutate(rng.choice(TARGETS[target].seeds), edits) or b"\0"


def _udp(sport: int, dport: int, payload: bytes, address: str = "127.0.0.1") -> bytes:
    return bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=address, dst=address)
                 / UDP(sport=sport, dport=dport) / payload)


def test_fuzzed_live_traffic_raises_no_lua_error(tmp_path: Path) -> None:
    rng = random.Random(20260211)
    frames, ptp_pairs = [], []
    for _ in range(300):
        slot = rng.choice(sorted(SLOT_TARGETS))
        node, peer = rng.randrange(1, 5), rng.randrange(1, 5)
        payload = _payload(rng, SLOT_TARGETS[slot])
        if slot in (3, 4):                      # the same payload on the standard port: the oracle
            standard = EVENT_PORT if slot == 3 else GENERAL_PORT
            ptp_pairs.append((len(frames), len(frames) + 1))
            frames.append(_udp(BASE + PORTS_PER_NODE * node + slot, BASE + PORTS_PER_NODE * peer + slot, payload))
            frames.append(_udp(standard, standard, payload, "198.18.0.1"))    # a qnet run's (§6: claimed)
        elif rng.random() < 0.5:
            frames.append(_udp(BASE + PORTS_PER_NODE * node + rng.choice([0, 1, 2]),
                               BASE + PORTS_PER_NODE * peer + slot, payload))
        else:
            frames.append(_udp(BASE + PORTS_PER_NODE * node + slot,
                               BASE + PORTS_PER_NODE * peer + rng.choice(APP_SLOTS), payload))
    for _ in range(40):
        frames.append(quantum_frame(1, 2, _payload(rng, "qframe") if rng.random() < 0.8 else b""))
    path = tmp_path / "live-fuzz.pcap"
    with path.open("wb") as stream:
        writer = PcapWriter(stream)
        for index, frame in enumerate(frames):
            writer.write(index * 1000, frame)
    decoded = decode_with_tshark(path, "-o", f"qnetmp.base_port:{BASE}", "-o", f"qnetauth.key:{'a5' * 32}")
    assert len(decoded) == len(frames)
    lua = [(d["number"], e.message) for d in decoded for e in d["experts"] if e.abbrev.startswith("_ws.lua")]
    assert not lua, lua[:5]
    malformed = 0
    for mapped, standard in ptp_pairs:
        marks = [sorted(e.abbrev for e in decoded[i]["experts"]) for i in (mapped, standard)]
        assert marks[0] == marks[1], (decoded[mapped]["number"], marks)
        malformed += decoded[standard]["malformed"]
    assert malformed > 5 and len(ptp_pairs) - malformed > 5        # both kinds of PTP exercised
