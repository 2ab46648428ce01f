"""``python -m hybridsoa.sdk`` runs the ``hybridsoa`` CLI."""

import sys

from .cli import main

sys.exit(main())
