"""`freemodels best`."""

from __future__ import annotations

import argparse
from typing import Any

from freemodels.errors import FreemodelsError


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register `best`."""
    parser: argparse.ArgumentParser = sub.add_parser("best", help="(not built yet)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Not built yet."""
    raise FreemodelsError("'best' is not built yet")
