"""Authenticated classical control, sans-IO: HMAC-SHA256 and HKDF against their RFCs' vectors, the anti-replay
window against a model, sealing and opening datagrams, the trailer's golden bytes."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.common import ParseError
from protocols.packets.auth import SIZE, Trailer, pseudo_header, split
from protocols.security import Authenticator, Drop, ReplayWindow, pair_key, run_secret_from
from protocols.security.auth import SequenceExhausted, _pads
from protocols.security.keys import SALT, hkdf, hkdf_expand, hkdf_extract

# RFC 4231 §4.2-4.8: (key, data, HMAC-SHA-256); test case 5's value is the 128-bit truncation (RFC 4868's
# HMAC-SHA-256-128, the trailer's ICV).
RFC4231 = [
    (b"\x0b" * 20, b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (b"\xaa" * 20, b"\xdd" * 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (bytes(range(1, 26)), b"\xcd" * 50, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    (b"\x0c" * 20, b"Test With Truncation", "a3b6167473100ee06e0c796c2955552b"),
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    (b"\xaa" * 131, b"This is a test using a larger than block-size key and a larger than block-size data. The key "
                    b"needs to be hashed before being used by the HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
]

# RFC 5869 Appendix A.1-A.3 (SHA-256): (IKM, salt, info, L, PRK, OKM)
RFC5869 = [
    (b"\x0b" * 22, bytes(range(13)), bytes(range(0xF0, 0xFA)), 42,
     "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
     "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"),
    (bytes(range(0x50)), bytes(range(0x60, 0xB0)), bytes(range(0xB0, 0x100)), 82,
     "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
     "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c"
     "2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87"),
    (b"\x0b" * 22, b"", b"", 42, "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
     "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"),
]


@pytest.mark.parametrize(("key", "data", "expected"), RFC4231)
def test_hmac_sha256_rfc4231(key: bytes, data: bytes, expected: str) -> None:
    tag = hmac.new(key, data, hashlib.sha256).hexdigest()
    assert tag[:len(expected)] == expected


@pytest.mark.parametrize(("key", "data", "expected"), RFC4231)
def test_hmac_from_the_two_padded_hash_states_rfc4231(key: bytes, data: bytes, expected: str) -> None:
    """What a LocalChannel seals with: HMAC-SHA256 as the outer state updated with the inner state's digest."""
    inner, outer = (state.copy() for state in _pads(key))
    inner.update(data)
    outer.update(inner.digest())
    assert outer.hexdigest()[:len(expected)] == expected


@pytest.mark.parametrize(("ikm", "salt", "info", "length", "prk", "okm"), RFC5869)
def test_hkdf_rfc5869(ikm: bytes, salt: bytes, info: bytes, length: int, prk: str, okm: str) -> None:
    assert hkdf_extract(salt, ikm).hex() == prk
    assert hkdf_expand(bytes.fromhex(prk), info, length).hex() == okm
    assert hkdf(ikm, salt, info, length).hex() == okm


def test_pair_keys_are_hkdf_of_the_secret_per_ordered_pair() -> None:
    secret = bytes(range(32))
    assert pair_key(secret, 3, 7) == hkdf(secret, SALT, b"qnetstack pair key\x00\x03\x00\x07", 32)
    keys = {pair_key(secret, s, r) for s in range(1, 6) for r in range(1, 6)}
    assert len(keys) == 25
    assert run_secret_from(secret) != secret and len(run_secret_from(secret)) == 32
    with pytest.raises(ValueError, match="at least 32 bytes"):
        pair_key(bytes(31), 1, 2)


def test_the_icv_is_hmac_sha256_128_over_the_pseudo_header_and_payload() -> None:
    """An independent recomputation with hmac from the documented inputs (docs/wire.md §10)."""
    secret = bytes(range(100, 132))
    wire = Authenticator(secret).seal(1, 2, 7771, 49152, b"payload")
    payload, trailer = split(wire)
    key = hkdf(secret, b"qnetstack classical control v1", b"qnetstack pair key\x00\x01\x00\x02", 32)
    header = (1).to_bytes(2, "big") + (2).to_bytes(2, "big") + (7771).to_bytes(2, "big") + (49152).to_bytes(2, "big")
    expected = hmac.new(key, header + (1).to_bytes(8, "big") + b"payload", hashlib.sha256).digest()[:16]
    assert (payload, trailer) == (b"payload", Trailer(1, 2, 1, expected))
    assert pseudo_header(1, 2, 7771, 49152, 1) == header + (1).to_bytes(8, "big")


def test_trailer_golden_bytes_both_ways() -> None:
    golden = bytes.fromhex("0001 0002 0000000000000005 00112233445566778899aabbccddeeff".replace(" ", ""))
    trailer = Trailer(1, 2, 5, bytes.fromhex("00112233445566778899aabbccddeeff"))
    assert trailer.encode() == golden and SIZE == 28
    assert Trailer.decode(golden) == trailer
    assert split(b"ab" + golden) == (b"ab", trailer)
    with pytest.raises(ParseError):
        split(golden[:-1])
    with pytest.raises(ValueError):
        Trailer(1 << 16, 2, 5, bytes(16)).encode()


def test_open_refuses_each_kind_of_bad_datagram() -> None:
    sender, receiver = Authenticator(bytes(32)), Authenticator(bytes(32))
    wire = sender.seal(1, 2, 7770, 7770, b"HERALD")
    assert receiver.open(1, 2, 7770, 7770, b"short") is Drop.NO_TAG
    assert receiver.open(1, 3, 7770, 7770, wire) is Drop.NO_TAG           # for another node
    assert receiver.open(4, 2, 7770, 7770, wire) is Drop.WRONG_SOURCE     # arrived from node 4
    assert receiver.open(None, 2, 7770, 7770, wire) is Drop.WRONG_SOURCE  # from outside the run
    assert receiver.open(1, 2, 7770, 7771, wire) is Drop.BAD_TAG          # another port: the ICV covers it
    flipped = bytearray(wire)
    flipped[0] ^= 1
    assert receiver.open(1, 2, 7770, 7770, bytes(flipped)) is Drop.BAD_TAG
    assert receiver.open(1, 2, 7770, 7770, wire) == b"HERALD"             # forgeries did not move the window
    assert receiver.open(1, 2, 7770, 7770, wire) is Drop.REPLAYED
    other_key = Authenticator(bytes([1]) * 32).seal(1, 2, 7770, 7770, b"HERALD")
    assert receiver.open(1, 2, 7770, 7770, other_key) is Drop.REPLAYED    # seq 1 is taken: checked first
    assert receiver.open(1, 2, 7770, 7770, sender.seal(1, 2, 7770, 7770, b"x")) == b"x"


def test_a_locally_sealed_datagram_skips_only_its_own_icv_check() -> None:
    """One authenticator sealing with ``seal_local`` and opening: the very bytes it sealed open (once), and
    anything else is checked in full: altered bytes, another port, a forgery that takes a sealed datagram's
    sequence number before it arrives, bytes sealed under another key."""
    auth = Authenticator(bytes(32))
    wire = auth.seal_local(1, 2, 7770, 7770, b"HERALD")
    assert wire == Authenticator(bytes(32)).seal(1, 2, 7770, 7770, b"HERALD")     # the same bytes as seal()
    flipped = bytearray(wire)
    flipped[0] ^= 1
    assert auth.open(1, 2, 7770, 7770, bytes(flipped)) is Drop.BAD_TAG
    assert auth.open(1, 2, 7770, 7771, wire) is Drop.BAD_TAG             # another port: the ICV covers it
    assert auth.open(1, 2, 7770, 7770, bytes(wire)) == b"HERALD"          # equal bytes: its ICV verifies anyway
    assert auth.open(1, 2, 7770, 7770, wire) is Drop.REPLAYED
    second = auth.seal_local(1, 2, 7770, 7770, b"second")
    forged = b"forged" + second[len(b"second"):]                          # the same trailer on other bytes
    assert auth.open(1, 2, 7770, 7770, forged) is Drop.BAD_TAG
    assert auth.open(1, 2, 7770, 7770, second) == b"second"               # verified in full now
    other_key = Authenticator(bytes([1]) * 32)
    for _ in range(3):
        foreign = other_key.seal(1, 2, 7770, 7770, b"x")                  # seq 3 under another key, last
    third = auth.seal_local(1, 2, 7770, 7770, b"x")
    assert foreign[:-16] == third[:-16] and auth.open(1, 2, 7770, 7770, foreign) is Drop.BAD_TAG
    assert auth.open(1, 2, 7770, 7770, third) == b"x"


def test_a_local_channel_seals_as_seal_and_accepts_as_open() -> None:
    """The emulated network's channel: the bytes ``seal`` makes, one sequence counter per node pair shared with
    ``seal`` and every other port, and at the receiver the window ``open`` checks (a duplicate is refused)."""
    auth, reference = Authenticator(bytes(32)), Authenticator(bytes(32))
    channel, other_port = auth.local(1, 2, 7770, 7772), auth.local(1, 2, 7771, 7772)
    assert channel.seal(b"HERALD") == (reference.seal(1, 2, 7770, 7772, b"HERALD"), 1)
    assert other_port.seal(b"x") == (reference.seal(1, 2, 7771, 7772, b"x"), 2)
    assert auth.seal(1, 2, 7770, 7772, b"y") == reference.seal(1, 2, 7770, 7772, b"y")
    assert channel.seal(b"") == (reference.seal(1, 2, 7770, 7772, b""), 4)
    assert channel.accept(2) and channel.accept(1) and not channel.accept(2)
    assert auth.open(1, 2, 7771, 7772, Authenticator(bytes(32)).seal(1, 2, 7771, 7772, b"z")) is Drop.REPLAYED  # seq 1
    assert auth.local(2, 1, 7772, 7770).seal(b"a")[1] == 1                                        # the other way


def test_a_local_channel_seals_in_order_and_passes_in_order_as_seal_then_accept() -> None:
    """``seal_in_order`` is ``seal`` then ``accept``; ``pass_in_order`` moves the sequence number and the window as
    it does, with the same verdict, and computes no bytes: the next datagrams are sealed alike either way."""
    sealing, passing, reference = (Authenticator(bytes(32)) for _ in range(3))
    channels = [auth.local(1, 2, 7770, 7772) for auth in (sealing, passing, reference)]
    for payload in (b"HERALD", b"", b"x" * 100):
        wire, seq = channels[2].seal(payload)
        assert channels[0].seal_in_order(payload) == (wire, channels[2].accept(seq)) == (wire, True)
        assert channels[1].pass_in_order() is True
    for auth in (sealing, passing, reference):      # another instance's datagrams 9 and 5 move each window
        assert auth.open(1, 2, 7770, 7772, _sealed_as(9, b"y")) == b"y"
        assert auth.open(1, 2, 7770, 7772, _sealed_as(5, b"z")) == b"z"
    for verdict in (True, False):                   # 4 is fresh, 5 was taken
        wire, seq = channels[2].seal(b"late")
        assert channels[0].seal_in_order(b"late") == (wire, channels[2].accept(seq)) == (wire, verdict)
        assert channels[1].pass_in_order() is verdict
    assert sealing.seal(1, 2, 7770, 7772, b"n") == passing.seal(1, 2, 7770, 7772, b"n")
    assert [(a._pair(1, 2).window.top, a._pair(1, 2).window.missing) for a in (sealing, passing)] == [
        (reference._pair(1, 2).window.top, reference._pair(1, 2).window.missing)] * 2


@pytest.mark.parametrize("send", [
    lambda auth: auth.seal(1, 2, 7770, 7772, b"x"),
    lambda auth: auth.local(1, 2, 7770, 7772).seal(b"x"),
    lambda auth: auth.local(1, 2, 7770, 7772).seal_in_order(b"x"),
    lambda auth: auth.local(1, 2, 7770, 7772).pass_in_order(),
])
def test_every_send_path_stops_at_the_last_sequence_number(send: Callable[[Authenticator], object]) -> None:
    """The pair's one sequence rule, whichever way a datagram leaves: 2^64 - 1 is sent, then SequenceExhausted
    (RFC 4303 §3.3.3), and the number does not move past it."""
    auth = Authenticator(bytes(32))
    auth._pair(1, 2).seq = (1 << 64) - 1
    send(auth)
    with pytest.raises(SequenceExhausted):
        send(auth)
    assert auth._pair(1, 2).seq == 1 << 64


def _sealed_as(seq: int, payload: bytes) -> bytes:
    """``payload`` sealed from node 1's port 7770 to node 2's 7772 with sequence number ``seq``."""
    auth = Authenticator(bytes(32))
    auth._pair(1, 2).seq = seq
    return auth.seal(1, 2, 7770, 7772, payload)


def test_seal_local_remembers_a_bounded_number_and_the_forgotten_still_open(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("protocols.security.auth.SEALED_MAX", 2)
    auth = Authenticator(bytes(32))
    wires = [auth.seal_local(1, 2, 7772, 7772, bytes([i])) for i in range(5)]     # lost in flight: forgotten
    assert [auth.open(1, 2, 7772, 7772, wire) for wire in wires] == [bytes([i]) for i in range(5)]


def test_a_tag_proves_the_sender() -> None:
    """Node 3 holding its own keys cannot make a datagram node 2 accepts as node 1's."""
    secret = bytes(range(32))
    genuine = Authenticator(secret).seal(3, 2, 7772, 7772, b"SCHEDULE")
    payload, trailer = split(genuine)
    forged = payload + Trailer(1, 2, trailer.seq, trailer.icv).encode()
    assert Authenticator(secret).open(1, 2, 7772, 7772, forged) is Drop.BAD_TAG


@settings(max_examples=300, deadline=None)
@given(size=st.sampled_from([32, 64, 1024]), seqs=st.lists(st.integers(0, 3000), max_size=200))
def test_window_never_accepts_a_duplicate_and_accepts_fresh_numbers_in_the_window(size: int, seqs: list[int]) -> None:
    window, accepted = ReplayWindow(size), set[int]()
    for seq in seqs:
        fresh = seq > 0 and seq not in accepted and seq > max(accepted, default=0) - size
        assert window.check(seq) == fresh, (seq, sorted(accepted)[-5:])
        if fresh:
            window.accept(seq)
            accepted.add(seq)


@settings(max_examples=100, deadline=None)
@given(order=st.permutations(list(range(1, 200))))
def test_reordering_within_the_window_loses_nothing(order: list[int]) -> None:
    """Every datagram of a burst arrives, reordered by less than the window: all are accepted, once."""
    window = ReplayWindow(1024)
    for seq in order:
        assert window.check(seq)
        window.accept(seq)
    assert not any(window.check(seq) for seq in order)


@settings(max_examples=300, deadline=None)
@given(size=st.sampled_from([32, 64, 1024]), seqs=st.lists(st.integers(0, 3000), max_size=200))
def test_window_take_is_check_then_accept(size: int, seqs: list[int]) -> None:
    taking, checking = ReplayWindow(size), ReplayWindow(size)
    for seq in seqs:
        fresh = checking.check(seq)
        if fresh:
            checking.accept(seq)
        assert taking.take(seq) == fresh
        assert (taking.top, taking.missing) == (checking.top, checking.missing)


def test_window_width_is_checked() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        ReplayWindow(16)
