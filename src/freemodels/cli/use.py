"""`freemodels use`."""

from __future__ import annotations

import argparse
from typing import Any

from freemodels.errors import FreemodelsError


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register `use`."""
    parser: argparse.ArgumentParser = sub.add_parser("use", help="(not built yet)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Not built yet."""
    raise FreemodelsError("'use' is not built yet")
