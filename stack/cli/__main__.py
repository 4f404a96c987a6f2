"""``python -m stack.cli ...`` is the ``qnet`` command."""

import sys

from stack.cli import main

sys.exit(main())
