"""``python -m stack.cli ...`` is the ``qnet`` command."""

from stack.cli import program

program()
