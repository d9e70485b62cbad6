"""``python -m asyncbatch``: the command line (see ``asyncbatch.cli``)."""

import sys

from .cli import main

sys.exit(main())
