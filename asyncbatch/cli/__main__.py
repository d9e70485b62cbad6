"""``python -m asyncbatch.cli``: the command line (same as ``asyncbatch``)."""

import sys

from . import main

sys.exit(main())
