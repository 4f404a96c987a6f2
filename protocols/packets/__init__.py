"""Wire formats: one module per protocol.

Each module holds the scapy layer (the reference dissector, fields named as in the
specification it follows, ``bind_layers`` at the bottom) and a precompiled ``struct``
codec producing the same bytes for hot paths. ``tests/test_packets.py`` proves the two
agree.
"""
