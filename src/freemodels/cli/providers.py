"""`freemodels providers`."""

from __future__ import annotations

import argparse
from typing import Any

from freemodels.errors import FreemodelsError


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register `providers`."""
    parser: argparse.ArgumentParser = sub.add_parser("providers", help="(not built yet)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Not built yet."""
    raise FreemodelsError("'providers' is not built yet")
