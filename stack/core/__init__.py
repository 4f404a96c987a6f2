"""The emulator's core: the time-ordered kernel, the emulated datagram network, the layer driver, capture."""
