"""The bare `freemodels` command: the live dashboard."""

from __future__ import annotations

import argparse

from freemodels.errors import FreemodelsError


def run(args: argparse.Namespace) -> int:
    """Open the dashboard (Textual is imported only here)."""
    raise FreemodelsError("the dashboard is not built yet", "try 'freemodels check --demo'")
