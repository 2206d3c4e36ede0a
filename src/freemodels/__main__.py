"""`python -m freemodels` is the `freemodels` command."""

import sys

from freemodels.cli import main

sys.exit(main())
