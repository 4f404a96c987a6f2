"""The qnetstack runtime: kernel, emulated sockets, quantum medium, capture, CLI."""
