"""`python -m freemodels` is the `freemodels` command (with the ordinary interpreter exit, so
profilers and coverage run as `python -m ...` still write their data)."""

import sys

from freemodels.cli import main

sys.exit(main())
