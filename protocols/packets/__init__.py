"""Wire formats: one module per protocol.

Each module holds a precompiled ``struct`` codec, what the runtime uses; its scapy layer (the
reference dissector, fields named as in the specification it follows, ``bind_layers`` at the
bottom) is in :mod:`protocols.packets.scapy_layers`, so the runtime never imports scapy.
``tests/test_packets.py`` proves the two produce the same bytes.
"""
