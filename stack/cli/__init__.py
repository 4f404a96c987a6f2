"""The `qnet` command: run, plot, and the multi-process commands (up, node, medium)."""

from stack.cli.commands import main

__all__ = ["main"]
