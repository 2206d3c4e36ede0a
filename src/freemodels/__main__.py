"""`python -m freemodels` is the `freemodels` command."""

from freemodels.cli import entry

entry()
